'use strict';
/*
 * What does monitorPoolRequests() cost the application it watches? Two measurements, each
 * against the same round's baseline (no monitor), with the configurations (configs.js):
 *
 *   baseline        no monitor
 *   async-hook      async_hooks.createHook({ init() {} }).enable(): the floor any async_hooks
 *                   based tracker pays (on Node 20 and 22 it also turns on promise hooks)
 *   async-hook-ba   the same with empty before() and after() too, which the monitor has: they
 *                   run around every callback of every async resource (and promise reaction on
 *                   Node 20 and 22), not only pool requests
 *   monitor         monitorPoolRequests() (fsOperations: true, the default)
 *   monitor-fs-off  monitorPoolRequests({ fsOperations: false }) (fs binding left alone)
 *
 *  (a) fs.stat loops (loop-child.js): one fs.stat at a time, callback style and fs.promises,
 *      N calls after a warm-up. CPU µs per call (process.cpuUsage(): every thread of the child,
 *      the pool thread doing the stat included) and wall µs per call.
 *  (b) an HTTP server (server-child.js, node:http) doing one fs.promises.readFile of a 16 KiB
 *      file and one crypto.pbkdf2 (1000 iterations, SHA-256) per request, driven at a fixed
 *      rate by a load generator in another process (load-child.js): autocannon (overallRate)
 *      when it is installed, else a plain fixed-rate http.request loop (said so in the report).
 *      The server's CPU time per request (user + system, all its threads) over the measured
 *      window, after a warm-up.
 *
 * Every run is a fresh child. Children under test are pinned to one CPU with taskset (--cpu,
 * default 0), the load generator to another (--load-cpu, default 1). Each round runs every
 * configuration once, in an order that rotates from round to round; ratios are taken against
 * the same round's baseline, and the report gives medians across rounds with the range of the
 * per-round ratios.
 *
 *   node bench/requests.js [--calls N] [--warmup N] [--rounds R] [--quick] [--json FILE]
 *        [--configs a,b] [--parts loop,http] [--rate R] [--seconds S] [--warmup-seconds S]
 *        [--connections C] [--cpu N|none] [--load-cpu N|none]
 *
 * Sanity checks fail the run: the monitors counted exactly the calls made (loops) and about
 * one pbkdf2 per request served (server), no HTTP errors.
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
const DEFAULTS = { calls: 50_000, warmup: 5_000, rounds: 5, rate: 100, seconds: 5, warmupSeconds: 2, connections: 10 };
const QUICK = { calls: 10_000, warmup: 2_000, rounds: 3, seconds: 3, warmupSeconds: 1 };
const PBKDF2_ITERATIONS = 1000;
const FILE_BYTES = 16 * 1024;

// ---------------------------------------------------------------------------------------
// Arguments

const FLAGS = {
  '--calls': flag.int('calls', 1, 'N', `fs.stat calls per measured loop (default ${DEFAULTS.calls}, --quick ${QUICK.calls})`),
  '--warmup': flag.int('warmup', 0, 'N', `fs.stat calls before the measured loop (default ${DEFAULTS.warmup})`),
  '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every configuration once (default ${DEFAULTS.rounds}, --quick ${QUICK.rounds})`),
  '--configs': flag.list('configs', 'a,b', `configurations (default all; baseline always added): ${Object.keys(CONFIGS).join(', ')}`),
  '--parts': flag.list('parts', 'a,b', 'loop (fs.stat loops) and/or http (the server) (default both)'),
  '--rate': flag.int('rate', 1, 'R', `HTTP requests per second the load generator sends (default ${DEFAULTS.rate})`),
  '--seconds': flag.int('seconds', 1, 'S', `measured HTTP window per server run (default ${DEFAULTS.seconds}, --quick ${QUICK.seconds})`),
  '--warmup-seconds': flag.int('warmupSeconds', 0, 'S', `HTTP load before the measured window (default ${DEFAULTS.warmupSeconds})`),
  '--connections': flag.int('connections', 1, 'C', `HTTP connections (default ${DEFAULTS.connections})`),
  '--cpu': flag.cpu('cpu', 'N|none', 'CPU the measured children are pinned to (default 0)'),
  '--load-cpu': flag.cpu('loadCpu', 'N|none', 'CPU the load generator is pinned to (default 1)'),
  '--quick': flag.on('quick', 'smoke test (explicit flags win)'),
  '--json': flag.string('json', 'FILE', 'also write every run and the summary as JSON'),
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
  opts.configs = [...new Set(['baseline', ...(opts.configs ?? Object.keys(CONFIGS))])];
  for (const part of opts.parts ?? []) {
    if (!PARTS.includes(part)) throw new Error(`unknown part ${part}; known: ${PARTS.join(', ')}`);
  }
  opts.parts ??= PARTS;
  return opts;
}

// ---------------------------------------------------------------------------------------
// Runs

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function runLoop(config, workload, opts) {
  return runChild(path.join(__dirname, 'loop-child.js'), { config, workload, calls: opts.calls, warmup: opts.warmup },
    { cpu: opts.cpu, label: `loop ${config} ${workload}` });
}

/** One server run: warm-up load, the measured window, then the load generator's own account. */
async function runServer(config, opts, file) {
  const server = spawnNode([path.join(__dirname, 'server-child.js'), JSON.stringify({ config, file, pbkdf2Iterations: PBKDF2_ITERATIONS })],
    { cpu: opts.cpu, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(server, 'exit');
  try {
    const [{ port }] = await once(server, 'message');
    const url = `http://127.0.0.1:${port}/`;
    const loadOptions = { url, rate: opts.rate, connections: opts.connections, seconds: opts.warmupSeconds + opts.seconds + 1 };
    const load = runChild(path.join(__dirname, 'load-child.js'), loadOptions, { cpu: opts.loadCpu, label: 'load' });
    await delay(opts.warmupSeconds * 1000);
    server.send('begin');
    await delay(opts.seconds * 1000);
    const result = once(server, 'message');
    server.send('end');
    const [measured] = await result;
    measured.load = await load;
    server.send('exit');
    await exited;
    if (measured.requests === 0) fail(`${config}: no request served in the measured window (lower --rate?)`);
    measured.cpuUsPerRequest = measured.cpuUs / measured.requests;
    if (measured.errors > 0 || measured.load.errors > 0) fail(`${config}: ${measured.errors} server errors, ${measured.load.errors} client errors`);
    if (measured.kinds) {
      const pbkdf2 = measured.kinds['crypto.pbkdf2'] ?? 0;
      // Requests in flight at either end of the window may count on one side only.
      if (Math.abs(pbkdf2 - measured.requests) > 2 * opts.connections) {
        fail(`${config}: the monitor counted ${pbkdf2} pbkdf2 requests for ${measured.requests} HTTP requests`);
      }
    }
    return measured;
  } catch (error) {
    server.kill('SIGKILL');
    throw error;
  }
}

// ---------------------------------------------------------------------------------------
// Report

/** Per configuration: median of a metric, per-round ratios to the same round's baseline. */
function summarize(runs, configs, metric) {
  return statsLib.againstBaseline(runs, configs, metric).map(({ config, values, extra, ratio }) => ({
    config,
    values,
    extra,
    ratio: { median: ratio.median, min: ratio.min, max: ratio.max, perRound: ratio.perRound },
  }));
}

function ratioCells(s) {
  if (s.config === 'baseline') return ['', ''];
  return [formatRatio(s.ratio.median), `${s.ratio.min.toFixed(3)}-${s.ratio.max.toFixed(3)}`];
}

function loopReport(loopRuns, opts) {
  const out = [`(a) fs.stat loops: ${formatNumber(opts.calls)} calls per run after ${formatNumber(opts.warmup)} warm-up calls, ${opts.rounds} round(s)`];
  const rows = [];
  const summary = {};
  for (const workload of Object.keys(WORKLOADS)) {
    const runs = loopRuns.filter((r) => r.workload === workload);
    if (!runs.length) continue;
    const cpu = summarize(runs, opts.configs, 'cpuNsPerCall');
    const wall = summarize(runs, opts.configs, 'wallNsPerCall');
    summary[workload] = { cpu, wall };
    for (const [i, s] of cpu.entries()) {
      rows.push([
        i === 0 ? workload : '',
        s.config,
        (s.values.median / 1000).toFixed(2),
        `${(s.values.min / 1000).toFixed(2)}-${(s.values.max / 1000).toFixed(2)}`,
        s.config === 'baseline' ? '' : `${s.extra >= 0 ? '+' : ''}${(s.extra / 1000).toFixed(2)}`,
        ...ratioCells(s),
        (wall[i].values.median / 1000).toFixed(2),
        s.config === 'baseline' ? '' : formatRatio(wall[i].ratio.median),
      ]);
    }
  }
  out.push(renderTable(['workload', 'config', 'cpu µs/call', 'range', '+µs', 'ratio', 'ratio range', 'wall µs/call', 'wall ratio'], rows));
  return { text: out.join('\n'), summary };
}

function httpReport(httpRuns, opts) {
  const generator = httpRuns[0]?.load.generator ?? 'n/a';
  const out = [`(b) HTTP server: one fs.promises.readFile (${FILE_BYTES / 1024} KiB) and one pbkdf2 (${PBKDF2_ITERATIONS} iterations) per request, ` +
    `${opts.rate} req/s over ${opts.connections} connections by ${generator}; ${opts.seconds} s measured after ${opts.warmupSeconds} s, ${opts.rounds} round(s)`];
  const cpu = summarize(httpRuns, opts.configs, 'cpuUsPerRequest');
  const rows = cpu.map((s) => {
    const mine = httpRuns.filter((r) => r.config === s.config);
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
  const sample = httpRuns.find((r) => r.config === 'monitor' && r.kinds);
  if (sample) out.push(`the monitor's kinds in one window: ${JSON.stringify(sample.kinds)} for ${sample.requests} requests`);
  return { text: out.join('\n'), summary: cpu };
}

// ---------------------------------------------------------------------------------------
// Parent

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
      for (const config of rotate(opts.configs, round)) {
        if (opts.parts.includes('loop')) {
          for (const workload of Object.keys(WORKLOADS)) {
            const result = await runLoop(config, workload, opts);
            loopRuns.push({ ...result, round });
            process.stderr.write(`round ${round + 1} ${workload.padEnd(13)} ${config.padEnd(14)} ${(result.cpuNsPerCall / 1000).toFixed(2)} cpu µs/call\n`);
          }
        }
        if (opts.parts.includes('http')) {
          const result = await runServer(config, opts, file);
          httpRuns.push({ ...result, round });
          process.stderr.write(`round ${round + 1} http          ${config.padEnd(14)} ${result.cpuUsPerRequest.toFixed(1)} server cpu µs/request, ${result.requests} requests\n`);
        }
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  meta.totalMs = Date.now() - started;
  meta.loadAfter = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  meta.machine = cpuLoadSince(machine0);
  meta.promiseHooks = [...loopRuns, ...httpRuns].find((r) => r.promiseHooks !== undefined)?.promiseHooks;

  const out = [`uvscope monitorPoolRequests() cost: node ${meta.node}, libuv ${meta.uv}, ${meta.cpus} CPUs; ` +
    `measured children pinned to CPU ${opts.cpu ?? 'none'}, load generator to CPU ${opts.loadCpu ?? 'none'}; ` +
    `promise hooks while monitoring: ${meta.promiseHooks ?? 'n/a'}`];
  out.push('');
  const summary = {};
  if (loopRuns.length) {
    const loop = loopReport(loopRuns, opts);
    summary.loop = loop.summary;
    out.push(loop.text, '');
  }
  if (httpRuns.length) {
    const http = httpReport(httpRuns, opts);
    summary.http = http.summary;
    out.push(http.text, '');
  }
  for (const [config, about] of Object.entries(CONFIGS)) if (opts.configs.includes(config)) out.push(`  ${config.padEnd(15)} ${about}`);
  out.push('cpu = process.cpuUsage() of the child (all its threads, pool threads included); medians across rounds.');
  out.push("ratio = median of per-round ratios to that round's baseline; ratio range = lowest-highest per-round ratio.");
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
