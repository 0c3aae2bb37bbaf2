'use strict';
// The Sentry watcher worker of bench/attribution.js's server, in the pattern of Sentry's
// event-loop-block integration: poll the registered threads' last-seen times every pollMs;
// once a thread is unseen for longer than the threshold, capture its stack and AsyncLocalStorage
// state (once per stall: re-armed when the thread is seen again). Each capture is posted with
// its times: the poll that saw it (captureStartNs) and when captureStackTrace() returned
// (capturedNs; for a thread inside a native call, once that call returned).
// workerData: { sentry (the package's path), thresholdMs, pollMs }.

const { parentPort, workerData } = require('node:worker_threads');
const { captureStackTrace, getThreadsLastSeen } = require(workerData.sentry);

const { thresholdMs, pollMs } = workerData;
const triggered = new Set();
setInterval(() => {
  for (const [thread, lastSeenMs] of Object.entries(getThreadsLastSeen())) {
    if (lastSeenMs <= thresholdMs) {
      triggered.delete(thread);
      continue;
    }
    if (triggered.has(thread)) continue;
    triggered.add(thread);
    const captureStartNs = process.hrtime.bigint();
    const captured = captureStackTrace()[thread];
    const capturedNs = process.hrtime.bigint();
    parentPort.postMessage({
      thread,
      lastSeenMs,
      captureStartNs,
      capturedNs,
      asyncState: captured?.asyncState ?? null,
      frames: captured?.frames ? captured.frames.slice(0, 8).map((f) => f.function) : null,
    });
  }
}, pollMs);
parentPort.postMessage('ready');
