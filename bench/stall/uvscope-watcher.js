'use strict';
// Watcher worker of bench/stall.js, uvscope: forwards every live report with the time it
// arrived here. workerData: { lib } (uvscope's lib/ folder).

const { parentPort, workerData } = require('node:worker_threads');
const { StallWatchdog } = require(workerData.lib);

StallWatchdog.onLiveReport((report) => {
  const arrivedNs = process.hrtime.bigint();
  parentPort.postMessage({ arrivedNs, report });
});
parentPort.postMessage('ready');
setInterval(() => {}, 1 << 30); // stay alive until terminated
