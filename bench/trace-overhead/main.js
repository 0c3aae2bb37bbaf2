'use strict';
/*
 * What does `uvscope trace` cost a server? An HTTP server (http-server.js: an fs.stat and a
 * small JSON answer per request) is loaded by autocannon at a fixed rate, in four
 * configurations: plain `node`, `uvscope trace --no-cpu`, `uvscope trace --sample-us 5000` and
 * `uvscope trace` (CPU samples every 1000 µs); no stall watchdog in any. The server process is
 * pinned to one CPU (taskset, when available), autocannon runs here. CPU per request is the
 * server process's user + system time (all its threads: /proc/<pid>/stat) over the load window
 * divided by the requests answered. Rounds rotate the configurations; ratios are against the
 * same round's plain run, medians reported.
 *
 *   node bench/trace-overhead.js [--rounds R] [--seconds S] [--rate N] [--connections C]
 *                                [--cpu N|none] [--split] [--quick]
 *
 * --split adds the parts of the trace alone: the pool request monitor (async_hooks,
 * preload-requests.js), and the loop observers (preload-observer.js).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const statsLib = require('../lib/stats');
const { rotate } = require('../lib/rounds');
const { flag, parseFlags, usageText } = require('../lib/args');
const { spawnNode } = require('../lib/children');
const { benchMain, requireBuilt, LIB } = require('../lib/main');
const affinity = require('../lib/affinity');

const cli = path.join(LIB, 'cli', 'main.js');
const server = path.join(__dirname, 'http-server.js');
const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

const DEFAULTS = { rounds: 3, seconds: 8, rate: 500, connections: 10, cpu: 0 };
const QUICK = { rounds: 1, seconds: 2 };

const FLAGS = {
  '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every configuration once (default ${DEFAULTS.rounds})`),
  '--seconds': flag.int('seconds', 1, 'S', `measured load window per run, after 1 s of warm-up (default ${DEFAULTS.seconds})`),
  '--rate': flag.int('rate', 1, 'N', `requests per second autocannon sends (default ${DEFAULTS.rate})`),
  '--connections': flag.int('connections', 1, 'C', `HTTP connections (default ${DEFAULTS.connections})`),
  '--cpu': flag.cpu('cpu', 'N|none', `CPU the server process is pinned to (default ${DEFAULTS.cpu})`),
  '--split': flag.on('split', 'also the parts of the trace alone: the request monitor, the loop observers'),
  '--quick': flag.on('quick', `smoke test: ${QUICK.rounds} round of ${QUICK.seconds} s (explicit flags win)`),
};
const USAGE = usageText('bench/trace-overhead.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  return { split: false, ...DEFAULTS, ...(opts.quick ? QUICK : {}), ...opts };
}

/** user + system CPU of a process (all threads), ms. */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

/** Each configuration's node arguments (false: not run), given the trace file and --split. */
const CONFIGS = {
  // --split: parts of the trace, preloaded alone.
  'requests only': (out, split) => split && ['--require', path.join(__dirname, 'preload-requests.js'), server],
  'observer only': (out, split) => split && ['--require', path.join(__dirname, 'preload-observer.js'), server],
  plain: () => [server],
  'trace --no-cpu': (out) => [cli, 'trace', '--no-cpu', '--stall-ms', '0', '--out', out, '--', server],
  'trace --sample-us 5000': (out) => [cli, 'trace', '--sample-us', '5000', '--stall-ms', '0', '--out', out, '--', server],
  trace: (out) => [cli, 'trace', '--stall-ms', '0', '--out', out, '--', server],
};

/** One server run: start it, 1 s of warm-up load, the measured window, stop it. */
async function runOnce(config, opts, autocannon) {
  const out = path.join(os.tmpdir(), `uvscope-overhead-${process.pid}.json`);
  const pinned = opts.cpu !== null && affinity.hasTaskset();
  const child = spawnNode(CONFIGS[config](out, opts.split), { cpu: pinned ? opts.cpu : null, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const [pid, port] = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = /listening (\d+) (\d+)/.exec(text);
      if (m) resolve([Number(m[1]), Number(m[2])]);
    });
    child.on('exit', () => reject(new Error(`${config} exited early: ${stderr}`)));
  });
  // A short warm-up at the same rate, then the measured window.
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: opts.connections, duration: 1, overallRate: opts.rate });
  const before = cpuMs(pid);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: opts.connections, duration: opts.seconds, overallRate: opts.rate });
  const used = cpuMs(pid) - before;
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const stopAt = process.hrtime.bigint();
  process.kill(config === 'plain' ? pid : child.pid, config === 'plain' ? 'SIGTERM' : 'SIGINT');
  await exited;
  const stopMs = Number(process.hrtime.bigint() - stopAt) / 1e6;
  const traceBytes = fs.existsSync(out) ? fs.statSync(out).size : 0;
  fs.rmSync(out, { force: true });
  const requests = result.requests.total;
  if (result.errors || result.non2xx || requests === 0) throw new Error(`${config}: ${result.errors} errors, ${result.non2xx} non-2xx, ${requests} requests`);
  return { config, requests, cpuMs: used, cpuUsPerRequest: (used * 1000) / requests, latencyP99Ms: result.latency.p99, stopMs, traceBytes };
}

async function run(opts) {
  requireBuilt();
  const autocannon = require('autocannon');
  const runs = [];
  const names = Object.keys(CONFIGS).filter((name) => CONFIGS[name]('', opts.split));
  for (let round = 0; round < opts.rounds; round++) {
    for (const config of rotate(names, round)) {
      const r = { round, ...(await runOnce(config, opts, autocannon)) };
      runs.push(r);
      process.stderr.write(`round ${round + 1}/${opts.rounds} ${config}: ${r.cpuUsPerRequest.toFixed(1)} µs CPU/request, p99 ${r.latencyP99Ms} ms\n`);
    }
  }
  console.log(`\`uvscope trace\` overhead: ${opts.rate} req/s for ${opts.seconds} s, ${opts.connections} connections, server ${opts.cpu === null ? 'unpinned' : `pinned to CPU ${opts.cpu}`}; Node ${process.version}; medians of ${opts.rounds} rounds`);
  console.log('config                  CPU µs/request  ratio  latency p99 ms  trace MB  stop+write ms');
  for (const { config, runs: mine, values, ratio } of statsLib.againstBaseline(runs, names, 'cpuUsPerRequest', 'plain')) {
    const med = (f) => statsLib.median(mine.map(f));
    console.log(
      `${config.padEnd(24)}${values.median.toFixed(1).padStart(14)}  ${ratio.median.toFixed(2).padStart(5)}` +
        `  ${med((r) => r.latencyP99Ms).toFixed(2).padStart(14)}  ${(med((r) => r.traceBytes) / 1e6).toFixed(1).padStart(8)}  ${med((r) => r.stopMs).toFixed(0).padStart(13)}`,
    );
  }
}

benchMain('trace-overhead', { parse: parseArgs, usage: USAGE, run });
