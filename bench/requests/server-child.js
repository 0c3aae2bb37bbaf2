'use strict';
// Part (b) of bench/requests.js: an HTTP server doing one fs.promises.readFile and one
// crypto.pbkdf2 per request under one configuration. It talks to the parent over IPC: sends
// { port } once it listens, then answers 'begin' (start the measured window), 'end' (the
// window's CPU time, requests and what the monitor counted) and 'exit'. Options (JSON
// argument): { config, file, pbkdf2Iterations }.

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const { startConfig } = require('./configs');

const { config, file, pbkdf2Iterations } = JSON.parse(process.argv[2]);
const monitor = startConfig(config);
const salt = Buffer.from('uvscope-bench-salt');
let served = 0;
let errors = 0;
const server = http.createServer((req, res) => {
  fs.promises
    .readFile(file)
    .then((data) => new Promise((resolve, reject) => {
      crypto.pbkdf2(data.subarray(0, 64), salt, pbkdf2Iterations, 32, 'sha256', (e, key) => (e ? reject(e) : resolve(key)));
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
      config,
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
