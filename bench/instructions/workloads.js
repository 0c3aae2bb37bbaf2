'use strict';
// The workloads bench/instructions.js counts instructions on, each with the configuration an
// issue's target compares against (baseline) and the one it measures (feature), and how one
// run of `count` units goes under a tool (tools.js). The measured processes are the other
// benches' children, unchanged: what they run per unit is what those benches time.
//   http-json  issue #25: bench/attribution/cost-server-child.js, a node:http server answering
//              a small JSON document; watchdog = new StallWatchdog({ requests: false }).start(),
//              requests = new StallWatchdog().start() (the request tracker on), none = uvscope
//              loaded, no watchdog (with --configs: what the watchdog itself costs)
//   stat-loop  issue #26 part 3: stat-loop-child.js (bench/requests/loop-child.js's callback
//              loop, driven over IPC), fs.stat(file, callback) one at a time; baseline = no
//              monitor, monitor = monitorPoolRequests() (bench/requests/configs.js)
//   http-file  issue #26 part 3: bench/requests/server-child.js, a node:http server reading a
//              16 KiB file (fs.promises.readFile) per request; baseline and monitor as above
// A run follows a plan: `warmup` units uncounted, then counted windows of `windows[i]` units
// (tools.js measureWindows). Each run checks that its configuration did what it claims (see
// each runner). A unit of an HTTP workload is one request from load-child.js (sequential, one
// keep-alive connection).

const path = require('node:path');
const { runChild, fail } = require('../lib/children');
const { startMeasured, measureWindows } = require('./tools');

const BENCH = path.join(__dirname, '..');
const COST_SERVER = path.join(BENCH, 'attribution', 'cost-server-child.js');
const FILE_SERVER = path.join(BENCH, 'requests', 'server-child.js');
const STAT_LOOP = path.join(__dirname, 'stat-loop-child.js');
const LOAD_CHILD = path.join(__dirname, 'load-child.js');

/** Sends `count` requests to `url`, one at a time; all must succeed. */
async function sendRequests(url, count, label) {
  const load = await runChild(LOAD_CHILD, { url, count }, { label: `load (${label})` });
  if (load.completed !== count || load.errors > 0) fail(`${label}: ${load.completed} of ${count} requests answered 200, ${load.errors} errors`);
  return load;
}

const totalOf = (plan) => plan.warmup + plan.windows.reduce((a, b) => a + b, 0);

/**
 * #25's server: the plan's requests (warm-up, then the counted windows), then one probe
 * request after which the server says how many requests the tracker's table held at its
 * start. Checks: the server served them all; the watchdog runs (watchdog, requests); the
 * tracker is subscribed and recorded the probe (requests only). The watchdog's threshold is
 * 60 s: under valgrind, its slow startup and callgrind's dump between two windows (every thread
 * stopped) made 1 s stalls, whose reports (a stack, the request read from the table) landed in
 * one configuration's windows and not the other's (seen: 1 per run, in 'requests' only). Stall
 * reports are still counted before and while counting.
 */
async function runCostServer(config, plan, tool, ctx) {
  const label = `http-json-${config}-${ctx.tag}`;
  const m = startMeasured(tool, ctx.dir, label, [...(ctx.nodeFlags ?? []), COST_SERVER, JSON.stringify({ config, thresholdMs: 60_000 })], { ipc: true, serialization: 'advanced' });
  const { port } = await m.messages.next((msg) => msg?.type === 'listening');
  const url = `http://127.0.0.1:${port}/`;
  m.child.send('begin');
  let stallsBefore = 0;
  const beforeCounting = async () => {
    m.child.send('end');
    stallsBefore = (await m.messages.next((msg) => msg?.type === 'window')).stalls;
  };
  const windows = await measureWindows(m, plan, (n) => sendRequests(url, n, label), { beforeCounting });
  m.child.send('probe');
  await m.messages.next((msg) => msg?.type === 'probe armed');
  await sendRequests(url, 1, `${label} probe`);
  const probe = await m.messages.next((msg) => msg?.type === 'probe');
  m.child.send('end');
  const window = await m.messages.next((msg) => msg?.type === 'window');
  m.child.send('exit');
  const counts = await m.done;
  const total = totalOf(plan);
  if (window.requests !== total + 1) fail(`${label}: the server served ${window.requests} requests, ${total + 1} sent`);
  if (window.watching !== (config !== 'none')) fail(`${label}: the watchdog is ${window.watching ? '' : 'not '}running`);
  const tracking = config === 'requests';
  if (window.tracking !== tracking) fail(`${label}: the request tracker is ${window.tracking ? '' : 'not '}subscribed`);
  if (probe.inFlight !== (tracking ? 1 : 0)) fail(`${label}: ${probe.inFlight} request(s) in the tracker's table at a request's start`);
  return { ...counts, windows, checks: { stallsBeforeCounting: stallsBefore, stallsWhileCounted: window.stalls - stallsBefore, watchdog: window.watching, trackerRecordedProbe: probe.inFlight === 1 } };
}

/** #26's fs.stat loop: the plan's calls; with the monitor, it counted exactly those, as fs.stat and nothing else. */
async function runStatLoop(config, plan, tool, ctx) {
  const label = `stat-loop-${config}-${ctx.tag}`;
  const m = startMeasured(tool, ctx.dir, label, [...(ctx.nodeFlags ?? []), STAT_LOOP, JSON.stringify({ config })], { ipc: true });
  await m.messages.next((msg) => msg?.type === 'ready');
  let last;
  const windows = await measureWindows(m, plan, async (calls) => {
    m.child.send({ calls });
    last = await m.messages.next((msg) => msg?.type === 'done');
  });
  m.child.send('exit');
  const counts = await m.done;
  const total = totalOf(plan);
  let checks = {};
  if (config === 'monitor') {
    if (last.counted !== total || last.kinds.length !== 1) fail(`${label}: the monitor counted ${last.counted} fs.stat (kinds ${last.kinds.join(', ')}) for ${total} calls`);
    checks = { monitorCounted: last.counted };
  }
  return { ...counts, windows, checks };
}

/** #26's HTTP server: the plan's requests reading ctx.file; with the monitor, it counted at least one fs request per HTTP request. */
async function runFileServer(config, plan, tool, ctx) {
  const label = `http-file-${config}-${ctx.tag}`;
  const options = { config, mode: 'process', file: ctx.file, work: 'file' };
  const m = startMeasured(tool, ctx.dir, label, [...(ctx.nodeFlags ?? []), FILE_SERVER, JSON.stringify(options)], { ipc: true });
  const { port } = await m.messages.next((msg) => msg?.port !== undefined);
  const url = `http://127.0.0.1:${port}/`;
  m.child.send('begin');
  const windows = await measureWindows(m, plan, (n) => sendRequests(url, n, label));
  m.child.send('end');
  const window = await m.messages.next((msg) => msg?.mode === 'process');
  m.child.send('exit');
  const counts = await m.done;
  const total = totalOf(plan);
  if (window.requests !== total || window.errors > 0) fail(`${label}: the server answered ${window.requests} requests, ${window.errors} errors, for ${total} sent`);
  let checks = {};
  if (config === 'monitor') {
    const kinds = window.kinds ?? {};
    const counted = Object.values(kinds).reduce((a, b) => a + b, 0);
    if (counted < total) fail(`${label}: the monitor counted ${counted} pool requests (${JSON.stringify(kinds)}) for ${total} HTTP requests`);
    checks = { monitorKindsPerRequest: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, n / total])) };
  }
  return { ...counts, windows, checks };
}

const WORKLOADS = {
  'http-json': {
    issue: '#25',
    what: 'node:http server, a small JSON answer per request (attribution/cost-server-child.js)',
    unit: 'request',
    baseline: 'watchdog',
    feature: 'requests',
    optional: ['none'],
    target: 1.03,
    plan: { warmup: 10000, windows: [1500, 1500] },
    quickPlan: { warmup: 1000, windows: [200, 200] },
    run: runCostServer,
  },
  'stat-loop': {
    issue: '#26.3',
    what: 'fs.stat(file, callback), one at a time (stat-loop-child.js)',
    unit: 'call',
    baseline: 'baseline',
    feature: 'monitor',
    optional: [],
    target: 1.05,
    plan: { warmup: 40000, windows: [10000, 10000] },
    quickPlan: { warmup: 5000, windows: [1000, 1000] },
    run: runStatLoop,
  },
  'http-file': {
    issue: '#26.3',
    what: 'node:http server, fs.promises.readFile of 16 KiB per request (requests/server-child.js)',
    unit: 'request',
    baseline: 'baseline',
    feature: 'monitor',
    optional: [],
    target: 1.03,
    plan: { warmup: 10000, windows: [1500, 1500] },
    quickPlan: { warmup: 1000, windows: [200, 200] },
    run: runFileServer,
  },
};

module.exports = { WORKLOADS };
