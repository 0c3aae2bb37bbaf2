#!/usr/bin/env node
'use strict';
/*
 * What does watching the loop cost? A chain of setImmediate turns (one loop iteration each)
 * is timed with and without uvscope's LoopObserver, and beside two yardsticks built from
 * bench/baseline: an empty libuv prepare+check pair, and one whose callbacks read the clock.
 *
 * Every run is a fresh child process (this file with --child), so no configuration inherits
 * another's heap or JIT state. Each round runs every configuration once, in an order that
 * rotates from round to round; ratios are taken against the same round's baseline, and the
 * report gives medians across rounds. CPU time is process.cpuUsage() (user + system, all
 * threads of the child) around the measured chain; wall time is process.hrtime.bigint().
 * Children are pinned to one CPU with taskset (see lib/affinity.js for why): by default the
 * CPU that a short baseline probe finds fastest at the start of each round.
 *
 *   node bench/observer.js [--turns N] [--rounds R] [--quick] [--json FILE]
 *                          [--configs a,b,...] [--warmup N] [--drain-every N] [--cpu N|auto|none]
 *                          [--idle-seconds S]
 *
 * Two configurations compare with the stall watchdog issue's targets: datadog
 * (@datadog/native-metrics' loop collection, a prepare+check pair of its own) and stats-watchdog
 * (stats mode with a started StallWatchdog, whose heartbeat the observer's callbacks then beat).
 * After the rounds, children with a started watchdog over an idle loop report the watchdog
 * thread's CPU time per minute (/proc/self/task/<tid>, the thread named uvscope-wdog).
 *
 * Each child loads all three addons whatever its configuration (so heap and code size match) and
 * runs a warm-up chain before the measured one. Sanity checks (observer iteration counts,
 * trace event counts, nothing dropped, yardstick callbacks running) fail the whole run loudly.
 */

const { rotate } = require('./lib/rounds');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const statsLib = require('./lib/stats');
const { intArg, eachFlag } = require('./lib/args');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('./lib/table');
const yardstick = require('./lib/yardstick');
const { cpuLoadSnapshot, cpuLoadSince } = require('./lib/cpu-load');
const affinity = require('./lib/affinity');

// ---------------------------------------------------------------------------------------
// Configurations

/** Ring buffer size of the trace configurations. Every loop iteration records 2 events
 *  (prepare, check), 4 with phase markers (timers and close too). */
const TRACE_CAPACITY = 65536;

const CONFIGS = {
  baseline: { about: 'no observer' },
  empty: { about: 'yardstick: empty prepare+check pair, unref', reference: '1.04' },
  clock2: { about: 'yardstick: prepare+check, each stores uv_hrtime()', reference: '1.09-1.10' },
  stats: { about: 'LoopObserver stats mode (traceCapacity 0, no listeners)', target: 1.07 },
  trace: { about: `LoopObserver traceCapacity ${TRACE_CAPACITY}, trace() drained`, target: 1.2 },
  'trace-markers': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY} + phaseMarkers, trace() drained` },
  'trace-columns': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY}, traceColumns() drained (typed arrays)`, target: 1.2 },
  'trace-columns-markers': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY} + phaseMarkers, traceColumns() drained (as uvscope trace)` },
  listener: { about: "LoopObserver + on('check', () => {})" },
  datadog: {
    about: "@datadog/native-metrics start('loop'): its own prepare+check pair (clock reads, backend timeout, histogram)",
  },
  'stats-watchdog': { about: 'stats mode + a started StallWatchdog({ thresholdMs: 1000, stacks: false })' },
  // Diagnostics, run only when named in --configs: they split the observer's cost apart.
  markers: { about: 'diag: stats mode + phaseMarkers: true', diagnostic: true },
  eld: {
    about: 'perf_hooks.monitorEventLoopDelay({ samplePerIteration: true }) (Node 24+; run this script with that node)',
    diagnostic: true,
  },
  'trace-nodrain': { about: `diag: traceCapacity ${TRACE_CAPACITY}, never drained (ring overwrites)`, diagnostic: true },
};
const DEFAULT_CONFIGS = Object.keys(CONFIGS).filter((name) => !CONFIGS[name].diagnostic);

const DEFAULTS = { turns: 1_000_000, rounds: 5 };
/** The idle-watchdog section: thresholds measured, and how long each child idles. */
const IDLE_THRESHOLDS_MS = [1000, 100];
const IDLE_DEFAULT_SECONDS = 20;
const IDLE_QUICK_SECONDS = 5;
const QUICK = { turns: 100_000, rounds: 3 };

// ---------------------------------------------------------------------------------------
// Arguments

function usage() {
  return `usage: node bench/observer.js [options]
  --turns N          setImmediate turns per measured chain (default ${DEFAULTS.turns})
  --rounds R         rounds; each runs every configuration once (default ${DEFAULTS.rounds})
  --quick            smoke test: ${QUICK.turns} turns, ${QUICK.rounds} rounds (explicit flags win)
  --json FILE        also write the raw data (every run) and the summary as JSON
  --configs a,b      configurations to run (default ${DEFAULT_CONFIGS.join(',')});
                     baseline is always added. Known: ${Object.keys(CONFIGS).join(', ')}
  --warmup N         warm-up turns before the measured chain (default turns/20, at most
                     50000, at least 3 drain intervals)
  --drain-every N    trace configs: turns between trace() drains (default: what keeps the
                     ring buffer at most 2/3 full, rounded down to a multiple of 1000)
  --cpu N|auto|none  pin every child to one CPU with taskset (default auto: the CPU where a
                     short baseline calibration ran fastest; none: let the scheduler choose)
  --idle-seconds S   after the rounds, how long the idle-watchdog children run (default
                     ${IDLE_DEFAULT_SECONDS}, --quick ${IDLE_QUICK_SECONDS}; 0 skips that section)
  --help`;
}

function parseArgs(argv) {
  const opts = {};
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--turns': opts.turns = intArg(flag, value(), 1); break;
      case '--rounds': opts.rounds = intArg(flag, value(), 1); break;
      case '--warmup': opts.warmup = intArg(flag, value(), 0); break;
      case '--drain-every': opts.drainEvery = intArg(flag, value(), 1); break;
      case '--quick': opts.quick = true; break;
      case '--idle-seconds': opts.idleSeconds = intArg(flag, value(), 0); break;
      case '--threshold-ms': opts.thresholdMs = intArg(flag, value(), 10); break;
      case '--json': opts.json = value(); break;
      case '--configs': opts.configs = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--child': opts.child = value(); break;
      case '--cpu': {
        const v = value();
        opts.cpu = v === 'auto' || v === 'none' ? v : intArg(flag, v, 0);
        break;
      }
      case '--help': case '-h': opts.help = true; break;
      default: throw new Error(`unknown argument ${arg}\n${usage()}`);
    }
  });
  opts.cpu ??= 'auto';
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
// Child: one configuration, one measured chain, one JSON line on stdout.

/**
 * Runs `turns` setImmediate turns: each callback schedules the next, so each turn is one
 * loop iteration. Every `every` turns (counting down) it calls hook(). Resolves with the
 * CPU and wall time of the whole chain, taken synchronously in the last turn.
 */
function runChain(turns, every, hook) {
  return new Promise((resolve) => {
    let left = turns;
    let cpu0;
    let wall0;
    let ru0;
    function step() {
      if (--left % every === 0) {
        if (left === 0) {
          const wallNs = process.hrtime.bigint() - wall0;
          const cpu = process.cpuUsage(cpu0);
          const ru = process.resourceUsage();
          resolve({
            wallNs: Number(wallNs),
            userUs: cpu.user,
            systemUs: cpu.system,
            voluntaryCtxSw: ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches,
            involuntaryCtxSw: ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
            minorFaults: ru.minorPageFault - ru0.minorPageFault,
            startNs: wall0,
          });
          return;
        }
        hook();
      }
      setImmediate(step);
    }
    ru0 = process.resourceUsage();
    cpu0 = process.cpuUsage();
    wall0 = process.hrtime.bigint();
    setImmediate(step);
  });
}

function fail(message) {
  throw new Error(`sanity check failed: ${message}`);
}

async function runChild(config, opts) {
  // Both addons load in every configuration, baseline included, so every child carries the
  // same code; only the configuration decides which loop watchers exist.
  const { LoopObserver, StallWatchdog } = require('../lib');
  const watchers = yardstick.load();
  // The comparison's addon loads everywhere too; loading it initialises its (stopped) handles.
  const ddMetrics = require('@datadog/native-metrics');
  let ddStarted = false;
  let watchdog = null;
  const { turns, warmup, drainEvery } = opts;
  const extra = {};
  let observer = null;
  let hook = () => {};
  let markers = false;
  let eldHistogram = null;

  // Trace bookkeeping: events counted per phase (a switch on the interned phase strings, so
  // counting stays cheap); the CPU time of trace() itself, converting the native buffer into
  // PhaseEvent objects, is measured on its own.
  const phases = { idle: 0, prepare: 0, check: 0, timers: 0, close: 0, other: 0 };
  const drain = { calls: 0, events: 0, cpuUs: 0, wallNs: 0 };
  const countEvents = (events) => {
    for (let i = 0; i < events.length; i++) {
      switch (events[i].phase) {
        case 'prepare': phases.prepare++; break;
        case 'check': phases.check++; break;
        case 'timers': phases.timers++; break;
        case 'close': phases.close++; break;
        case 'idle': phases.idle++; break;
        default: phases.other++;
      }
    }
    drain.events += events.length;
  };
  // traceColumns(): counted from the phase codes (4 prepare, 6 check, 1 timers, 7 close, 3 idle).
  const CODE_NAMES = { 1: 'timers', 3: 'idle', 4: 'prepare', 6: 'check', 7: 'close' };
  const countColumns = (columns) => {
    const codes = columns.phases;
    for (let i = 0; i < codes.length; i++) phases[CODE_NAMES[codes[i]] ?? 'other']++;
    drain.events += codes.length;
  };
  let columns = false;
  const drainOnce = () => (columns ? countColumns(observer.traceColumns()) : countEvents(observer.trace()));
  const drainHook = () => {
    const c0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    const drained = columns ? observer.traceColumns() : observer.trace();
    drain.wallNs += Number(process.hrtime.bigint() - w0);
    const c = process.cpuUsage(c0);
    drain.cpuUs += c.user + c.system;
    drain.calls++;
    if (columns) countColumns(drained);
    else countEvents(drained);
  };

  switch (config) {
    case 'baseline':
      break;
    case 'empty':
      watchers.start('empty');
      break;
    case 'clock2':
      watchers.start('clock');
      break;
    case 'stats':
      observer = new LoopObserver({ traceCapacity: 0 }).start();
      break;
    case 'datadog':
      // start() with no argument also installs V8 GC callbacks; 'loop' enables only its loop
      // watchers (a prepare+check pair), which is what compares with the observer.
      ddMetrics.start('loop');
      ddStarted = true;
      break;
    case 'stats-watchdog':
      observer = new LoopObserver({ traceCapacity: 0 }).start();
      watchdog = new StallWatchdog({ thresholdMs: 1000, stacks: false }).start();
      break;
    case 'markers':
      observer = new LoopObserver({ traceCapacity: 0, phaseMarkers: true }).start();
      markers = true;
      break;
    case 'trace':
      observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY }).start();
      hook = drainHook;
      break;
    case 'trace-markers':
      observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY, phaseMarkers: true }).start();
      markers = true;
      hook = drainHook;
      break;
    case 'trace-columns':
      observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY }).start();
      columns = true;
      hook = drainHook;
      break;
    case 'trace-columns-markers':
      observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY, phaseMarkers: true }).start();
      markers = true;
      columns = true;
      hook = drainHook;
      break;
    case 'trace-nodrain':
      // Recording alone: nothing is drained, the ring overwrites its oldest entries.
      observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY }).start();
      break;
    case 'eld': {
      // Node's own per-iteration sampler, the built-in uvscope's stats mode is compared with.
      const [major] = process.versions.node.split('.').map(Number);
      if (major < 24) fail(`eld: monitorEventLoopDelay({ samplePerIteration }) needs Node 24+, this is ${process.version}`);
      const { monitorEventLoopDelay } = require('node:perf_hooks');
      const histogram = monitorEventLoopDelay({ samplePerIteration: true });
      histogram.enable();
      eldHistogram = histogram;
      break;
    }
    case 'listener': {
      observer = new LoopObserver().start();
      // First prove that a check listener is called once per turn, then measure the empty one.
      let calls = 0;
      const counting = () => calls++;
      observer.on('check', counting);
      await runChain(200, 1e9, () => {});
      observer.off('check', counting);
      if (calls < 199) fail(`a 'check' listener ran ${calls} times in 200 turns`);
      extra.probeCalls = calls;
      observer.on('check', () => {});
      break;
    }
    default:
      throw new Error(`unknown configuration ${config}`);
  }

  // Warm-up: same chain, same code path, so the measured chain runs optimised code. The
  // observer's window and trace are then reset so they describe the measured chain only.
  if (warmup > 0) await runChain(warmup, drainEvery, hook);
  if (eldHistogram) eldHistogram.reset();
  if (ddStarted) ddMetrics.stats(); // stats() resets its histogram: count the measured chain only
  if (observer) {
    observer.trace(); // discard warm-up events (reset() clears them too)
    observer.reset();
    for (const key of Object.keys(phases)) phases[key] = 0;
    Object.assign(drain, { calls: 0, events: 0, cpuUs: 0, wallNs: 0 });
  }

  const run = await runChain(turns, drainEvery, hook);

  // Sanity, outside the measured chain.
  if (eldHistogram) {
    eldHistogram.disable();
    // One sample per iteration, or samplePerIteration was not honoured.
    if (Math.abs(eldHistogram.count - turns) > Math.max(100, turns / 100)) {
      fail(`eld: ${eldHistogram.count} samples for ${turns} turns: samplePerIteration not in effect`);
    }
    extra.eldSamples = eldHistogram.count;
    extra.eldP50Ns = eldHistogram.percentile(50);
  }
  if (observer) {
    const s = observer.stats();
    extra.iterations = s.iterations;
    extra.loopCount = s.loopCount;
    // Where each turn's time went, by the observer's own account (medians, ns).
    extra.observed = {
      iterationP50: s.iteration.p50,
      pollWorkP50: s.pollWork.p50,
      pollWaitP50: s.pollWait.p50,
      outsidePollP50: s.outsidePoll.p50,
      iterationMean: s.iteration.mean,
    };
    if (!(s.iterations >= turns)) fail(`${config}: stats().iterations = ${s.iterations} < turns = ${turns}`);
    if (s.iterations > turns + Math.max(100, turns / 100)) {
      fail(`${config}: stats().iterations = ${s.iterations}, far more than the ${turns} turns`);
    }
    if (config === 'listener' && observer.listenerCount('check') !== 1) fail('listener: the check listener is gone');
  }
  if (hook === drainHook) {
    const dropped = observer.traceDropped;
    if (dropped !== 0) fail(`${config}: ${dropped} trace events dropped (drain more often: --drain-every)`);
    drainOnce(); // the rest, untimed
    const perTurn = markers ? ['prepare', 'check', 'timers', 'close'] : ['prepare', 'check'];
    for (const phase of Object.keys(phases)) {
      const expected = perTurn.includes(phase) ? turns : 0;
      if (Math.abs(phases[phase] - expected) > 2) {
        fail(`${config}: ${phases[phase]} '${phase}' trace events for ${turns} turns (expected ${expected} ± 2)`);
      }
    }
    extra.traceEvents = drain.events;
    extra.tracePhases = { ...phases };
    extra.traceDropped = dropped;
    extra.drain = { ...drain };
  }
  if (config === 'trace-nodrain') {
    const s = observer.stats();
    const recorded = s.trace.buffered + s.trace.dropped;
    if (s.trace.buffered !== TRACE_CAPACITY || Math.abs(recorded - 4 * turns) > 8) {
      fail(`trace-nodrain: ${recorded} events recorded for ${turns} turns (expected ${4 * turns} ± 8)`);
    }
    extra.traceEvents = recorded;
    extra.traceDropped = s.trace.dropped;
  }
  if (ddStarted) {
    const loop = ddMetrics.stats().eventLoop;
    ddMetrics.stop();
    // One histogram entry per check callback, i.e. per iteration.
    if (!(Math.abs(loop.count - turns) <= Math.max(100, turns / 100))) {
      fail(`datadog: its loop histogram counted ${loop.count} iterations for ${turns} turns`);
    }
    extra.datadogCount = loop.count;
  }
  if (watchdog) {
    const w = watchdog.stats();
    if (!watchdog.running) fail('stats-watchdog: the watchdog is not running');
    // A 1 s stall during a chain of setImmediate turns would mean the measurement is broken.
    if (w.stalls !== 0) fail(`stats-watchdog: the watchdog saw ${w.stalls} stall(s) during the chain`);
    extra.watchdogStalls = w.stalls;
    watchdog.close();
  }
  if (config === 'empty' || config === 'clock2') {
    if (!watchers.active()) fail(`${config}: the yardstick's watchers are not active`);
    if (config === 'clock2' && !(watchers.sink() >= run.startNs)) {
      fail('clock2: the yardstick clock callbacks did not run during the chain');
    }
  }

  if (observer) observer.close();
  watchers.stop();
  const { startNs, ...timing } = run;
  const cpuNs = (timing.userUs + timing.systemUs) * 1000;
  return {
    config,
    turns,
    warmup,
    ...timing,
    cpuNs,
    cpuNsPerTurn: cpuNs / turns,
    wallNsPerTurn: timing.wallNs / turns,
    maxRssKb: process.resourceUsage().maxRSS,
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------
// Child: a started watchdog over an idle loop; what its thread costs.

/**
 * The watchdog thread's CPU time from /proc: utime+stime (clock ticks, 10 ms each) from
 * task/<tid>/stat, run time in ns from task/<tid>/schedstat (finer; absent without
 * CONFIG_SCHEDSTATS) and its voluntary context switches (one per wake-up) from task/<tid>/status.
 */
function readThread(tid) {
  const dir = `/proc/self/task/${tid}`;
  const stat = fs.readFileSync(`${dir}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15
  let runNs = null;
  try {
    runNs = Number(fs.readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]);
  } catch {}
  const status = fs.readFileSync(`${dir}/status`, 'utf8');
  const wakeups = Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? NaN);
  return { ticks, runNs, wakeups, at: process.hrtime.bigint() };
}

/** Thread ids of this process whose comm (task/<tid>/comm) is `name`. */
function threadsNamed(name) {
  return fs.readdirSync('/proc/self/task').filter((tid) => {
    try {
      return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name;
    } catch {
      return false; // the thread ended meanwhile
    }
  });
}

async function runIdleWatchdogChild(opts) {
  const { StallWatchdog } = require('../lib');
  const watchdog = new StallWatchdog({ thresholdMs: opts.thresholdMs, stacks: false }).start();
  // Let start-up settle (module loading, the first heartbeat) before the idle stretch; the
  // thread names itself once it runs, so look for it after that.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const tids = threadsNamed('uvscope-wdog');
  if (tids.length !== 1) fail(`expected one uvscope-wdog thread, found ${tids.length}`);
  const [tid] = tids;
  const before = readThread(tid);
  const process0 = process.cpuUsage();
  // One long ref'd timer: the loop sleeps in epoll the whole time and never turns.
  await new Promise((resolve) => setTimeout(resolve, opts.idleSeconds * 1000));
  const after = readThread(tid);
  const processCpu = process.cpuUsage(process0);
  const w = watchdog.stats();
  watchdog.close();
  if (w.stalls !== 0) fail(`idle watchdog: ${w.stalls} stall(s) reported over an idle loop`);
  const minutes = Number(after.at - before.at) / 60e9;
  return {
    config: 'watchdog-idle',
    thresholdMs: opts.thresholdMs,
    seconds: minutes * 60,
    cpuMsPerMinTicks: ((after.ticks - before.ticks) * 10) / minutes,
    cpuMsPerMinSchedstat: after.runNs === null ? null : (after.runNs - before.runNs) / 1e6 / minutes,
    wakeupsPerMin: (after.wakeups - before.wakeups) / minutes,
    processCpuMsPerMin: (processCpu.user + processCpu.system) / 1000 / minutes,
    stalls: w.stalls,
  };
}

// ---------------------------------------------------------------------------------------
// Parent: rounds of fresh children, then the report.

function spawnChild(config, opts, cpu) {
  const args = [
    __filename,
    '--child', config,
    '--turns', String(opts.turns),
    '--warmup', String(opts.warmup),
    '--drain-every', String(opts.drainEvery),
  ];
  const [command, commandArgs] = affinity.nodeCommand(cpu, args);
  const result = spawnSync(command, commandArgs, {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  const lines = result.stdout.trim().split('\n');
  const last = lines[lines.length - 1];
  if (result.status !== 0 || !last.startsWith('{')) {
    throw new Error(
      `the ${config} child failed (exit ${result.status}, signal ${result.signal})` +
        (result.stdout.trim() ? `; its stdout:\n${result.stdout.trim()}` : ''),
    );
  }
  return JSON.parse(last);
}

/**
 * Which CPU to pin this round's children to: the one given (--cpu N), none, or (auto) the CPU
 * on which a short baseline run is fastest right now. Auto re-decides every round because a
 * vCPU's speed changes over minutes on these VMs. Returns { cpu, calibration, spread }.
 */
function choosePinning(opts, round) {
  if (opts.cpu === 'none' || !affinity.hasTaskset()) return { cpu: null };
  if (opts.cpu !== 'auto') {
    if (!affinity.canPin(opts.cpu)) throw new Error(`cannot pin to CPU ${opts.cpu} (taskset -c ${opts.cpu} failed)`);
    return { cpu: opts.cpu };
  }
  const cpus = affinity.cpuList().filter((cpu) => affinity.canPin(cpu));
  if (cpus.length < 2) return { cpu: cpus[0] ?? null };
  const probe = { ...opts, turns: Math.min(opts.turns, 100_000), warmup: 5_000 };
  const calibration = {};
  for (const cpu of round % 2 ? [...cpus].reverse() : cpus) {
    calibration[cpu] = spawnChild('baseline', probe, cpu).cpuNsPerTurn;
  }
  const ranked = Object.entries(calibration).sort((a, b) => a[1] - b[1]);
  return {
    cpu: Number(ranked[0][0]),
    calibration,
    spread: ranked[ranked.length - 1][1] / ranked[0][1],
  };
}

function describePinning(opts, pinnings) {
  if (opts.cpu === 'none') return 'children not pinned to a CPU (--cpu none)';
  if (pinnings.every((p) => p.cpu === null)) return 'children not pinned to a CPU (no taskset here)';
  if (opts.cpu !== 'auto') return `children pinned to CPU ${opts.cpu} (--cpu)`;
  const perRound = pinnings.map((p, i) => {
    const cal = Object.entries(p.calibration ?? {}).map(([c, ns]) => `${c}:${formatNumber(ns)}`).join('/');
    return `r${i + 1} cpu${p.cpu} (${cal})`;
  });
  const probeTurns = formatNumber(Math.min(opts.turns, 100_000));
  return `children pinned each round to the CPU fastest in a ${probeTurns}-turn baseline probe (ns/turn): ${perRound.join(', ')}`;
}

/**
 * The idle-watchdog children, one per threshold, side by side (they sleep nearly all the
 * time, so running them together does not disturb what each measures).
 */
async function measureIdleWatchdog(opts) {
  const { spawn } = require('node:child_process');
  process.stderr.write(`idle watchdog: ${IDLE_THRESHOLDS_MS.join(' and ')} ms thresholds, ${opts.idleSeconds} s each, side by side\n`);
  const one = (thresholdMs) => new Promise((resolve, reject) => {
    const args = [__filename, '--child', 'watchdog-idle', '--threshold-ms', String(thresholdMs),
      '--idle-seconds', String(opts.idleSeconds)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => { out += chunk; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`the watchdog-idle child (${thresholdMs} ms) failed (exit ${code}, signal ${signal})`));
      } else {
        resolve(JSON.parse(last));
      }
    });
  });
  return Promise.all(IDLE_THRESHOLDS_MS.map(one));
}

function idleReport(idle, opts) {
  const out = [];
  out.push(`StallWatchdog thread (uvscope-wdog) over an idle loop (one ${opts.idleSeconds} s ref'd timer), per minute:`);
  const rows = idle.map((r) => [
    `${r.thresholdMs} ms`,
    r.cpuMsPerMinSchedstat === null ? 'n/a' : r.cpuMsPerMinSchedstat.toFixed(2),
    r.cpuMsPerMinTicks.toFixed(0),
    formatNumber(r.wakeupsPerMin),
    r.processCpuMsPerMin.toFixed(1),
  ]);
  out.push(renderTable(['threshold', 'CPU ms/min (schedstat)', 'utime+stime ms/min', 'wake-ups/min', 'whole process CPU ms/min'], rows));
  out.push('schedstat = the thread\'s run time in ns from /proc/self/task/<tid>/schedstat; utime+stime from its stat file');
  out.push(`counts 10 ms clock ticks, so over ${opts.idleSeconds} s its resolution is ${(600 / opts.idleSeconds).toFixed(0)} ms/min. wake-ups = voluntary context switches.`);
  return out.join('\n');
}


function cpuModel() {
  const cpus = os.cpus();
  return cpus.length ? `${cpus[0].model.trim()} ×${cpus.length}` : 'unknown';
}

function summarizeRuns(runs, opts) {
  const byRound = new Map();
  for (const run of runs) {
    if (!byRound.has(run.round)) byRound.set(run.round, {});
    byRound.get(run.round)[run.config] = run;
  }
  const baseCpu = statsLib.median(runs.filter((r) => r.config === 'baseline').map((r) => r.cpuNsPerTurn));
  const baseWall = statsLib.median(runs.filter((r) => r.config === 'baseline').map((r) => r.wallNsPerTurn));
  return opts.configs.map((config) => {
    const mine = runs.filter((r) => r.config === config);
    const cpu = mine.map((r) => r.cpuNsPerTurn);
    const wall = mine.map((r) => r.wallNsPerTurn);
    const ratios = mine.map((r) => r.cpuNsPerTurn / byRound.get(r.round).baseline.cpuNsPerTurn);
    const wallRatios = mine.map((r) => r.wallNsPerTurn / byRound.get(r.round).baseline.wallNsPerTurn);
    const cpuMedian = statsLib.median(cpu);
    const { target, reference, about } = CONFIGS[config];
    const entry = {
      config,
      about,
      rounds: mine.length,
      cpuNsPerTurn: statsLib.summarize(cpu),
      wallNsPerTurn: statsLib.summarize(wall),
      extraCpuNsPerTurn: cpuMedian - baseCpu,
      ratio: {
        medianOfRoundRatios: statsLib.median(ratios),
        ofMedians: cpuMedian / baseCpu,
        // Noise on a shared machine only ever adds CPU time: the fastest runs are the least
        // disturbed, so the ratio of the minima is a useful cross-check of the medians.
        ofMinima: statsLib.min(cpu) / statsLib.min(runs.filter((r) => r.config === 'baseline').map((r) => r.cpuNsPerTurn)),
        min: statsLib.min(ratios),
        max: statsLib.max(ratios),
        perRound: ratios,
      },
      wallRatio: { medianOfRoundRatios: statsLib.median(wallRatios), ofMedians: statsLib.median(wall) / baseWall },
      involuntaryCtxSwMedian: statsLib.median(mine.map((r) => r.involuntaryCtxSw)),
    };
    if (target !== undefined) {
      entry.target = target;
      entry.roundsWithinTarget = ratios.filter((r) => r <= target).length;
      entry.meetsTarget = entry.ratio.ofMedians <= target;
    }
    if (reference !== undefined) entry.reference = reference;
    const drains = mine.filter((r) => r.drain);
    if (drains.length) {
      entry.drainCpuNsPerTurn = statsLib.median(drains.map((r) => (r.drain.cpuUs * 1000) / r.turns));
      entry.traceEventsPerTurn = statsLib.median(drains.map((r) => r.traceEvents / r.turns));
      // The same ratio with the CPU time spent inside trace() calls taken out. Not quite
      // "recording alone": garbage collection of the events trace() created partly runs
      // later, outside the calls (the trace-nodrain diagnostic measures recording alone).
      entry.ratioWithoutDrain = statsLib.median(
        drains.map((r) => (r.cpuNsPerTurn - (r.drain.cpuUs * 1000) / r.turns) / byRound.get(r.round).baseline.cpuNsPerTurn),
      );
    }
    return entry;
  });
}

/**
 * The stall watchdog issue's targets, from per-round differences of ratios (each ratio against
 * that round's baseline): stats <= datadog, and stats-watchdog - stats <= 0.01.
 */
function compareTargets(summary, runs) {
  const ratioOf = (config, round) => {
    const base = runs.find((r) => r.round === round && r.config === 'baseline');
    const run = runs.find((r) => r.round === round && r.config === config);
    return run && base ? run.cpuNsPerTurn / base.cpuNsPerTurn : NaN;
  };
  const rounds = [...new Set(runs.map((r) => r.round))];
  const has = (config) => summary.some((s) => s.config === config);
  const targets = [];
  const target = (name, a, b, limit) => {
    if (!has(a) || !has(b)) return;
    const diffs = rounds.map((round) => ratioOf(a, round) - ratioOf(b, round));
    const median = statsLib.median(diffs);
    targets.push({
      name, a, b, limit,
      medianDiff: median,
      min: statsLib.min(diffs),
      max: statsLib.max(diffs),
      roundsMet: diffs.filter((d) => d <= limit).length,
      rounds: diffs.length,
      pass: median <= limit,
    });
  };
  target('stats <= datadog', 'stats', 'datadog', 0);
  target('stats-watchdog - stats <= 0.01', 'stats-watchdog', 'stats', 0.01);
  return targets;
}

function watchdogTargetLines(summary, runs) {
  const targets = compareTargets(summary, runs);
  if (!targets.length) return [];
  const sign = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  return [
    'Targets (stall watchdog issue), per-round ratio differences (a - b, each ratio vs that round\'s baseline):',
    ...targets.map((t) => `  ${t.name.padEnd(32)} ${t.a} - ${t.b}: median ${sign(t.medianDiff)} ` +
      `(range ${sign(t.min)} to ${sign(t.max)}; ${t.roundsMet}/${t.rounds} rounds within) ${t.pass ? 'PASS' : 'FAIL'}`),
  ];
}

function report(summary, runs, opts, meta) {
  const out = [];
  out.push(`uvscope LoopObserver overhead: ${formatNumber(opts.turns)} setImmediate turns per run, ` +
    `${opts.rounds} round(s), fresh child per run, warm-up ${formatNumber(opts.warmup)} turns`);
  out.push(`node ${meta.node}, libuv ${meta.uv}, ${meta.cpu}; load average ${meta.loadBefore} before, ${meta.loadAfter} after`);
  out.push(meta.pinningNote);
  out.push('');
  const headers = ['config', 'cpu ns/turn', 'wall ns/turn', '+cpu ns', 'ratio (med)', 'ratio of med', 'range', 'of min', 'target/ref', 'verdict'];
  const rows = summary.map((s) => {
    const isBase = s.config === 'baseline';
    let targetText = '';
    let verdict = '';
    if (s.target !== undefined) {
      targetText = `≤ ${s.target.toFixed(2)}×`;
      verdict = `${s.meetsTarget ? 'meets' : 'OVER'} (${s.roundsWithinTarget}/${s.rounds} rounds ≤)`;
    } else if (s.reference !== undefined) {
      targetText = `ref ${s.reference}`;
    }
    return [
      s.config,
      formatNumber(s.cpuNsPerTurn.median),
      formatNumber(s.wallNsPerTurn.median),
      isBase ? '' : formatNumber(s.extraCpuNsPerTurn),
      isBase ? '' : formatRatio(s.ratio.medianOfRoundRatios),
      isBase ? '' : formatRatio(s.ratio.ofMedians),
      isBase ? '' : `${s.ratio.min.toFixed(3)}-${s.ratio.max.toFixed(3)}`,
      isBase ? '' : formatRatio(s.ratio.ofMinima),
      targetText,
      verdict,
    ];
  });
  out.push(renderTable(headers, rows));
  out.push('');
  for (const s of summary) out.push(`  ${s.config.padEnd(16)} ${s.about}`);
  out.push('');
  out.push('cpu = process.cpuUsage() user+system of the child around the chain; medians across rounds.');
  out.push('ratio (med) = median of per-round ratios to that round\'s baseline; ratio of med = median cpu / median baseline cpu;');
  out.push('range = lowest-highest per-round ratio; of min = fastest run / fastest baseline run (least disturbed by other');
  out.push('processes); +cpu ns = median cpu minus median baseline cpu, per turn. Verdicts use the ratio of medians.');
  out.push('Targets (issue): stats ≤ 1.07×, trace ≤ 1.20×. Reference figures measured elsewhere: empty 1.04×, clock pair 1.09-1.10×.');

  out.push(...watchdogTargetLines(summary, runs));

  const traced = summary.filter((s) => s.drainCpuNsPerTurn !== undefined);
  for (const s of traced) {
    out.push(`${s.config}: ${s.traceEventsPerTurn} events/turn, none dropped; trace() drains every ` +
      `${formatNumber(opts.drainEvery)} turns: the trace() calls took ${formatNumber(s.drainCpuNsPerTurn)} cpu ns/turn ` +
      `(${formatRatio(s.ratioWithoutDrain)} without them, GC they cause later still included).`);
  }
  out.push('');
  out.push('per round, cpu ns/turn (ratio to that round\'s baseline); run order rotates each round:');
  const rounds = [...new Set(runs.map((r) => r.round))];
  const roundRows = rounds.map((round) => {
    const mine = runs.filter((r) => r.round === round);
    const base = mine.find((r) => r.config === 'baseline');
    return [
      String(round + 1),
      base.cpu ?? '-',
      ...opts.configs.map((config) => {
        const r = mine.find((x) => x.config === config);
        return config === 'baseline'
          ? formatNumber(r.cpuNsPerTurn)
          : `${formatNumber(r.cpuNsPerTurn)} (${(r.cpuNsPerTurn / base.cpuNsPerTurn).toFixed(3)})`;
      }),
    ];
  });
  out.push(renderTable(['round', 'cpu', ...opts.configs], roundRows));
  out.push('');
  out.push(`total runtime ${formatDuration(meta.totalMs)} (${runs.length} child runs)`);
  if (meta.machine) {
    const m = meta.machine;
    out.push(`other processes used ${m.otherSeconds.toFixed(1)} CPU-s during the run ` +
      `(${(m.otherSeconds / m.wallSeconds).toFixed(2)} CPUs on average of ${os.cpus().length}; ` +
      `${(meta.otherCpusBefore ?? 0).toFixed(2)} just before), hypervisor steal ${m.stealSeconds.toFixed(1)} s` +
      (m.otherSeconds / m.wallSeconds > 0.1 ? ': the machine was not quiet, treat ratios with care' : ''));
  }
  return out.join('\n');
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (opts.child) {
    const work = opts.child === 'watchdog-idle' ? runIdleWatchdogChild(opts) : runChild(opts.child, opts);
    work.then(
      (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
      (error) => {
        process.stderr.write(`[${opts.child}] ${error.stack || error}\n`);
        process.exitCode = 1;
      },
    );
    return;
  }

  const started = Date.now();
  const meta = {
    node: process.version,
    uv: process.versions.uv,
    cpu: cpuModel(),
    loadBefore: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    startedAt: new Date(started).toISOString(),
  };
  // Is anything else running? Look for a moment before starting, and account for the whole run.
  const probe = cpuLoadSnapshot();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  const before = cpuLoadSince(probe);
  if (before) meta.otherCpusBefore = before.otherSeconds / before.wallSeconds;
  if (before && meta.otherCpusBefore > 0.25) {
    process.stderr.write(`warning: other processes are keeping ${meta.otherCpusBefore.toFixed(2)} of ` +
      `${os.cpus().length} CPUs busy: expect noisy numbers\n`);
  }
  const loadStart = cpuLoadSnapshot();
  try {
    yardstick.ensureBuilt();
    if (!fs.existsSync(path.resolve(__dirname, '..', 'lib', 'index.js'))) {
      throw new Error('lib/index.js is missing: build uvscope first (npm run build, and node-gyp rebuild)');
    }
    const runs = [];
    const pinnings = [];
    const total = opts.rounds * opts.configs.length;
    for (let round = 0; round < opts.rounds; round++) {
      const pinning = choosePinning(opts, round);
      pinnings.push(pinning);
      if (pinning.calibration) {
        const cal = Object.entries(pinning.calibration).map(([c, ns]) => `cpu${c} ${formatNumber(ns)}`).join(', ');
        process.stderr.write(`round ${round + 1}: pinned to CPU ${pinning.cpu} (baseline probe ns/turn: ${cal})` +
          (pinning.spread > 1.1 ? `; the CPUs differ by ${((pinning.spread - 1) * 100).toFixed(0)}% right now` : '') + '\n');
      }
      const order = rotate(opts.configs, round);
      for (const config of order) {
        const run = spawnChild(config, opts, pinning.cpu);
        run.round = round;
        run.cpu = pinning.cpu;
        run.position = order.indexOf(config);
        runs.push(run);
        process.stderr.write(
          `[${runs.length}/${total}] round ${round + 1} ${config.padEnd(15)} ` +
            `${formatNumber(run.cpuNsPerTurn).padStart(6)} cpu ns/turn  ${formatNumber(run.wallNsPerTurn).padStart(6)} wall ns/turn\n`,
        );
      }
    }
    meta.totalMs = Date.now() - started;
    meta.pinnings = pinnings;
    meta.pinningNote = describePinning(opts, pinnings);
    meta.loadAfter = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    meta.machine = cpuLoadSince(loadStart);
    const summary = summarizeRuns(runs, opts);
    const idle = opts.idleSeconds > 0 ? await measureIdleWatchdog(opts) : [];
    process.stdout.write(`${report(summary, runs, opts, meta)}\n`);
    if (idle.length) process.stdout.write(`\n${idleReport(idle, opts)}\n`);
    if (opts.json) {
      const { child, help, ...options } = opts;
      const targets = compareTargets(summary, runs);
      fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, summary, targets, runs, idleWatchdog: idle }, null, 2)}\n`);
      process.stderr.write(`raw data written to ${opts.json}\n`);
    }
  } catch (error) {
    process.stderr.write(`bench/observer.js: ${error.message}\n`);
    process.exitCode = 1;
  }
}

main();
