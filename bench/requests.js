#!/usr/bin/env node
'use strict';
/*
 * What does monitorPoolRequests() cost the application it watches? Two measurements, each
 * against the same round's baseline (no monitor), with the configurations:
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
 *  (a) fs.stat loops: one fs.stat at a time, callback style and fs.promises, N calls after a
 *      warm-up. CPU µs per call (process.cpuUsage(): every thread of the child, the pool thread
 *      doing the stat included) and wall µs per call.
 *  (b) an HTTP server (node:http) doing one fs.promises.readFile of a 16 KiB file and one
 *      crypto.pbkdf2 (1000 iterations, SHA-256) per request, driven at a fixed rate by a load
 *      generator in another process: autocannon (overallRate) when it is installed, else a
 *      plain fixed-rate http.request loop (said so in the report). The server's CPU time per
 *      request (user + system, all its threads) over the measured window, after a warm-up.
 *
 * Every run is a fresh child (this file with --child). Children under test are pinned to one
 * CPU with taskset (--cpu, default 0), the load generator to another (--load-cpu, default 1).
 * Each round runs every configuration once, in an order that rotates from round to round;
 * ratios are taken against the same round's baseline, and the report gives medians across
 * rounds with the range of the per-round ratios.
 *
 *   node bench/requests.js [--calls N] [--warmup N] [--rounds R] [--quick] [--json FILE]
 *        [--configs a,b] [--parts loop,http] [--rate R] [--seconds S] [--warmup-seconds S]
 *        [--connections C] [--cpu N|none] [--load-cpu N|none]
 *
 * Sanity checks fail the run: the monitors counted exactly the calls made (loops) and about
 * one pbkdf2 per request served (server), no HTTP errors.
 */

const { rotate } = require('./lib/rounds');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { once } = require('node:events');

const statsLib = require('./lib/stats');
const { intArg, eachFlag } = require('./lib/args');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('./lib/table');
const { cpuLoadSnapshot, cpuLoadSince } = require('./lib/cpu-load');
const affinity = require('./lib/affinity');
const { driveLoad } = require('./lib/http-load');

const LIB = path.resolve(__dirname, '..', 'lib');

const CONFIGS = {
  baseline: 'no monitor',
  'async-hook': 'async_hooks.createHook({ init() {} }).enable()',
  'async-hook-ba': 'async_hooks.createHook({ init() {}, before() {}, after() {} }).enable()',
  monitor: 'monitorPoolRequests() (fsOperations: true)',
  'monitor-fs-off': 'monitorPoolRequests({ fsOperations: false })',
};
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

function usage() {
  return `usage: node bench/requests.js [options]
  --calls N           fs.stat calls per measured loop (default ${DEFAULTS.calls}, --quick ${QUICK.calls})
  --warmup N          fs.stat calls before the measured loop (default ${DEFAULTS.warmup})
  --rounds R          rounds; each runs every configuration once (default ${DEFAULTS.rounds}, --quick ${QUICK.rounds})
  --configs a,b       configurations (default all; baseline always added): ${Object.keys(CONFIGS).join(', ')}
  --parts a,b         loop (fs.stat loops) and/or http (the server) (default both)
  --rate R            HTTP requests per second the load generator sends (default ${DEFAULTS.rate})
  --seconds S         measured HTTP window per server run (default ${DEFAULTS.seconds}, --quick ${QUICK.seconds})
  --warmup-seconds S  HTTP load before the measured window (default ${DEFAULTS.warmupSeconds})
  --connections C     HTTP connections (default ${DEFAULTS.connections})
  --cpu N|none        CPU the measured children are pinned to (default 0)
  --load-cpu N|none   CPU the load generator is pinned to (default 1)
  --quick             smoke test (explicit flags win)
  --json FILE         also write every run and the summary as JSON
  --help`;
}

function cpuArg(flag, value) {
  return value === 'none' ? null : intArg(flag, value, 0);
}

function parseArgs(argv) {
  const opts = {};
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--calls': opts.calls = intArg(flag, value(), 1); break;
      case '--warmup': opts.warmup = intArg(flag, value(), 0); break;
      case '--rounds': opts.rounds = intArg(flag, value(), 1); break;
      case '--rate': opts.rate = intArg(flag, value(), 1); break;
      case '--seconds': opts.seconds = intArg(flag, value(), 1); break;
      case '--warmup-seconds': opts.warmupSeconds = intArg(flag, value(), 0); break;
      case '--connections': opts.connections = intArg(flag, value(), 1); break;
      case '--configs': opts.configs = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--parts': opts.parts = value().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--cpu': opts.cpu = cpuArg(flag, value()); break;
      case '--load-cpu': opts.loadCpu = cpuArg(flag, value()); break;
      case '--json': opts.json = value(); break;
      case '--quick': opts.quick = true; break;
      // Child roles (internal).
      case '--child': opts.child = value(); break;
      case '--config': opts.config = value(); break;
      case '--workload': opts.workload = value(); break;
      case '--file': opts.file = value(); break;
      case '--url': opts.url = value(); break;
      case '--help': case '-h': opts.help = true; break;
      default: throw new Error(`unknown argument ${arg}\n${usage()}`);
    }
  });
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

function fail(message) {
  throw new Error(`sanity check failed: ${message}`);
}

// ---------------------------------------------------------------------------------------
// Children: the configuration under test

/** Starts what `config` measures; returns the monitor, if one. Every config loads uvscope. */
function startConfig(config) {
  const { monitorPoolRequests } = require(LIB);
  switch (config) {
    case 'baseline':
      return null;
    case 'async-hook':
      require('node:async_hooks').createHook({ init() {} }).enable();
      return null;
    case 'async-hook-ba':
      require('node:async_hooks').createHook({ init() {}, before() {}, after() {} }).enable();
      return null;
    case 'monitor':
      return monitorPoolRequests();
    case 'monitor-fs-off':
      return monitorPoolRequests({ fsOperations: false });
    default:
      throw new Error(`unknown configuration ${config}`);
  }
}

function statCallbackLoop(file, calls) {
  return new Promise((resolve, reject) => {
    let left = calls;
    const next = (error) => {
      if (error) return reject(error);
      if (left-- === 0) return resolve();
      fs.stat(file, next);
    };
    next();
  });
}

async function statPromiseLoop(file, calls) {
  for (let i = 0; i < calls; i++) await fs.promises.stat(file);
}

async function runLoopChild(opts) {
  const monitor = startConfig(opts.config);
  const loop = opts.workload === 'stat-callback' ? statCallbackLoop : statPromiseLoop;
  const file = __filename;
  await loop(file, opts.warmup);
  monitor?.reset();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await loop(file, opts.calls);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const cpu = process.cpuUsage(cpu0);
  const result = {
    config: opts.config,
    workload: opts.workload,
    calls: opts.calls,
    cpuNsPerCall: ((cpu.user + cpu.system) * 1000) / opts.calls,
    wallNsPerCall: wallNs / opts.calls,
  };
  if (monitor) {
    const s = monitor.stats();
    const kind = opts.config === 'monitor' ? 'fs.stat' : 'fs';
    const counted = s.requests[kind]?.completed ?? 0;
    if (counted !== opts.calls || Object.keys(s.requests).length !== 1) {
      fail(`${opts.config}: counted ${JSON.stringify(Object.keys(s.requests))}, ${kind} ${counted}, for ${opts.calls} calls`);
    }
    result.latencyP50Ns = s.requests[kind].latency.p50;
    result.promiseHooks = s.promiseHooks;
    monitor.stop();
  }
  return result;
}

/** The HTTP server; talks to the parent over IPC: { port }, then 'begin' / 'end' / 'exit'. */
function runServerChild(opts) {
  const http = require('node:http');
  const monitor = startConfig(opts.config);
  const salt = Buffer.from('uvscope-bench-salt');
  let served = 0;
  let errors = 0;
  const server = http.createServer((req, res) => {
    fs.promises
      .readFile(opts.file)
      .then((data) => new Promise((resolve, reject) => {
        crypto.pbkdf2(data.subarray(0, 64), salt, PBKDF2_ITERATIONS, 32, 'sha256', (e, key) => (e ? reject(e) : resolve(key)));
      }))
      .then((key) => {
        served++;
        res.end(key.toString('hex'));
      }, () => {
        errors++;
        res.statusCode = 500;
        res.end();
      });
  });
  let window = null;
  process.on('message', (message) => {
    if (message === 'begin') {
      monitor?.reset();
      window = { cpu: process.cpuUsage(), wall: process.hrtime.bigint(), served, errors };
    } else if (message === 'end') {
      const cpu = process.cpuUsage(window.cpu);
      const requests = served - window.served;
      const result = {
        config: opts.config,
        requests,
        errors: errors - window.errors,
        seconds: Number(process.hrtime.bigint() - window.wall) / 1e9,
        cpuUs: cpu.user + cpu.system,
      };
      if (monitor) {
        const s = monitor.stats();
        result.kinds = Object.fromEntries(Object.entries(s.requests).map(([kind, k]) => [kind, k.completed + k.failed]));
        result.inFlight = s.inFlight;
        result.promiseHooks = s.promiseHooks;
      }
      process.send(result);
    } else if (message === 'exit') {
      monitor?.stop();
      server.close(() => process.exit(0));
      server.closeAllConnections?.();
    }
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
}

// ---------------------------------------------------------------------------------------
// Parent

function childArgs(role, extra) {
  return [__filename, '--child', role, ...extra];
}

/** Runs a child to completion; resolves with its last stdout line as JSON. */
function runJsonChild(cpu, args) {
  const [command, commandArgs] = affinity.nodeCommand(cpu, args);
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`child ${args.slice(1, 5).join(' ')} failed (exit ${code}, signal ${signal})`));
      else resolve(JSON.parse(last));
    });
  });
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runServerOnce(config, opts, file) {
  const [command, commandArgs] = affinity.nodeCommand(opts.cpu, childArgs('server', ['--config', config, '--file', file]));
  const server = spawn(command, commandArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(server, 'exit');
  try {
    const [{ port }] = await once(server, 'message');
    const url = `http://127.0.0.1:${port}/`;
    const loadArgs = ['--url', url, '--rate', String(opts.rate), '--connections', String(opts.connections),
      '--seconds', String(opts.warmupSeconds + opts.seconds + 1)];
    const load = runJsonChild(opts.loadCpu, childArgs('load', loadArgs));
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


/** Per configuration: median of a metric, per-round ratios to the same round's baseline. */
function summarize(runs, configs, metric) {
  const baseOf = (round) => runs.find((r) => r.round === round && r.config === 'baseline')[metric];
  const baseMedian = statsLib.median(runs.filter((r) => r.config === 'baseline').map((r) => r[metric]));
  return configs.map((config) => {
    const mine = runs.filter((r) => r.config === config);
    const values = mine.map((r) => r[metric]);
    const ratios = mine.map((r) => r[metric] / baseOf(r.round));
    return {
      config,
      values: statsLib.summarize(values),
      extra: statsLib.median(values) - baseMedian,
      ratio: { median: statsLib.median(ratios), min: statsLib.min(ratios), max: statsLib.max(ratios), perRound: ratios },
    };
  });
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

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) return void process.stdout.write(`${usage()}\n`);
  if (opts.child) {
    if (opts.child === 'server') return runServerChild(opts);
    const work = opts.child === 'loop' ? runLoopChild(opts) : driveLoad(opts);
    return work.then(
      (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
      (error) => {
        process.stderr.write(`[${opts.child}] ${error.stack || error}\n`);
        process.exitCode = 1;
      },
    );
  }

  if (!fs.existsSync(path.join(LIB, 'index.js'))) throw new Error('lib/index.js is missing: build uvscope first (npm run build)');
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
            const run = await runJsonChild(opts.cpu, childArgs('loop', ['--config', config, '--workload', workload,
              '--calls', String(opts.calls), '--warmup', String(opts.warmup)]));
            loopRuns.push({ ...run, round });
            process.stderr.write(`round ${round + 1} ${workload.padEnd(13)} ${config.padEnd(14)} ${(run.cpuNsPerCall / 1000).toFixed(2)} cpu µs/call\n`);
          }
        }
        if (opts.parts.includes('http')) {
          const run = await runServerOnce(config, opts, file);
          httpRuns.push({ ...run, round });
          process.stderr.write(`round ${round + 1} http          ${config.padEnd(14)} ${run.cpuUsPerRequest.toFixed(1)} server cpu µs/request, ${run.requests} requests\n`);
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
    const { child, help, ...options } = opts;
    fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, summary, loopRuns, httpRuns }, null, 2)}\n`);
    process.stderr.write(`raw data written to ${opts.json}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`bench/requests.js: ${error.message}\n`);
  process.exitCode = 1;
});
