'use strict';
/*
 * Whose request was the loop blocked for, was it computing or waiting, and how soon is it said:
 * uvscope's StallWatchdog beside Sentry's @sentry-internal/node-native-stacktrace (in the
 * pattern of Sentry's event-loop-block integration, with AsyncLocalStorage state); and what
 * uvscope's request tracking costs a server.
 *
 * (a) attribution (attribution-runs.js, server-child.js, score.js). Per contender and round, a
 *     fresh node:http server (not pinned: the watcher threads run where they would in
 *     production) under load from autocannon (GET /work: a 2 ms timer per request, so other
 *     requests are in flight), and the plan's blocks (blocks.js) sent one at a time, each in a
 *     request of its own with a unique URL, after a random gap: regex, json, pbkdf2 (on CPU),
 *     atomics, fifo (waiting), each about --block-ms long (the CPU ones calibrated here first,
 *     calibrate-child.js). Each block is scored from the contender's live reports: named live
 *     (a report naming the block's URL was in the watcher thread's hands at least 10 ms before
 *     the block ended), named by the end (uvscope: or its stall's late stack; Sentry: its capture,
 *     whenever it returned), misnamed, classified as on CPU or waiting (uvscope's cpuNs /
 *     elapsedNs > 0.5; Sentry has no such figure), first-report latency past the threshold.
 *     The rounds rotate the contender order and the block order.
 * (b) cost (cost-runs.js, cost-server-child.js). A node:http server answering a small JSON
 *     document at a fixed, evenly spaced rate (load-child.js 'steady'), pinned to --cpu, the
 *     load generator to --load-cpu: no watchdog / watchdog with requests: false / watchdog with requests on; the
 *     server's CPU time (process.cpuUsage(), all threads) per request over a measured window.
 *     Each round runs every configuration once in a rotated order; ratios against the same
 *     round's watchdog-alone run, medians and ranges across rounds. Then the same server with
 *     the watchdog alone and the tracker switched on and off between short windows, side by
 *     side (the vCPUs' speed here drifts over seconds).
 * (c) tracker (tracker-child.js): ns the tracker adds to one request, without network or
 *     scheduler: a ServerResponse made, the request-start channel published, 'close' emitted,
 *     the tracker on and off alternately; pinned to --cpu.
 *
 *   node bench/attribution.js [--parts attribution,cost,tracker] [--quick] [--json FILE] ...
 *   (--help lists every flag; run it with another node, e.g. Node 24, to measure that Node:
 *    "$(bash scripts/node-matrix.sh --node-path 24)" bench/attribution.js, after
 *    node scripts/build-stack.js --node <that path>)
 */

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const statsLib = require('../lib/stats');
const { rotate } = require('../lib/rounds');
const { flag, parseFlags, usageText } = require('../lib/args');
const { runChild } = require('../lib/children');
const { benchMain, requireBuilt, ROOT, LIB } = require('../lib/main');
const { formatDuration } = require('../lib/table');
const { cpuLoadSnapshot, cpuLoadSince } = require('../lib/cpu-load');
const affinity = require('../lib/affinity');
const { jsonBody } = require('./blocks');
const { startIpcChild } = require('./ipc');
const { planBlocks, runContender } = require('./attribution-runs');
const { COST_CONFIGS, runCost, runAlternating } = require('./cost-runs');
const { scoreRun } = require('./score');
const { summarizeAttribution, attributionTable, attributionGoals, costTable, alternatingText } = require('./report');

const CONTENDERS = ['uvscope', 'sentry'];
const PARTS = ['attribution', 'cost', 'tracker'];
const DEFAULTS = {
  rounds: 3, blocks: 20, blockMs: 400, thresholdMs: 100, rate: 200, connections: 10, gapMs: 300, warmupMs: 1500, settleMs: 600,
  costRounds: 8, costRate: 800, costConnections: 10, costSeconds: 5, costWarmupSeconds: 2, altPairs: 60, altWindowMs: 500,
  trackerRequests: 100_000, trackerReps: 9,
};
const QUICK = { rounds: 1, blocks: 10, blockMs: 300, warmupMs: 1000, costRounds: 2, costSeconds: 2, costWarmupSeconds: 1, altPairs: 4, altWindowMs: 300, trackerRequests: 20_000, trackerReps: 3 };

// ---------------------------------------------------------------------------------------
// Arguments

const FLAGS = {
  '--parts': flag.list('parts', 'a,b', `attribution, cost, tracker (default all)`),
  '--quick': flag.on('quick', 'smoke test: 1 round of 10 blocks of 300 ms, 2 cost rounds of 2 s (explicit flags win)'),
  '--json': flag.string('json', 'FILE', 'also write every run and the summary as JSON'),
  '--contenders': flag.list('contenders', 'a,b', `(a) contenders (default ${CONTENDERS.join(',')})`),
  '--rounds': flag.int('rounds', 1, 'R', `(a) rounds; each runs every contender with its own server (default ${DEFAULTS.rounds})`),
  '--blocks': flag.int('blocks', 1, 'N', `(a) blocks per server, the kinds interleaved (default ${DEFAULTS.blocks}, --quick ${QUICK.blocks})`),
  '--block-ms': flag.int('blockMs', 1, 'M', `(a) length of each block (default ${DEFAULTS.blockMs}, --quick ${QUICK.blockMs})`),
  '--threshold-ms': flag.int('thresholdMs', 10, 'T', `(a) stall threshold of both contenders (default ${DEFAULTS.thresholdMs})`),
  '--await': flag.on('await', "(a) blocks run after two awaits in the handler (a framework's hooks), not in its synchronous part"),
  '--rate': flag.int('rate', 1, 'R', `(a) background load, requests per second (default ${DEFAULTS.rate})`),
  '--connections': flag.int('connections', 1, 'C', `(a) background load connections (default ${DEFAULTS.connections})`),
  '--gap-ms': flag.int('gapMs', 0, 'G', `(a) gap before each block: G plus up to the threshold, at random (default ${DEFAULTS.gapMs})`),
  '--cost-rounds': flag.int('costRounds', 0, 'R', `(b) rounds; each runs every configuration in a server of its own (default ${DEFAULTS.costRounds}, --quick ${QUICK.costRounds}; 0 skips)`),
  '--cost-rate': flag.int('costRate', 1, 'R', `(b) requests per second (default ${DEFAULTS.costRate})`),
  '--cost-connections': flag.int('costConnections', 1, 'C', `(b) connections (default ${DEFAULTS.costConnections})`),
  '--cost-seconds': flag.int('costSeconds', 1, 'S', `(b) measured window (default ${DEFAULTS.costSeconds}, --quick ${QUICK.costSeconds})`),
  '--cost-warmup-seconds': flag.int('costWarmupSeconds', 0, 'S', `(b) load before the window (default ${DEFAULTS.costWarmupSeconds})`),
  '--alt-pairs': flag.int('altPairs', 0, 'P', `(b) pairs of windows, tracker off and on, in one server (default ${DEFAULTS.altPairs}, --quick ${QUICK.altPairs}; 0 skips)`),
  '--alt-window-ms': flag.int('altWindowMs', 50, 'MS', `(b) length of each of those windows (default ${DEFAULTS.altWindowMs}, --quick ${QUICK.altWindowMs})`),
  '--tracker-requests': flag.int('trackerRequests', 1, 'N', `(c) simulated requests per rep (default ${DEFAULTS.trackerRequests})`),
  '--tracker-reps': flag.int('trackerReps', 1, 'N', `(c) reps, tracker off and on each (default ${DEFAULTS.trackerReps})`),
  '--cost-cpu-prof': flag.string('costCpuProf', 'DIR', '(b) each server writes a V8 CPU profile (--cpu-prof, every 50 µs) into DIR: to see where the time goes'),
  '--cpu': flag.cpu('cpu', 'N|none', '(b, c) CPU the server (c: the child) is pinned to (default 0)'),
  '--load-cpu': flag.cpu('loadCpu', 'N|none', '(b) CPU the load generator is pinned to (default 1)'),
};
const USAGE = usageText('bench/attribution.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  const base = { ...DEFAULTS, ...(opts.quick ? QUICK : {}) };
  for (const key of Object.keys(base)) opts[key] ??= base[key];
  if (opts.cpu === undefined) opts.cpu = 0;
  if (opts.loadCpu === undefined) opts.loadCpu = 1;
  opts.await ??= false;
  opts.parts ??= PARTS;
  opts.contenders ??= CONTENDERS;
  for (const part of opts.parts) if (!PARTS.includes(part)) throw new Error(`unknown part ${part}; known: ${PARTS.join(', ')}`);
  for (const c of opts.contenders) if (!CONTENDERS.includes(c)) throw new Error(`unknown contender ${c}; known: ${CONTENDERS.join(', ')}`);
  if (opts.blockMs < 2 * opts.thresholdMs) throw new Error(`--block-ms (${opts.blockMs}) must be at least twice --threshold-ms (${opts.thresholdMs})`);
  return opts;
}

// ---------------------------------------------------------------------------------------
// What is here

function stackAddonState() {
  try {
    const { loadStackAddon } = require(path.join(LIB, 'stack', 'load.js'));
    const loaded = loadStackAddon();
    return loaded.ok ? `loaded (${path.relative(ROOT, loaded.path)})` : `unavailable (${loaded.reason.split('\n')[0]})`;
  } catch (error) {
    return `unknown (${error.message.split('\n')[0]})`;
  }
}

function sentryState() {
  try {
    const main = require.resolve('@sentry-internal/node-native-stacktrace', { paths: [ROOT] });
    require(main);
    const version = require(require.resolve('@sentry-internal/node-native-stacktrace/package.json', { paths: [ROOT] })).version;
    return { ok: true, version };
  } catch (error) {
    return { ok: false, reason: error.message.split('\n')[0] };
  }
}

const loadLine = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

// ---------------------------------------------------------------------------------------
// (a) attribution

async function attributionPart(opts, meta) {
  const contenders = opts.contenders.filter((c) => c !== 'sentry' || meta.sentry.ok);
  const calibration = await runChild(path.join(__dirname, 'calibrate-child.js'), { blockMs: opts.blockMs }, { label: 'calibrate' });
  process.stderr.write(`(a) calibrated for ${opts.blockMs} ms: regex n=${calibration.regexN}, pbkdf2 ${calibration.pbkdf2Iterations} iterations, ` +
    `json ${calibration.jsonItems} items\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-attribution-'));
  const fifoPath = path.join(dir, 'block.fifo');
  execFileSync('mkfifo', [fifoPath]);
  const writer = startIpcChild(path.join(__dirname, 'fifo-writer-child.js'), {}, { label: 'fifo writer' });
  const body = Buffer.from(jsonBody(calibration.jsonItems));
  const runs = [];
  const scores = [];
  try {
    await writer.next('ready');
    for (let round = 0; round < opts.rounds; round++) {
      const plan = planBlocks(opts.blocks, round, calibration, opts.blockMs);
      for (const contender of rotate(contenders, round)) {
        const run = await runContender(contender, { opts, calibration, jsonBody: body, smallJsonBody: Buffer.from(jsonBody(100)), fifoPath, writer, round, plan });
        if (run.errors > 0 || run.load.errors > 0) throw new Error(`sanity check failed: ${contender}: ${run.errors} server errors, ${run.load.errors} load errors`);
        const scored = scoreRun(run, plan, opts.thresholdMs).map((s) => ({ ...s, round }));
        scores.push(...scored);
        runs.push({ round, contender, served: run.served, load: run.load, blocks: run.blocks.length, stalls: run.stalls.length, watcherMessages: run.watcher.length });
        const live = scored.filter((s) => s.namedLive).length;
        const byEnd = scored.filter((s) => s.namedByEnd).length;
        process.stderr.write(`  round ${round + 1}/${opts.rounds} ${contender}: named live ${live}/${scored.length}, by the end ${byEnd}/${scored.length}; ` +
          `${run.served} background requests (p99 ${run.load.latencyP99Ms} ms); load ${loadLine()}\n`);
      }
    }
  } finally {
    writer.child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const groups = summarizeAttribution(scores, contenders);
  const short = scores.filter((s) => s.short);
  const out = [];
  out.push(`(a) Attribution: ${opts.rounds} round(s) x ${opts.blocks} blocks per contender, each block about ${opts.blockMs} ms ` +
    `(regex n=${calibration.regexN}, pbkdf2 ${calibration.pbkdf2Iterations} iterations, json ${calibration.jsonItems} items = ${(body.length / 2 ** 20).toFixed(1)} MiB), ` +
    `threshold ${opts.thresholdMs} ms; blocks ${opts.await ? 'after two awaits in the handler' : 'in the handler\'s synchronous part (json: in the body\'s end event)'}; ` +
    `background load ${opts.rate} req/s over ${opts.connections} connections; children not pinned.`);
  if (!contenders.includes('sentry') && opts.contenders.includes('sentry')) out.push(`Sentry left out: ${meta.sentry.reason}`);
  if (short.length) {
    out.push(`Left out: ${short.length} block(s) shorter than 1.5x the threshold (${short.map((s) => `${s.contender} ${s.kind} ${s.blockMs.toFixed(0)} ms`).join(', ')}).`);
  }
  const unavailable = scores.find((s) => s.contextUnavailable)?.contextUnavailable;
  if (unavailable) out.push(`uvscope's context on this Node: ${unavailable}`);
  out.push('');
  out.push(attributionTable(groups));
  out.push('');
  out.push('named live: a report naming the block\'s URL was in the watcher thread\'s hands at least 10 ms before the block ended. named by the end: also');
  out.push('uvscope\'s late stack (the stall event), Sentry\'s capture whenever it returned. misnamed: reports naming another URL.');
  out.push('context live/end: the user\'s AsyncLocalStorage field (uvscope: context.url; Sentry: asyncState.url) live / by the end. culprit live: the');
  out.push('culprit function on a live stack. CPU/wait right: uvscope\'s first report, cpuNs/elapsedNs > 0.5 = on CPU (regex, json,');
  out.push('pbkdf2 compute; atomics, fifo wait); Sentry reports no such figure. Latencies, ms past the threshold, median (min..max):');
  out.push('first report = first report in the watcher\'s hands minus the block\'s start; own = uvscope atNs - startedAtNs, Sentry');
  out.push('its last-seen age at the poll that saw the block; first naming = the first report (or late stack) naming the URL.');
  out.push('');
  out.push('Goals (issue #25): every block named (live for those V8 interrupts, else by the late stack), every block classified,');
  out.push('first report <= 20 ms past the threshold:');
  out.push(...attributionGoals(groups, opts));
  return { text: out.join('\n'), calibration, groups: groups.map(({ scores: s, ...g }) => g), scores, runs };
}

// ---------------------------------------------------------------------------------------
// (b) cost

/** (b) in a server per configuration: pushes the runs and the report's lines; the summary. */
async function processRounds(opts, runs, out) {
  const configs = Object.keys(COST_CONFIGS);
  for (let round = 0; round < opts.costRounds; round++) {
    for (const config of rotate(configs, round)) {
      const result = await runCost(config, opts);
      runs.push({ ...result, round });
      process.stderr.write(`  round ${round + 1}/${opts.costRounds} ${config.padEnd(9)} ${result.cpuUsPerRequest.toFixed(2)} server cpu µs/request ` +
        `(${result.requests} requests in ${result.seconds.toFixed(1)} s); load ${loadLine()}\n`);
    }
  }
  const vsWatchdog = statsLib.againstBaseline(runs, configs, 'cpuUsPerRequest', 'watchdog');
  const vsNone = statsLib.againstBaseline(runs, configs, 'cpuUsPerRequest', 'none');
  const summary = vsWatchdog.map((s, i) => {
    const mine = runs.filter((r) => r.config === s.config);
    return {
      config: s.config,
      values: s.values,
      vsWatchdog: s.config === 'watchdog' ? null : s.ratio,
      vsNone: s.config === 'none' ? null : vsNone[i].ratio,
      requestsPerSecond: statsLib.median(mine.map((r) => r.requests / r.seconds)),
      clientP99Ms: statsLib.median(mine.map((r) => r.load.latencyP99Ms)),
    };
  });
  const requests = summary.find((s) => s.config === 'requests');
  out.push(`(b) Cost of request tracking: node:http answering a small JSON document at ${opts.costRate} req/s over ${opts.costConnections} connections ` +
    `(${runs[0]?.load.generator}); server pinned to CPU ${opts.cpu ?? 'none'}, load generator to CPU ${opts.loadCpu ?? 'none'}; ` +
    `${opts.costSeconds} s measured after ${opts.costWarmupSeconds} s, ${opts.costRounds} round(s), configurations rotated.`);
  out.push('');
  out.push(costTable(summary));
  out.push('');
  for (const [config, about] of Object.entries(COST_CONFIGS)) out.push(`  ${config.padEnd(9)} ${about}`);
  out.push('cpu = process.cpuUsage() of the server (all its threads) over the window / requests served; median and range across rounds;');
  out.push("ratios: median of the per-round ratios to the same round's run of that baseline (range: lowest-highest per-round ratio).");
  if (requests) {
    const r = requests.vsWatchdog;
    out.push(`Target (issue #25): requests on <= 1.03x the watchdog alone: ${r.median.toFixed(3)} (per round ${r.min.toFixed(3)}-${r.max.toFixed(3)}): ` +
      `${r.median <= 1.03 ? 'met' : 'MISSED'}`);
  }
  return summary;
}

async function costPart(opts) {
  for (const cpu of [opts.cpu, opts.loadCpu]) {
    if (cpu !== null && !affinity.canPin(cpu)) throw new Error(`cannot pin to CPU ${cpu} (taskset -c ${cpu} failed); use --cpu/--load-cpu none`);
  }
  const out = [];
  let summary = null;
  const runs = [];
  if (opts.costRounds > 0) summary = await processRounds(opts, runs, out);
  let alternating = null;
  if (opts.altPairs > 0) {
    alternating = await runAlternating(opts);
    if (out.length) out.push('');
    out.push(alternatingText(alternating, opts));
  }
  return { text: out.join('\n'), summary, runs, alternating };
}

// ---------------------------------------------------------------------------------------
// (c) tracker, in ns

async function trackerPart(opts) {
  const r = await runChild(path.join(__dirname, 'tracker-child.js'), { requests: opts.trackerRequests, reps: opts.trackerReps }, { cpu: opts.cpu, label: 'tracker' });
  const added = r.on.map((on, i) => on - r.off[i]);
  const text = [
    `(c) The request tracker per request, in process (a ServerResponse made, http.server.request.start published, 'close' emitted; ` +
      `${opts.trackerRequests} requests a rep, ${opts.trackerReps} reps each way, alternating; pinned to CPU ${opts.cpu ?? 'none'}):`,
    `  tracker off ${fmtNs(r.offNs)} ns/request, on ${fmtNs(r.onNs)} ns/request: the tracker adds ${fmtNs(r.onNs - r.offNs)} ns ` +
      `(per rep ${fmtNs(statsLib.min(added))}-${fmtNs(statsLib.max(added))})`,
  ].join('\n');
  return { text, ...r };
}

const fmtNs = (ns) => ns.toFixed(0);

// ---------------------------------------------------------------------------------------
// Parent

async function run(opts) {
  requireBuilt();
  const started = Date.now();
  const meta = { node: process.version, uv: process.versions.uv, cpus: os.cpus().length, loadBefore: loadLine(), stackAddon: stackAddonState(), sentry: sentryState() };
  const machine0 = cpuLoadSnapshot();
  process.stderr.write(`node ${meta.node}; stack addon ${meta.stackAddon}; Sentry ${meta.sentry.ok ? meta.sentry.version : `unavailable: ${meta.sentry.reason}`}; load ${meta.loadBefore}\n`);
  const result = {};
  const texts = [];
  if (opts.parts.includes('attribution')) {
    result.attribution = await attributionPart(opts, meta);
    texts.push(result.attribution.text);
  }
  if (opts.parts.includes('cost')) {
    result.cost = await costPart(opts);
    texts.push(result.cost.text);
  }
  if (opts.parts.includes('tracker')) {
    result.tracker = await trackerPart(opts);
    texts.push(result.tracker.text);
  }
  meta.totalMs = Date.now() - started;
  meta.loadAfter = loadLine();
  meta.machine = cpuLoadSince(machine0);
  const head = `uvscope stall attribution vs @sentry-internal/node-native-stacktrace ${meta.sentry.ok ? meta.sentry.version : '(unavailable)'}, and the cost of request tracking: ` +
    `node ${meta.node}, libuv ${meta.uv}, ${meta.cpus} CPUs; uvscope stack addon ${meta.stackAddon}`;
  const tail = [`load average ${meta.loadBefore} before, ${meta.loadAfter} after; total ${formatDuration(meta.totalMs)}`];
  if (meta.machine) {
    const m = meta.machine;
    tail.push(`other processes used ${(m.otherSeconds / m.wallSeconds).toFixed(2)} CPUs on average during the run` +
      (m.otherSeconds / m.wallSeconds > 0.1 ? ': the machine was not quiet, treat the figures with care' : ''));
  }
  process.stdout.write(`${[head, '', ...texts.flatMap((t) => [t, '']), ...tail].join('\n')}\n`);
  if (opts.json) {
    const { help, ...options } = opts;
    const replacer = (key, value) => (typeof value === 'bigint' ? String(value) : value);
    fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, ...result }, replacer, 2)}\n`);
    process.stderr.write(`raw data written to ${opts.json}\n`);
  }
}

benchMain('attribution', { parse: parseArgs, usage: USAGE, run });
