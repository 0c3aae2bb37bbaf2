'use strict';
/*
 * What does monitorPoolRequests() cost the application it watches? Two workloads, each against
 * no monitor, with the configurations (configs.js):
 *
 *   baseline        no monitor
 *   async-hook      async_hooks.createHook({ init() {} }).enable(): the floor any async_hooks
 *                   based tracker pays (on Node 20 and 22 it also turns on promise hooks)
 *   async-hook-ba   the same with empty before() and after() too: they run around every
 *                   callback of every async resource (and promise reaction on Node 20 and 22)
 *   monitor         monitorPoolRequests() (fsOperations: true, the default: wrappers, no hook)
 *   monitor-fs-off  monitorPoolRequests({ fsOperations: false }) (an async_hooks hook)
 *   prior           (with --prior DIR) monitorPoolRequests() of another build of uvscope, DIR
 *                   its checkout (DIR/lib is loaded): an earlier version against this one
 *
 *  (a) fs.stat loops (loop-child.js): one fs.stat at a time, callback style and fs.promises.
 *      CPU µs per call (process.cpuUsage(): every thread of the child, the pool thread doing
 *      the stat included) and wall µs per call.
 *  (b) an HTTP server (server-child.js, node:http) reading a small file (fs.promises.readFile,
 *      16 KiB) per request (--work file, the default), or that and one crypto.pbkdf2 (1000
 *      iterations, SHA-256) (--work file+pbkdf2), driven at a fixed rate by a load generator in
 *      another process (load-child.js): a steady http.request loop (--load-generator steady,
 *      the default) or autocannon's overallRate (autocannon, bursts at the start of each
 *      second). The server's CPU time per request (user + system, all its threads).
 *
 * Two ways of comparing (--modes, default both), each in rounds:
 *   process    every configuration in a fresh child of its own, one after another in an order
 *              that rotates from round to round; ratio = the round's run over the round's
 *              baseline run. Between processes the same code differs by a few percent (heap
 *              layout, JIT decisions), more on a busy machine.
 *   alternate  one child per configuration and round alternates blocks (loop) or windows
 *              (server) under the configuration and under none, starting and stopping it,
 *              and measures each after a warm-up under its state; ratio = the child's mean
 *              under the configuration over its mean under none. Slow drifts of the machine
 *              cancel out. What a configuration leaves behind when stopped counts in the
 *              blocks under none (the async_hooks monitor of uvscope 0.1 left accessors on
 *              Node's prototypes; the monitor now leaves nothing).
 *   paired     (server only) the configuration's server and a server without it run at once,
 *              both pinned to the same CPU, each driven by a load generator of its own at the
 *              same rate, measured over the same window; ratio = the one's CPU per request over
 *              the other's. What this VM's vCPU does meanwhile (its speed moves 2-3x from one
 *              window to the next) falls on both, and nothing is switched on or off in a running
 *              server (alternate mode's switches deoptimise the code the wrappers touch).
 * Children under test are pinned to one CPU with taskset (--cpu, default 0), the load
 * generator to another (--load-cpu, default 1). The report gives, per configuration, the median
 * of the per-round ratios with their range.
 *
 *   node bench/requests.js [--quick] [--json FILE] [--configs a,b] [--parts loop,http]
 *        [--modes process,alternate] [--rounds R] [--calls N] [--warmup N] [--pairs N]
 *        [--block-calls N] [--block-warmup N] [--work file|file+pbkdf2] [--rate R]
 *        [--seconds S] [--warmup-seconds S] [--windows N] [--window-ms MS] [--settle-ms MS]
 *        [--load-generator steady|autocannon] [--connections C] [--cpu N|none]
 *        [--load-cpu N|none] [--prior DIR]
 *
 * Sanity checks fail the run: the monitors counted exactly the calls made (loops) and about as
 * many requests as the server served (server), no HTTP errors.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');

const { rotate } = require('../lib/rounds');
const statsLib = require('../lib/stats');
const { flag, parseFlags, usageText } = require('../lib/args');
const { runChild, spawnNode, fail } = require('../lib/children');
const { benchMain, requireBuilt } = require('../lib/main');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('../lib/table');
const { cpuLoadSnapshot, cpuLoadSince } = require('../lib/cpu-load');
const affinity = require('../lib/affinity');
const { CONFIGS } = require('./configs');

const WORKLOADS = {
  'stat-callback': 'fs.stat(file, callback), one at a time',
  'stat-promise': 'await fs.promises.stat(file), one at a time',
};
const PARTS = ['loop', 'http'];
const MODES = ['process', 'alternate', 'paired'];
const WORKS = ['file', 'file+pbkdf2'];
const DEFAULTS = {
  calls: 50_000,
  warmup: 5_000,
  rounds: 5,
  pairs: 4,
  blockCalls: 20_000,
  blockWarmup: 5_000,
  work: 'file',
  rate: 800,
  seconds: 5,
  warmupSeconds: 6,
  windows: 4,
  windowMs: 1000,
  settleMs: 500,
  connections: 10,
};
const QUICK = { calls: 10_000, warmup: 2_000, rounds: 2, pairs: 2, blockCalls: 5_000, blockWarmup: 2_000, seconds: 2, warmupSeconds: 1, windows: 2, windowMs: 500, settleMs: 250 };
const PBKDF2_ITERATIONS = 1000;
const FILE_BYTES = 16 * 1024;

// ---------------------------------------------------------------------------------------
// Arguments

const FLAGS = {
  '--calls': flag.int('calls', 1, 'N', `fs.stat calls per measured loop (default ${DEFAULTS.calls}, --quick ${QUICK.calls})`),
  '--warmup': flag.int('warmup', 0, 'N', `fs.stat calls before the measured loop (default ${DEFAULTS.warmup})`),
   '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every configuration once per mode (default ${DEFAULTS.rounds}, --quick ${QUICK.rounds})`),
  '--configs': flag.list('configs', 'a,b', `configurations (default all; baseline always added): ${Object.keys(CONFIGS).join(', ')}`),
  '--parts': flag.list('parts', 'a,b', 'loop (fs.stat loops) and/or http (the server) (default both)'),
  '--modes': flag.list('modes', 'a,b', 'process (a child per configuration), alternate (a child alternating it with none), paired (server: it and\na server without it at once on one CPU) (default all)'),
  '--pairs': flag.int('pairs', 1, 'N', `alternate loop: pairs of blocks per child (default ${DEFAULTS.pairs}, --quick ${QUICK.pairs})`),
  '--block-calls': flag.int('blockCalls', 1, 'N', `alternate loop: measured calls per block (default ${DEFAULTS.blockCalls})`),
  '--block-warmup': flag.int('blockWarmup', 0, 'N', `alternate loop: calls before each block's measurement (default ${DEFAULTS.blockWarmup})`),
  '--work': flag.string('work', 'W', `what the server does per request: ${WORKS.join(' or ')} (default ${DEFAULTS.work})`),
  '--rate': flag.int('rate', 1, 'R', `HTTP requests per second the load generator sends (default ${DEFAULTS.rate})`),
  '--seconds': flag.int('seconds', 1, 'S', `process mode: measured HTTP window per server run (default ${DEFAULTS.seconds}, --quick ${QUICK.seconds})`),
  '--warmup-seconds': flag.int('warmupSeconds', 0, 'S', `HTTP load before measuring (default ${DEFAULTS.warmupSeconds}: after 2 s V8 was still
compiling the monitored server's code, 1.07-1.08x paired against 1.00-1.01x after 6 s)`),
  '--windows': flag.int('windows', 1, 'N', `alternate server: pairs of windows per server (default ${DEFAULTS.windows}, --quick ${QUICK.windows})`),
  '--window-ms': flag.int('windowMs', 1, 'MS', `alternate server: measured window (default ${DEFAULTS.windowMs})`),
  '--settle-ms': flag.int('settleMs', 0, 'MS', `alternate server: load under each state before its window (default ${DEFAULTS.settleMs})`),
  '--load-generator': flag.string('loadGenerator', 'G', `steady (an http.request loop topping up every 2 ms) or autocannon (its overallRate: each second's requests in a burst) (default ${'steady'})`),
  '--connections': flag.int('connections', 1, 'C', `HTTP connections (default ${DEFAULTS.connections})`),
  '--cpu': flag.cpu('cpu', 'N|none', 'CPU the measured children are pinned to (default 0)'),
  '--load-cpu': flag.cpu('loadCpu', 'N|none', 'CPU the load generator is pinned to (default 1)'),
  '--quick': flag.on('quick', 'smoke test (explicit flags win)'),
  '--json': flag.string('json', 'FILE', 'also write every run and the summary as JSON'),
  '--prior': flag.string('prior', 'DIR', 'add configuration prior: the monitor of the uvscope built in DIR (its lib/)'),
};
const USAGE = usageText('bench/requests.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  const base = { ...DEFAULTS, ...(opts.quick ? QUICK : {}) };
  for (const key of Object.keys(base)) opts[key] ??= base[key];
  if (opts.cpu === undefined) opts.cpu = 0;
  if (opts.loadCpu === undefined) opts.loadCpu = 1;
  for (const name of opts.configs ?? []) {
    if (!Object.hasOwn(CONFIGS, name)) throw new Error(`unknown configuration ${name}; known: ${Object.keys(CONFIGS).join(', ')}`);
  }
  const known = Object.keys(CONFIGS).filter((c) => c !== 'prior' || opts.prior);
  opts.configs = [...new Set(['baseline', ...(opts.configs ?? known)])];
  if (opts.configs.includes('prior') && !opts.prior) throw new Error('configuration prior needs --prior DIR');
  if (opts.prior) opts.priorLib = path.resolve(opts.prior, 'lib');
  for (const part of opts.parts ?? []) {
    if (!PARTS.includes(part)) throw new Error(`unknown part ${part}; known: ${PARTS.join(', ')}`);
  }
  opts.parts ??= PARTS;
  for (const mode of opts.modes ?? []) {
    if (!MODES.includes(mode)) throw new Error(`unknown mode ${mode}; known: ${MODES.join(', ')}`);
  }
  opts.modes ??= MODES;
  opts.loadGenerator ??= 'steady';
  if (!['steady', 'autocannon'].includes(opts.loadGenerator)) throw new Error(`unknown load generator ${opts.loadGenerator}; known: steady, autocannon`);
  if (!WORKS.includes(opts.work)) throw new Error(`unknown work ${opts.work}; known: ${WORKS.join(', ')}`);
  return opts;
}

// ---------------------------------------------------------------------------------------
// Runs

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function runLoop(config, workload, mode, opts) {
  const options = { config, workload, mode, calls: opts.calls, warmup: opts.warmup, pairs: opts.pairs, blockCalls: opts.blockCalls, blockWarmup: opts.blockWarmup, priorLib: opts.priorLib };
  return runChild(path.join(__dirname, 'loop-child.js'), options, { cpu: opts.cpu, label: `loop ${mode} ${config} ${workload}` });
}

/** The monitor counted about as many requests as were served (those in flight at either end of a window may count on one side only). */
function checkServed(config, measured, opts) {
  if (!measured.kinds) return;
  const counted = Object.values(measured.kinds).reduce((a, b) => a + b, 0);
  if (counted < measured.requests - 2 * opts.connections) {
    fail(`${config}: the monitor counted ${counted} requests (${JSON.stringify(measured.kinds)}) for ${measured.requests} HTTP requests`);
  }
}

/** One server: warm-up load, then the measured window (process) or windows (alternate), then the load generator's own account. */
async function runServer(config, mode, opts, file) {
  const server = spawnNode([path.join(__dirname, 'server-child.js'), JSON.stringify({ config, mode, file, work: opts.work, pbkdf2Iterations: PBKDF2_ITERATIONS, priorLib: opts.priorLib })],
    { cpu: opts.cpu, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(server, 'exit');
  try {
    const [{ port }] = await once(server, 'message');
    const url = `http://127.0.0.1:${port}/`;
    const measuredMs = mode === 'process' ? opts.seconds * 1000 : (opts.windows + 1) * 2 * (opts.windowMs + opts.settleMs);
    const loadOptions = { url, rate: opts.rate, connections: opts.connections, seconds: Math.ceil(opts.warmupSeconds + measuredMs / 1000 + 1), generator: opts.loadGenerator };
    const load = runChild(path.join(__dirname, 'load-child.js'), loadOptions, { cpu: opts.loadCpu, label: 'load' });
    await delay(opts.warmupSeconds * 1000);
    let measured;
    if (mode === 'process') {
      server.send('begin');
      await delay(measuredMs);
      const result = once(server, 'message');
      server.send('end');
      [measured] = await result;
      if (measured.requests === 0) fail(`${config}: no request served in the measured window (lower --rate?)`);
      measured.cpuUsPerRequest = measured.cpuUs / measured.requests;
      if (measured.errors > 0) fail(`${config}: ${measured.errors} server errors`);
      checkServed(config, measured, opts);
    } else {
      const result = once(server, 'message');
      server.send({ alternate: { pairs: opts.windows, windowMs: opts.windowMs, settleMs: opts.settleMs } });
      [measured] = await result;
      const perRequest = (windows) => windows.reduce((a, w) => a + w.cpuUs, 0) / windows.reduce((a, w) => a + w.requests, 0);
      const on = measured.windows.filter((w) => w.withConfig);
      const off = measured.windows.filter((w) => !w.withConfig);
      if (on.some((w) => w.requests === 0) || off.some((w) => w.requests === 0)) fail(`${config}: a window served no request (lower --rate?): ${JSON.stringify(measured.windows)}`);
      if (measured.windows.some((w) => w.errors > 0)) fail(`${config}: server errors`);
      for (const w of on) checkServed(config, w, opts);
      measured.cpuUsPerRequest = perRequest(on);
      measured.baselineCpuUsPerRequest = perRequest(off);
      measured.requests = on.reduce((a, w) => a + w.requests, 0);
      measured.seconds = on.reduce((a, w) => a + w.seconds, 0);
      measured.kinds = on[on.length - 1].kinds;
      measured.kindsRequests = on[on.length - 1].requests;
      measured.promiseHooks = on[0].promiseHooks;
      measured.asyncHooks = on[0].asyncHooks;
    }
    measured.load = await load;
    server.send('exit');
    await exited;
    if (measured.load.errors > 0) fail(`${config}: ${measured.load.errors} client errors`);
    return measured;
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
}

/**
 * Paired mode: the configuration's server and one without it at once on the same CPU, their
 * windows together; which of the two starts first alternates from round to round.
 */
async function runPair(config, opts, file, round) {
  const start = (which) => runServer(which, 'process', opts, file);
  const [measured, baseline] = round % 2 === 0 ? await Promise.all([start(config), start('baseline')]) : (await Promise.all([start('baseline'), start(config)])).reverse();
  return { ...measured, mode: 'paired', baselineCpuUsPerRequest: baseline.cpuUsPerRequest, baselineRequests: baseline.requests };
}

// ---------------------------------------------------------------------------------------
// Report

/**
 * Per configuration: `metric`'s values and the per-round ratios to no monitor. Process mode:
 * against the same round's baseline run. Alternate mode: against the same child's blocks under
 * no monitor (`baselineMetric`); paired mode: against the server without it beside it (also
 * `baselineMetric`); the baseline row shows those.
 */
function summarize(runs, configs, metric, baselineMetric) {
  const processRuns = runs.filter((r) => r.mode === 'process');
  if (processRuns.length) {
    return statsLib.againstBaseline(processRuns, configs, metric).map(({ config, values, extra, ratio }) => ({
      config,
      values,
      extra,
      ratio: { median: ratio.median, min: ratio.min, max: ratio.max, perRound: ratio.perRound },
    }));
  }
  const baseValues = runs.map((r) => r[baselineMetric]);
  return configs.map((config) => {
    if (config === 'baseline') return { config, values: statsLib.summarize(baseValues), extra: 0, ratio: null };
    const mine = runs.filter((r) => r.config === config);
    const perRound = mine.map((r) => r[metric] / r[baselineMetric]);
    return {
      config,
      values: statsLib.summarize(mine.map((r) => r[metric])),
      extra: statsLib.median(mine.map((r) => r[metric] - r[baselineMetric])),
      ratio: { median: statsLib.median(perRound), min: statsLib.min(perRound), max: statsLib.max(perRound), perRound },
    };
  });
}

function ratioCells(s) {
  if (s.config === 'baseline') return ['', ''];
  return [formatRatio(s.ratio.median), `${s.ratio.min.toFixed(3)}-${s.ratio.max.toFixed(3)}`];
}

function loopReport(loopRuns, mode, opts) {
  const how = mode === 'process'
    ? `a child per configuration, ${formatNumber(opts.calls)} calls after ${formatNumber(opts.warmup)} warm-up calls`
    : `a child per configuration alternating it with none: ${opts.pairs} pair(s) of blocks of ${formatNumber(opts.blockCalls)} calls, each after ${formatNumber(opts.blockWarmup)} warm-up calls`;
  const out = [`(a) fs.stat loops, ${mode} mode: ${how}; ${opts.rounds} round(s)`];
  const rows = [];
  const summary = {};
  for (const workload of Object.keys(WORKLOADS)) {
    const runs = loopRuns.filter((r) => r.workload === workload && r.mode === mode);
    if (!runs.length) continue;
    const cpu = summarize(runs, opts.configs, 'cpuNsPerCall', 'baselineCpuNsPerCall');
    summary[workload] = { cpu };
    const wall = mode === 'process' ? summarize(runs, opts.configs, 'wallNsPerCall') : null;
    if (wall) summary[workload].wall = wall;
    for (const [i, s] of cpu.entries()) {
      rows.push([
        i === 0 ? workload : '',
        s.config,
        (s.values.median / 1000).toFixed(2),
        `${(s.values.min / 1000).toFixed(2)}-${(s.values.max / 1000).toFixed(2)}`,
        s.config === 'baseline' ? '' : `${s.extra >= 0 ? '+' : ''}${(s.extra / 1000).toFixed(2)}`,
        ...ratioCells(s),
        wall ? (wall[i].values.median / 1000).toFixed(2) : '',
        wall && s.config !== 'baseline' ? formatRatio(wall[i].ratio.median) : '',
      ]);
    }
  }
  out.push(renderTable(['workload', 'config', 'cpu µs/call', 'range', '+µs', 'ratio', 'ratio range', 'wall µs/call', 'wall ratio'], rows));
  return { text: out.join('\n'), summary };
}

function httpReport(httpRuns, mode, opts) {
  const runs = httpRuns.filter((r) => r.mode === mode);
  const generator = runs[0]?.load.generator ?? 'n/a';
  const work = opts.work === 'file' ? `one fs.promises.readFile (${FILE_BYTES / 1024} KiB)` : `one fs.promises.readFile (${FILE_BYTES / 1024} KiB) and one pbkdf2 (${PBKDF2_ITERATIONS} iterations)`;
  const how = mode === 'process'
    ? `a server per configuration, ${opts.seconds} s measured after ${opts.warmupSeconds} s`
    : mode === 'alternate'
      ? `a server per configuration alternating it with none: ${opts.windows} pair(s) of ${opts.windowMs} ms windows, each after ${opts.settleMs} ms under its state, after ${opts.warmupSeconds} s and one unmeasured pair`
      : `a server per configuration and one without it at once on the same CPU, each with its own load, ${opts.seconds} s measured together after ${opts.warmupSeconds} s`;
  const out = [`(b) HTTP server, ${mode} mode: ${work} per request, ${opts.rate} req/s over ${opts.connections} connections by ${generator}; ${how}; ${opts.rounds} round(s)`];
  const cpu = summarize(runs, opts.configs, 'cpuUsPerRequest', 'baselineCpuUsPerRequest');
  const rows = cpu.map((s) => {
    const mine = runs.filter((r) => s.config === 'baseline' ? r.mode !== 'process' || r.config === 'baseline' : r.config === s.config);
    return [
      s.config,
      s.values.median.toFixed(1),
      `${s.values.min.toFixed(1)}-${s.values.max.toFixed(1)}`,
      s.config === 'baseline' ? '' : `${s.extra >= 0 ? '+' : ''}${s.extra.toFixed(1)}`,
      ...ratioCells(s),
      formatNumber(statsLib.median(mine.map((r) => r.requests / r.seconds))),
      statsLib.median(mine.map((r) => r.load.latencyP99Ms)).toFixed(1),
    ];
  });
  out.push(renderTable(['config', 'server cpu µs/req', 'range', '+µs', 'ratio', 'ratio range', 'req/s', 'client p99 ms'], rows));
  const sample = runs.find((r) => r.config === 'monitor' && r.kinds);
  if (sample) out.push(`the monitor's kinds in one window: ${JSON.stringify(sample.kinds)} for ${sample.kindsRequests ?? sample.requests} requests`);
  return { text: out.join('\n'), summary: cpu };
}

// ---------------------------------------------------------------------------------------
// Parent

const logLine = (round, mode, what, config, text) =>
  process.stderr.write(`round ${round + 1} ${mode.padEnd(9)} ${what.padEnd(13)} ${config.padEnd(14)} ${text}\n`);

async function run(opts) {
  requireBuilt();
  for (const cpu of [opts.cpu, opts.loadCpu]) {
    if (cpu !== null && !affinity.canPin(cpu)) throw new Error(`cannot pin to CPU ${cpu} (taskset -c ${cpu} failed); use --cpu/--load-cpu none`);
  }
  const started = Date.now();
  const meta = { node: process.version, uv: process.versions.uv, cpus: os.cpus().length, loadBefore: os.loadavg().map((l) => l.toFixed(2)).join(' ') };
  const machine0 = cpuLoadSnapshot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-requests-'));
  const file = path.join(dir, 'payload.bin');
  fs.writeFileSync(file, crypto.randomBytes(FILE_BYTES));
  const loopRuns = [];
  const httpRuns = [];
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const mode of opts.modes) {
        // Alternate mode measures no monitor inside each configuration's child; paired mode beside it.
        const configs = mode === 'process' ? opts.configs : opts.configs.filter((c) => c !== 'baseline');
        for (const config of rotate(configs, round)) {
          if (opts.parts.includes('loop') && mode !== 'paired') {
            for (const workload of Object.keys(WORKLOADS)) {
              const result = await runLoop(config, workload, mode, opts);
              loopRuns.push({ ...result, round });
              const extra = mode === 'alternate' ? `, ${formatRatio(result.cpuNsPerCall / result.baselineCpuNsPerCall)} of none` : '';
              logLine(round, mode, workload, config, `${(result.cpuNsPerCall / 1000).toFixed(2)} cpu µs/call${extra}`);
            }
          }
          if (opts.parts.includes('http')) {
            const result = mode === 'paired' ? await runPair(config, opts, file, round) : await runServer(config, mode, opts, file);
            httpRuns.push({ ...result, round });
            const extra = mode !== 'process' ? `, ${formatRatio(result.cpuUsPerRequest / result.baselineCpuUsPerRequest)} of none` : '';
            logLine(round, mode, 'http', config, `${result.cpuUsPerRequest.toFixed(1)} server cpu µs/request${extra}, ${result.requests} requests`);
          }
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  meta.totalMs = Date.now() - started;
  meta.loadAfter = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  meta.machine = cpuLoadSince(machine0);
  const monitorRun = [...loopRuns, ...httpRuns].find((r) => r.config === 'monitor' && r.asyncHooks !== undefined);
  const fsOffRun = [...loopRuns, ...httpRuns].find((r) => r.config === 'monitor-fs-off' && r.promiseHooks !== undefined);

  const out = [`uvscope monitorPoolRequests() cost: node ${meta.node}, libuv ${meta.uv}, ${meta.cpus} CPUs; ` +
    `measured children pinned to CPU ${opts.cpu ?? 'none'}, load generator to CPU ${opts.loadCpu ?? 'none'}; ` +
    `monitor: async_hooks ${monitorRun?.asyncHooks ?? 'n/a'}; monitor-fs-off: promise hooks ${fsOffRun?.promiseHooks ?? 'n/a'}`];
  out.push('');
  const summary = {};
  for (const mode of opts.modes) {
    summary[mode] = {};
    if (loopRuns.some((r) => r.mode === mode)) {
      const loop = loopReport(loopRuns, mode, opts);
      summary[mode].loop = loop.summary;
      out.push(loop.text, '');
    }
    if (httpRuns.some((r) => r.mode === mode)) {
      const http = httpReport(httpRuns, mode, opts);
      summary[mode].http = http.summary;
      out.push(http.text, '');
    }
  }
  // Issue #26's targets, by the measurement that resolves a few percent here (docs/benchmarks.md).
  const monitorRatio = (rows) => rows?.find((s) => s.config === 'monitor')?.ratio?.median;
  const verdict = (ratio, target) => (ratio === undefined ? 'not run' : `${ratio <= target ? 'met' : 'missed'} (${formatRatio(ratio)})`);
  const statRatio = monitorRatio(summary.alternate?.loop?.['stat-callback']?.cpu);
  const httpRatio = monitorRatio(summary.paired?.http);
  out.push(`targets: fs.stat callback loop (alternate) <= 1.05x: ${verdict(statRatio, 1.05)}; HTTP server (paired) <= 1.03x: ${verdict(httpRatio, 1.03)}`, '');
  for (const [config, about] of Object.entries(CONFIGS)) if (opts.configs.includes(config)) out.push(`  ${config.padEnd(15)} ${about}`);
  out.push('cpu = process.cpuUsage() of the child (all its threads, pool threads included); medians across rounds.');
  out.push('ratio = median of per-round ratios to no monitor (process: that round\'s baseline child; alternate: the same child\'s blocks without it;');
  out.push('paired: the server without it that ran beside it); ratio range = lowest-highest per-round ratio.');
  out.push(`load average ${meta.loadBefore} before, ${meta.loadAfter} after; total ${formatDuration(meta.totalMs)}`);
  if (meta.machine) {
    const m = meta.machine;
    out.push(`other processes used ${(m.otherSeconds / m.wallSeconds).toFixed(2)} CPUs on average during the run` +
      (m.otherSeconds / m.wallSeconds > 0.1 ? ': the machine was not quiet, treat ratios with care' : ''));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  if (opts.json) {
    const { help, ...options } = opts;
    fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, summary, loopRuns, httpRuns }, null, 2)}\n`);
    process.stderr.write(`raw data written to ${opts.json}\n`);
  }
}

benchMain('requests', { parse: parseArgs, usage: USAGE, run });
