'use strict';
/*
 * One block under one stall detector, the child of bench/stall.js. Options (JSON argument):
 * { tool: 'uvscope' | 'sentry', block: 'js' | 'native', thresholdMs, jsMs, iterations }.
 *
 *   uvscope  StallWatchdog({ thresholdMs, stacks: 'auto', file: fd 3 when the parent gave a
 *            pipe there }); the worker uvscope-watcher.js timestamps each live report.
 *   sentry   registerThread() and threadPoll() every threshold/2 from a JS interval here; the
 *            worker sentry-watcher.js polls and captures the stack.
 *
 * The block starts in a timer callback after a random delay, so it falls anywhere between the
 * heartbeats of either tool. Answers with the times (ms after the block began) and what each
 * tool reported.
 */

const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { childMain } = require('../lib/children');
const { LIB } = require('../lib/main');
const { busyCulprit, nativeCulprit, CULPRIT, msSince } = require('./blocks');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the watcher worker `file` (in this folder); messages other than 'ready' are kept. */
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

const onStack = (frames, name, key) => Array.isArray(frames) && frames.some((f) => f[key] === name);

/** uvscope's first live report (and the 'stall' event, once the loop turned) into `result`. */
function uvscopeResult(result, reports, stallEvent, culpritName, t0) {
  const first = reports[0];
  result.liveReports = reports.length;
  if (first) {
    const r = first.report;
    result.firstReportAtMs = msSince(r.atNs, t0); // made by the watchdog thread
    result.firstArrivedMs = msSince(first.arrivedNs, t0); // arrived in the watcher worker
    result.elapsedMs = r.elapsedNs / 1e6; // the watchdog's own account of the blocked time
    result.phase = r.phase;
    result.captureMs = r.stackCaptureNs === undefined ? null : r.stackCaptureNs / 1e6;
    result.stackFrames = r.stack ? r.stack.length : null;
    result.culpritOnStack = r.stack ? onStack(r.stack, culpritName, 'functionName') : null;
    result.topFrames = r.stack ? r.stack.slice(0, 3).map((f) => f.functionName || '(anonymous)') : null;
    result.inNative = r.inNative ?? false;
    result.stackUnavailable = r.stackUnavailable ?? null;
  }
  if (stallEvent) {
    result.stallDurationMs = stallEvent.durationNs / 1e6;
    result.stallReports = stallEvent.reportCount;
    if (stallEvent.lateStack) {
      result.lateStackAtMs = msSince(stallEvent.lateStack.capturedAtNs, t0);
      result.lateStackCulprit = onStack(stallEvent.lateStack.frames, culpritName, 'functionName');
      result.lateTopFrames = stallEvent.lateStack.frames.slice(0, 3).map((f) => f.functionName || '(anonymous)');
    }
  }
}

/** Sentry's first capture (of the main thread, '0') into `result`. */
function sentryResult(result, messages, culpritName, t0) {
  const first = messages.find((m) => m.thread === '0') ?? messages[0];
  result.liveReports = messages.length;
  if (first) {
    result.detectedMs = msSince(first.captureStartNs, t0); // the poll that saw the thread late
    result.firstArrivedMs = msSince(first.capturedNs, t0); // the report, stack included
    result.elapsedMs = first.lastSeenMs;
    result.captureMs = Number(first.capturedNs - first.captureStartNs) / 1e6;
    result.stackFrames = first.frames ? first.frames.length : null;
    result.culpritOnStack = first.frames ? onStack(first.frames, culpritName, 'function') : null;
    result.topFrames = first.frames ? first.frames.slice(0, 3).map((f) => f.function) : null;
    // A capture that returned when the block ended took the stack as the native call returned
    // (the interrupt runs in JavaScript inside pbkdf2Sync, a moment before the block's end time).
    result.capturedAfterBlock = first.capturedNs >= t0 + BigInt(Math.round((result.blockMs - 20) * 1e6));
  }
}

async function runBlock({ tool, block, thresholdMs, jsMs, iterations }) {
  const culpritName = CULPRIT[block];
  const blockNow = block === 'js' ? () => busyCulprit(jsMs) : () => nativeCulprit(iterations);
  const result = { tool, block, thresholdMs };
  let watcher;
  let watchdog;
  let poll;
  let stallEvent = null;

  if (tool === 'uvscope') {
    const { StallWatchdog } = require(LIB);
    watcher = startWorker('uvscope-watcher.js', { lib: LIB });
    await watcher.ready;
    // fd 3 is a pipe to the parent (when it gave one): the watchdog's report file.
    let file;
    try {
      fs.fstatSync(3);
      file = 3;
    } catch {}
    watchdog = new StallWatchdog({ thresholdMs, stacks: 'auto', file }).start();
    watchdog.on('stall', (event) => { stallEvent = event; });
  } else {
    const sentry = require.resolve('@sentry-internal/node-native-stacktrace');
    const { registerThread, threadPoll } = require(sentry);
    registerThread();
    const pollMs = thresholdMs / 2; // Sentry's integration: threshold / POLL_RATIO (2), both sides
    threadPoll();
    poll = setInterval(() => threadPoll(), pollMs);
    watcher = startWorker('sentry-watcher.js', { sentry, thresholdMs, pollMs });
    await watcher.ready;
  }

  // Let both sides settle, then block at a random moment relative to either tool's beats.
  await sleep(300 + Math.random() * thresholdMs);
  await new Promise((resolve) => {
    setTimeout(() => {
      const t0 = process.hrtime.bigint();
      blockNow();
      const t1 = process.hrtime.bigint();
      result.blockStartNs = String(t0);
      result.blockMs = Number(t1 - t0) / 1e6;
      resolve();
    }, 1);
  });
  const t0 = BigInt(result.blockStartNs);
  // The loop turns again: the 'stall' event comes through an async handle, Sentry's capture of
  // a native block returns once the call does; give both time to arrive.
  await sleep(200);
  if (tool === 'uvscope' && watchdog.stats().stalls > 0 && !stallEvent) await sleep(300);

  if (tool === 'uvscope') {
    uvscopeResult(result, watcher.messages, stallEvent, culpritName, t0);
    watchdog.close();
  } else {
    clearInterval(poll);
    sentryResult(result, watcher.messages, culpritName, t0);
  }
  await watcher.worker.terminate();
  return result;
}

childMain(runBlock, { label: (options) => options.tool });
