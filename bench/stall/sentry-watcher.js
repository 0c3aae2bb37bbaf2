'use strict';
// Watcher worker of bench/stall.js, in Sentry's pattern: poll the watched threads' last-seen
// times, capture a thread's stack once it is past the threshold. workerData: { sentry (the
// addon's path), thresholdMs, pollMs }.

const { parentPort, workerData } = require('node:worker_threads');
const { captureStackTrace, getThreadsLastSeen } = require(workerData.sentry);

const { thresholdMs, pollMs } = workerData;
const triggered = new Set();
setInterval(() => {
  const polledNs = process.hrtime.bigint();
  for (const [thread, lastSeenMs] of Object.entries(getThreadsLastSeen())) {
    if (lastSeenMs > thresholdMs) {
      if (triggered.has(thread)) continue;
      triggered.add(thread);
      const captureStartNs = process.hrtime.bigint();
      const stacks = captureStackTrace();
      const capturedNs = process.hrtime.bigint();
      parentPort.postMessage({ thread, lastSeenMs, polledNs, captureStartNs, capturedNs, frames: stacks[thread]?.frames ?? null });
    } else {
      triggered.delete(thread);
    }
  }
}, pollMs);
parentPort.postMessage('ready');
