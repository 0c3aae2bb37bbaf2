'use strict';
/*
 * What does watching the loop cost? A chain of setImmediate turns (one loop iteration each)
 * is timed with and without uvscope's LoopObserver, and beside two yardsticks built from
 * bench/baseline: an empty libuv prepare+check pair, and one whose callbacks read the clock.
 *
 * Every run is a fresh child process (chain-child.js), so no configuration inherits
 * another's heap or JIT state. Each round runs every configuration once, in an order that
 * rotates from round to round; ratios are taken against the same round's baseline, and the
 * report gives medians across rounds. CPU time is process.cpuUsage() (user + system, all
 * threads of the child) around the measured chain; wall time is process.hrtime.bigint().
 * Children are pinned to one CPU with taskset (see lib/affinity.js for why): by default the
 * CPU that a short baseline probe finds fastest at the start of each round (lib/pinning.js).
 *
 *   node bench/observer.js [--turns N] [--rounds R] [--quick] [--json FILE]
 *                          [--configs a,b,...] [--warmup N] [--drain-every N] [--cpu N|auto|none]
 *                          [--idle-seconds S]
 *
 * Two configurations compare with the stall watchdog issue's targets: datadog
 * (@datadog/native-metrics' loop collection, a prepare+check pair of its own) and stats-watchdog
 * (stats mode with a started StallWatchdog, whose heartbeat the observer's callbacks then beat).
 * After the rounds, children with a started watchdog over an idle loop (idle-child.js) report
 * the watchdog thread's CPU time per minute (/proc/self/task/<tid>, the thread named uvscope-wdog).
 *
 * Each child loads all three addons whatever its configuration (so heap and code size match) and
 * runs a warm-up chain before the measured one. Sanity checks (observer iteration counts,
 * trace event counts, nothing dropped, yardstick callbacks running) fail the whole run loudly.
 */

const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');

const { rotate } = require('../lib/rounds');
const { flag, parseFlags, usageText } = require('../lib/args');
const { runChild } = require('../lib/children');
const { benchMain, requireBuilt } = require('../lib/main');
const { choosePinning, describeRoundPinning, describePinning } = require('../lib/pinning');
const { formatNumber } = require('../lib/table');
const { yardstick } = require('../lib/addons');
const { cpuLoadSnapshot, cpuLoadSince } = require('../lib/cpu-load');
const { TRACE_CAPACITY, CONFIGS, DEFAULT_CONFIGS } = require('./configs');
const { summarizeRuns, compareTargets, report, idleReport } = require('./report');

const CHAIN_CHILD = path.join(__dirname, 'chain-child.js');
const IDLE_CHILD = path.join(__dirname, 'idle-child.js');

const DEFAULTS = { turns: 1_000_000, rounds: 5 };
/** The idle-watchdog section: thresholds measured, and how long each child idles. */
const IDLE_THRESHOLDS_MS = [1000, 100];
const IDLE_DEFAULT_SECONDS = 20;
const IDLE_QUICK_SECONDS = 5;
const QUICK = { turns: 100_000, rounds: 3 };
/** The auto-pinning probe: a short baseline chain on each CPU. */
const PROBE_MAX_TURNS = 100_000;

// ---------------------------------------------------------------------------------------
// Arguments

const FLAGS = {
  '--turns': flag.int('turns', 1, 'N', `setImmediate turns per measured chain (default ${DEFAULTS.turns})`),
  '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every configuration once (default ${DEFAULTS.rounds})`),
  '--quick': flag.on('quick', `smoke test: ${QUICK.turns} turns, ${QUICK.rounds} rounds (explicit flags win)`),
  '--json': flag.string('json', 'FILE', 'also write the raw data (every run) and the summary as JSON'),
  '--configs': flag.list('configs', 'a,b', `configurations to run (default ${DEFAULT_CONFIGS.join(',')});
baseline is always added. Known: ${Object.keys(CONFIGS).join(', ')}`),
  '--warmup': flag.int('warmup', 0, 'N', `warm-up turns before the measured chain (default turns/20, at most
50000, at least 3 drain intervals)`),
  '--drain-every': flag.int('drainEvery', 1, 'N', `trace configs: turns between trace() drains (default: what keeps the
ring buffer at most 2/3 full, rounded down to a multiple of 1000)`),
  '--cpu': flag.cpu('cpu', 'N|auto|none', `pin every child to one CPU with taskset (default auto: the CPU where a
short baseline calibration ran fastest; none: let the scheduler choose)`, { auto: true }),
  '--idle-seconds': flag.int('idleSeconds', 0, 'S', `after the rounds, how long the idle-watchdog children run (default
${IDLE_DEFAULT_SECONDS}, --quick ${IDLE_QUICK_SECONDS}; 0 skips that section)`),
};
const USAGE = usageText('bench/observer.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  if (opts.cpu === undefined) opts.cpu = 'auto';
  const base = opts.quick ? QUICK : DEFAULTS;
  opts.turns ??= base.turns;
  opts.rounds ??= base.rounds;
  opts.idleSeconds ??= opts.quick ? IDLE_QUICK_SECONDS : IDLE_DEFAULT_SECONDS;
  opts.drainEvery ??= defaultDrainEvery();
  // Long enough for trace() to be called (and optimised) a few times before measuring.
  opts.warmup ??= Math.max(Math.min(50_000, Math.floor(opts.turns / 20)), 3 * opts.drainEvery);
  for (const name of opts.configs ?? []) {
    if (!Object.hasOwn(CONFIGS, name)) throw new Error(`unknown configuration ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);
  }
  opts.configs = opts.configs ? ['baseline', ...opts.configs.filter((c) => c !== 'baseline')] : DEFAULT_CONFIGS;
  opts.configs = [...new Set(opts.configs)];
  return opts;
}

/** With markers on, the trace records 4 events per turn: drain before 2/3 of the ring fills. */
function defaultDrainEvery() {
  const turns = Math.floor((TRACE_CAPACITY * 2) / 3 / 4);
  return Math.max(1_000, Math.floor(turns / 1_000) * 1_000);
}

// ---------------------------------------------------------------------------------------
// Runs

function runChain(config, opts, cpu) {
  const { turns, warmup, drainEvery } = opts;
  return runChild(CHAIN_CHILD, { config, turns, warmup, drainEvery }, { cpu, label: config });
}

/** The baseline's CPU ns per turn on `cpu`, over a short chain: what auto-pinning compares. */
async function probe(opts, cpu) {
  const run = await runChain('baseline', { ...opts, turns: Math.min(opts.turns, PROBE_MAX_TURNS), warmup: 5_000 }, cpu);
  return run.cpuNsPerTurn;
}

/**
 * The idle-watchdog children, one per threshold, side by side (they sleep nearly all the
 * time, so running them together does not disturb what each measures). Not pinned.
 */
function measureIdleWatchdog(opts) {
  process.stderr.write(`idle watchdog: ${IDLE_THRESHOLDS_MS.join(' and ')} ms thresholds, ${opts.idleSeconds} s each, side by side\n`);
  return Promise.all(IDLE_THRESHOLDS_MS.map((thresholdMs) =>
    runChild(IDLE_CHILD, { thresholdMs, idleSeconds: opts.idleSeconds }, { label: `watchdog-idle (${thresholdMs} ms)` })));
}

function cpuModel() {
  const cpus = os.cpus();
  return cpus.length ? `${cpus[0].model.trim()} ×${cpus.length}` : 'unknown';
}

/** Is anything else running? Looks for half a second; returns the other processes' CPUs. */
function otherCpusNow() {
  const probeLoad = cpuLoadSnapshot();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  const before = cpuLoadSince(probeLoad);
  return before ? before.otherSeconds / before.wallSeconds : undefined;
}

async function run(opts) {
  const started = Date.now();
  const meta = {
    node: process.version,
    uv: process.versions.uv,
    cpu: cpuModel(),
    loadBefore: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    startedAt: new Date(started).toISOString(),
  };
  // Is anything else running? Look for a moment before starting, and account for the whole run.
  const otherCpusBefore = otherCpusNow();
  if (otherCpusBefore !== undefined) meta.otherCpusBefore = otherCpusBefore;
  if (otherCpusBefore > 0.25) {
    process.stderr.write(`warning: other processes are keeping ${otherCpusBefore.toFixed(2)} of ` +
      `${os.cpus().length} CPUs busy: expect noisy numbers\n`);
  }
  const loadStart = cpuLoadSnapshot();
  yardstick.ensureBuilt();
  requireBuilt();
  const runs = [];
  const pinnings = [];
  const total = opts.rounds * opts.configs.length;
  for (let round = 0; round < opts.rounds; round++) {
    const pinning = await choosePinning(opts.cpu, round, (cpu) => probe(opts, cpu));
    pinnings.push(pinning);
    if (pinning.calibration) {
      process.stderr.write(`round ${round + 1}: ${describeRoundPinning(pinning, 'baseline probe ns/turn')}\n`);
    }
    const order = rotate(opts.configs, round);
    for (const [position, config] of order.entries()) {
      const result = await runChain(config, opts, pinning.cpu);
      result.round = round;
      result.cpu = pinning.cpu;
      result.position = position;
      runs.push(result);
      process.stderr.write(
        `[${runs.length}/${total}] round ${round + 1} ${config.padEnd(15)} ` +
          `${formatNumber(result.cpuNsPerTurn).padStart(6)} cpu ns/turn  ${formatNumber(result.wallNsPerTurn).padStart(6)} wall ns/turn\n`,
      );
    }
  }
  meta.totalMs = Date.now() - started;
  meta.pinnings = pinnings;
  const probeName = `${formatNumber(Math.min(opts.turns, PROBE_MAX_TURNS))}-turn baseline probe (ns/turn)`;
  meta.pinningNote = describePinning(opts.cpu, pinnings, probeName);
  meta.loadAfter = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  meta.machine = cpuLoadSince(loadStart);
  const summary = summarizeRuns(runs, opts);
  const idle = opts.idleSeconds > 0 ? await measureIdleWatchdog(opts) : [];
  process.stdout.write(`${report(summary, runs, opts, meta)}\n`);
  if (idle.length) process.stdout.write(`\n${idleReport(idle, opts)}\n`);
  if (opts.json) {
    const { help, ...options } = opts;
    const targets = compareTargets(summary, runs);
    fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, summary, targets, runs, idleWatchdog: idle }, null, 2)}\n`);
    process.stderr.write(`raw data written to ${opts.json}\n`);
  }
}

benchMain('observer', { parse: parseArgs, usage: USAGE, run });
