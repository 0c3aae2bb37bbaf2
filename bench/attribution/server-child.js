'use strict';
/*
 * The server of bench/attribution.js part (a): a node:http server under load whose requests
 * the parent turns into blocks (blocks.js), watched by one contender:
 *
 *   uvscope  new StallWatchdog({ thresholdMs, context: { storage, fields: { url } } }): requests
 *            on (the default, nothing else to do), and the user's context read from the same
 *            AsyncLocalStorage Sentry reads; a worker (bench/stall/uvscope-watcher.js, shared with bench:stall) takes every live
 *            report (StallWatchdog.onLiveReport) with the time it arrived; 'stall' events here.
 *   sentry   @sentry-internal/node-native-stacktrace as Sentry's event-loop-block integration
 *            drives it: registerThread({ asyncLocalStorage, stateLookup: ['_currentContext',
 *            key] }), threadPoll() every threshold/2 from a timer here, and a worker
 *            (sentry-watcher.js) polling getThreadsLastSeen() every threshold/2 and calling
 *            captureStackTrace() once the thread is unseen for longer than the threshold.
 *
 * Every request runs inside als.run(store) as OpenTelemetry's http instrumentation does (the
 * store's `_currentContext` is a Map whose Symbol key holds { method, url }; the request's
 * listeners bound to it), whatever the contender, so both servers do the same work.
 *
 * Routes: GET /work (a 2 ms timer, then a small JSON answer: the load), and the blocks:
 * GET /block/regex?n=, POST /block/json (the body joined and JSON.parse'd in the request's 'end'),
 * GET /block/pbkdf2?iterations=, GET /block/atomics?ms=, GET /block/fifo (readFileSync of
 * options.fifoPath). With options.await each block runs after two awaits (a framework's hooks).
 * Each block is timed (process.hrtime.bigint() around the call).
 *
 * IPC with the parent (advanced serialization: bigints travel): sends { type: 'listening',
 * port }; answers 'results' with everything recorded, and ends on 'exit'.
 * Options (JSON argument): { contender, thresholdMs, fifoPath, await }.
 */

const http = require('node:http');
const path = require('node:path');
const { AsyncLocalStorage } = require('node:async_hooks');
const { Worker } = require('node:worker_threads');
const { LIB } = require('../lib/main');
const { regexCulprit, jsonCulprit, pbkdf2Culprit, atomicsCulprit, fifoCulprit } = require('./blocks');

const options = JSON.parse(process.argv[2]);
const { contender, thresholdMs, fifoPath } = options;

const als = new AsyncLocalStorage();
/** The key of the request's entry in the store, as OpenTelemetry keys its context entries. */
const REQUEST_KEY = Symbol('bench.request');

const blocks = [];
const stalls = [];
let served = 0;
let errors = 0;

/** Starts worker `file` (this folder); its messages other than 'ready' are kept. */
function startWorker(file, workerData) {
  const worker = new Worker(path.join(__dirname, file), { workerData });
  const messages = [];
  const ready = new Promise((resolve, reject) => {
    worker.on('message', (message) => {
      if (message === 'ready') resolve();
      else messages.push(message);
    });
    worker.once('error', reject);
  });
  return { worker, messages, ready };
}

async function startContender() {
  if (contender === 'uvscope') {
    const { StallWatchdog } = require(LIB);
    const watcher = startWorker('../stall/uvscope-watcher.js', { lib: LIB });
    await watcher.ready;
    const watchdog = new StallWatchdog({
      thresholdMs,
      context: { storage: als, fields: { url: ['_currentContext', REQUEST_KEY.description, 'url'] } },
    }).start();
    watchdog.on('stall', (event) => stalls.push(event));
    return { watcher, close: () => watchdog.close() };
  }
  if (contender === 'sentry') {
    const sentry = require.resolve('@sentry-internal/node-native-stacktrace');
    const { registerThread, threadPoll } = require(sentry);
    registerThread({ asyncLocalStorage: als, stateLookup: ['_currentContext', REQUEST_KEY] });
    const pollMs = thresholdMs / 2; // the integration's POLL_RATIO, both sides
    threadPoll();
    const poll = setInterval(() => threadPoll(), pollMs);
    const watcher = startWorker('sentry-watcher.js', { sentry, thresholdMs, pollMs });
    await watcher.ready;
    return { watcher, close: () => clearInterval(poll) };
  }
  throw new Error(`unknown contender ${contender}`);
}

/** Runs `culprit(arg)` timed, records the block, answers. */
function block(req, res, kind, culprit, arg) {
  const t0 = process.hrtime.bigint();
  culprit(arg);
  const t1 = process.hrtime.bigint();
  blocks.push({ kind, url: req.url, t0, t1 });
  res.end('blocked');
}

/**
 * `fn` run in the store current now, as OpenTelemetry's http instrumentation binds a request's
 * listeners to its context (an emitter's events otherwise run in the socket's context).
 */
function bound(fn) {
  const store = als.getStore();
  return (...args) => als.run(store, fn, ...args);
}

const afterAwaits = async (run) => {
  await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
  run();
};

function route(req, res) {
  const url = new URL(req.url, 'http://bench');
  const param = (name) => Number(url.searchParams.get(name));
  const run = (fn) => (options.await ? afterAwaits(fn) : fn());
  switch (url.pathname) {
    case '/work':
      setTimeout(() => {
        served++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ok: true, url: req.url, at: Date.now() }));
      }, 2);
      return;
    case '/block/regex':
      return run(() => block(req, res, 'regex', regexCulprit, param('n')));
    case '/block/pbkdf2':
      return run(() => block(req, res, 'pbkdf2', pbkdf2Culprit, param('iterations')));
    case '/block/atomics':
      return run(() => block(req, res, 'atomics', atomicsCulprit, param('ms')));
    case '/block/fifo':
      return run(() => block(req, res, 'fifo', fifoCulprit, fifoPath));
    case '/block/json': {
      const chunks = [];
      req.on('data', bound((chunk) => chunks.push(chunk)));
      // The block is the whole 'end' callback: the body joined, decoded and parsed.
      req.on('end', bound(() => run(() => block(req, res, 'json', (parts) => jsonCulprit(Buffer.concat(parts).toString('utf8')), chunks))));
      return;
    }
    default:
      errors++;
      res.statusCode = 404;
      res.end();
  }
}

async function main() {
  const monitor = await startContender();
  const server = http.createServer((req, res) => {
    const store = { _currentContext: new Map([[REQUEST_KEY, { method: req.method, url: req.url }]]) };
    als.run(store, () => route(req, res));
  });
  server.keepAliveTimeout = 60_000;
  process.on('message', (message) => {
    if (message === 'results') {
      process.send({ type: 'results', contender, node: process.version, blocks, stalls, watcher: monitor.watcher.messages, served, errors });
    } else if (message === 'exit') {
      monitor.close();
      monitor.watcher.worker.terminate().then(() => {
        server.close(() => process.exit(0));
        server.closeAllConnections();
      });
    }
  });
  server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
}

main().catch((error) => {
  process.stderr.write(`[server ${contender}] ${error.stack}\n`);
  process.exit(1);
});
