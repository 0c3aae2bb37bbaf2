'use strict';
// The fs.stat loop of bench/instructions.js, driven over IPC so that the parent can switch
// valgrind's counting on between phases: bench/requests/loop-child.js's callback loop (one
// fs.stat at a time) under one of bench/requests/configs.js's configurations, started at once.
// { calls: n } runs n more calls and answers { type: 'done', counted } (what the monitor counted
// as fs.stat so far, -1 without a monitor); 'exit' stops the configuration and ends the
// process. Options (JSON argument): { config }.

const fs = require('node:fs');
const { startConfig } = require('../requests/configs');

const { config } = JSON.parse(process.argv[2]);
const running = startConfig(config);
const file = __filename;

function statCallbackLoop(calls, done) {
  let left = calls;
  const next = (error) => {
    if (error) throw error;
    if (left-- === 0) return done();
    fs.stat(file, next);
  };
  next();
}

process.on('message', (message) => {
  if (message === 'exit') {
    running.stop();
    process.exit(0);
  }
  statCallbackLoop(message.calls, () => {
    const counted = running.monitor ? running.monitor.stats().requests['fs.stat']?.completed ?? 0 : -1;
    process.send({ type: 'done', counted, kinds: running.monitor ? Object.keys(running.monitor.stats().requests) : [] });
  });
});
process.send({ type: 'ready' });
