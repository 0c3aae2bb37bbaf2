'use strict';
// The uvscope watcher worker of bench/attribution.js's server: every live report of the
// process's watchdogs (StallWatchdog.onLiveReport), with the time it arrived here, posted to
// the server's main thread (which keeps them until the parent asks). workerData: { lib }.

const { parentPort, workerData } = require('node:worker_threads');
const { StallWatchdog } = require(workerData.lib);

StallWatchdog.onLiveReport((report) => {
  const arrivedNs = process.hrtime.bigint();
  parentPort.postMessage({ arrivedNs, report });
});
parentPort.postMessage('ready');
setInterval(() => {}, 1 << 30); // stay alive until terminated
