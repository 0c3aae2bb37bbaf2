'use strict';
// Part (b) of bench/requests.js: an HTTP server doing, per request, one fs.promises.readFile of a
// small file (work 'file'), or that and one crypto.pbkdf2 (work 'file+pbkdf2'). It talks to the
// parent over IPC: sends { port } once it listens, then answers
//   'begin' / 'end'   (mode process: the configuration runs all along) the measured window's
//                     CPU time, requests and what the monitor counted;
//   { alternate }     (mode alternate) after one unmeasured pair, runs `pairs` pairs of windows
//                     of `windowMs`, one under the configuration and one under none (order
//                     flipping every pair), each measured after `settleMs` under its state (code
//                     the switch deoptimised runs slower until V8 optimises it again), and sends
//                     them when done;
//   'exit'.
// Options (JSON argument): { config, mode, file, work, pbkdf2Iterations, priorLib }.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { startConfig } = require('./configs');

const { config, mode, file, work, pbkdf2Iterations, priorLib } = JSON.parse(process.argv[2]);
const salt = Buffer.from('uvscope-bench-salt');
let served = 0;
let errors = 0;

const respond = (res, body) => {
  served++;
  res.end(body);
};
const handle =
  work === 'file+pbkdf2'
    ? (res) =>
      fs.promises
        .readFile(file)
        .then((data) => new Promise((resolve, reject) => {
          crypto.pbkdf2(data.subarray(0, 64), salt, pbkdf2Iterations, 32, 'sha256', (e, key) => (e ? reject(e) : resolve(key)));
        }))
        .then((key) => respond(res, key.toString('hex')))
    : (res) => fs.promises.readFile(file).then((data) => respond(res, data.subarray(0, 32).toString('hex')));

const server = http.createServer((req, res) => {
  handle(res).catch(() => {
    errors++;
    res.statusCode = 500;
    res.end();
  });
});

/** Requests the monitor counted, by kind, and its in-flight figures. */
function monitorCounts(monitor) {
  const s = monitor.stats();
  return {
    kinds: Object.fromEntries(Object.entries(s.requests).map(([kind, k]) => [kind, k.completed + k.failed])),
    inFlight: s.inFlight,
    promiseHooks: s.promiseHooks,
    asyncHooks: s.asyncHooks,
  };
}

const snapshot = () => ({ cpu: process.cpuUsage(), wall: process.hrtime.bigint(), served, errors });
function since(start) {
  const cpu = process.cpuUsage(start.cpu);
  return {
    requests: served - start.served,
    errors: errors - start.errors,
    seconds: Number(process.hrtime.bigint() - start.wall) / 1e9,
    cpuUs: cpu.user + cpu.system,
  };
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function alternate({ pairs, windowMs, settleMs }) {
  // One pair before measuring: the first switches compile and deoptimise what the configuration touches.
  for (const withConfig of [true, false]) {
    const state = withConfig ? startConfig(config, priorLib) : null;
    await delay(windowMs + settleMs);
    state?.stop();
  }
  const windows = [];
  for (let pair = 0; pair < pairs; pair++) {
    for (const withConfig of pair % 2 ? [false, true] : [true, false]) {
      const state = withConfig ? startConfig(config, priorLib) : null;
      await delay(settleMs);
      state?.monitor?.reset();
      const start = snapshot();
      await delay(windowMs);
      const window = { withConfig, ...since(start) };
      if (state?.monitor) Object.assign(window, monitorCounts(state.monitor));
      state?.stop();
      windows.push(window);
    }
  }
  return { config, mode: 'alternate', windows };
}

// Mode process: the configuration runs from the start, through the warm-up load.
let running = mode === 'process' ? startConfig(config, priorLib) : null;
let window = null;
process.on('message', (message) => {
  if (message === 'begin') {
    running.monitor?.reset();
    window = snapshot();
  } else if (message === 'end') {
    const result = { config, mode: 'process', ...since(window) };
    if (running.monitor) Object.assign(result, monitorCounts(running.monitor));
    process.send(result);
  } else if (message?.alternate) {
    alternate(message.alternate).then((result) => process.send(result));
  } else if (message === 'exit') {
    running?.stop();
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  }
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
