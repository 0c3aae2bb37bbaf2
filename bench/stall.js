#!/usr/bin/env node
'use strict';
/*
 * How soon, and with what, do the two stall detectors report a blocked event loop?
 *
 *   uvscope  StallWatchdog({ thresholdMs, stacks: 'auto', file: <pipe to the parent> }) on the main
 *            thread; a worker subscribes with StallWatchdog.onLiveReport and timestamps each
 *            report as it arrives there; the parent timestamps each report line from the pipe.
 *   sentry   @sentry-internal/node-native-stacktrace in the pattern its README and Sentry's own
 *            integration use: the main thread calls registerThread() and threadPoll() from a JS
 *            interval every threshold/2; a worker calls getThreadsLastSeen() every threshold/2
 *            and captureStackTrace() once a thread has not been seen for more than the threshold.
 *
 * Blocks, each in a fresh child process (one tool per child):
 *   js      a 2 s busy loop in a named function (busyCulprit)
 *   native  crypto.pbkdf2Sync in a named function (nativeCulprit), sized to about 600 ms on this
 *           machine by a calibration in a child first
 * The block starts in a timer callback after a random delay, so it falls anywhere between the
 * heartbeats of either tool. Its start is process.hrtime.bigint() taken right before the call
 * (CLOCK_MONOTONIC: the clock of uvscope's atNs and of every thread and process here).
 *
 * Rounds interleave blocks and rotate the tool order. Children are not pinned by default: the
 * watcher threads should be free to run on the other vCPU, as they would in production
 * (--cpu N pins every child to one CPU, watchers included).
 *
 *   node bench/stall.js [--rounds R] [--threshold-ms T] [--js-ms M] [--native-ms M]
 *                       [--cpu N|none] [--json FILE] [--quick]
 */

const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const statsLib = require('./lib/stats');
const { intArg, eachFlag } = require('./lib/args');
const { renderTable, formatDuration } = require('./lib/table');
const affinity = require('./lib/affinity');

const TOOLS = ['uvscope', 'sentry'];
const BLOCKS = ['js', 'native'];
const CULPRIT = { js: 'busyCulprit', native: 'nativeCulprit' };
const DEFAULTS = { rounds: 6, thresholdMs: 300, jsMs: 2000, nativeMs: 600 };
const QUICK = { rounds: 2 };
/** Targets from the issue: first live report <= threshold + 20 ms; stack capture <= 5 ms (JS block). */
const REPORT_SLACK_MS = 20;
const CAPTURE_TARGET_MS = 5;

// ---------------------------------------------------------------------------------------
// Arguments

function usage() {
  return `usage: node bench/stall.js [options]
  --rounds R        rounds; each runs both blocks with both tools (default ${DEFAULTS.rounds})
  --threshold-ms T  stall threshold of both tools (default ${DEFAULTS.thresholdMs})
  --js-ms M         length of the JavaScript block (default ${DEFAULTS.jsMs})
  --native-ms M     target length of the pbkdf2Sync block (default ${DEFAULTS.nativeMs})
  --cpu N|none      pin every child (watcher threads included) to CPU N (default none)
  --quick           ${QUICK.rounds} rounds
  --json FILE       also write every run and the summary as JSON
  --help`;
}

function parseArgs(argv) {
  const opts = {};
  eachFlag(argv, (flag, value, arg) => {
    switch (flag) {
      case '--rounds': opts.rounds = intArg(flag, value(), 1); break;
      case '--threshold-ms': opts.thresholdMs = intArg(flag, value(), 10); break;
      case '--js-ms': opts.jsMs = intArg(flag, value(), 1); break;
      case '--native-ms': opts.nativeMs = intArg(flag, value(), 1); break;
      case '--cpu': { const v = value(); opts.cpu = v === 'none' ? 'none' : intArg(flag, v, 0); break; }
      case '--quick': opts.quick = true; break;
      case '--json': opts.json = value(); break;
      case '--child': opts.child = value(); break;
      case '--block': opts.block = value(); break;
      case '--iterations': opts.iterations = intArg(flag, value(), 1); break;
      case '--help': case '-h': opts.help = true; break;
      default: throw new Error(`unknown argument ${arg}\n${usage()}`);
    }
  });
  Object.assign(opts, { ...DEFAULTS, ...(opts.quick ? QUICK : {}), ...opts });
  opts.cpu ??= 'none';
  return opts;
}

// ---------------------------------------------------------------------------------------
// The blocks. Named functions: the culprit each tool should find on the stack.

function busyCulprit(ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let x = 0;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 10_000; i++) x = (x * 31 + i) | 0;
  }
  return x;
}

function nativeCulprit(iterations) {
  return require('node:crypto').pbkdf2Sync('uvscope', 'bench-salt', iterations, 64, 'sha512');
}

// ---------------------------------------------------------------------------------------
// Children

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Calibration child: pbkdf2Sync iterations for opts.nativeMs here. */
function runCalibration(opts) {
  const time = (iterations) => {
    const t0 = process.hrtime.bigint();
    nativeCulprit(iterations);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  time(10_000); // warm-up
  const probe = 50_000;
  const probeMs = statsLib.median([time(probe), time(probe), time(probe)]);
  let iterations = Math.round((probe * opts.nativeMs) / probeMs);
  const checkMs = time(iterations);
  iterations = Math.round((iterations * opts.nativeMs) / checkMs);
  return { iterations, probeMs, checkMs };
}

/** Watcher worker, uvscope: forwards every live report with the time it arrived here. */
const UVSCOPE_WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const { StallWatchdog } = require(workerData.lib);
StallWatchdog.onLiveReport((report) => {
  const arrivedNs = process.hrtime.bigint();
  parentPort.postMessage({ arrivedNs, report });
});
parentPort.postMessage('ready');
setInterval(() => {}, 1 << 30); // stay alive until terminated
`;

/** Watcher worker, Sentry's pattern: poll last-seen times, capture once past the threshold. */
const SENTRY_WATCHER = `
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
`;

function startWorker(source, workerData) {
  const { Worker } = require('node:worker_threads');
  const worker = new Worker(source, { eval: true, workerData });
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
const msSince = (ns, t0) => (ns === undefined || ns === null ? null : Number(BigInt(ns) - t0) / 1e6);

async function runBlockChild(opts) {
  const { block, child: tool, thresholdMs } = opts;
  const culpritName = CULPRIT[block];
  const runBlock = block === 'js' ? () => busyCulprit(opts.jsMs) : () => nativeCulprit(opts.iterations);
  const result = { tool, block, thresholdMs };
  let watcher;
  let watchdog;
  let poll;
  let stallEvent = null;

  if (tool === 'uvscope') {
    const lib = path.resolve(__dirname, '..', 'lib');
    const { StallWatchdog } = require(lib);
    watcher = startWorker(UVSCOPE_WATCHER, { lib });
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
    watcher = startWorker(SENTRY_WATCHER, { sentry, thresholdMs, pollMs });
    await watcher.ready;
  }

  // Let both sides settle, then block at a random moment relative to either tool's beats.
  await sleep(300 + Math.random() * thresholdMs);
  await new Promise((resolve) => {
    setTimeout(() => {
      const t0 = process.hrtime.bigint();
      runBlock();
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
    const reports = watcher.messages;
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
    watchdog.close();
  } else {
    clearInterval(poll);
    const first = watcher.messages.find((m) => m.thread === '0') ?? watcher.messages[0];
    result.liveReports = watcher.messages.length;
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
  await watcher.worker.terminate();
  return result;
}

// ---------------------------------------------------------------------------------------
// Parent

function childArgs(extra) {
  return [__filename, ...extra];
}

function calibrate(opts) {
  const [command, args] = affinity.nodeCommand(opts.cpu === 'none' ? null : opts.cpu,
    childArgs(['--child', 'calibrate', '--native-ms', String(opts.nativeMs)]));
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) throw new Error(`the calibration child failed (exit ${result.status})`);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

/** One block in a fresh child; uvscope children get a pipe on fd 3 for the report file. */
function spawnBlock(opts, tool, block, iterations) {
  return new Promise((resolve, reject) => {
    const extra = ['--child', tool, '--block', block, '--threshold-ms', String(opts.thresholdMs),
      '--js-ms', String(opts.jsMs), '--iterations', String(iterations)];
    const [command, args] = affinity.nodeCommand(opts.cpu === 'none' ? null : opts.cpu, childArgs(extra));
    const stdio = ['ignore', 'pipe', 'inherit'];
    if (tool === 'uvscope') stdio.push('pipe');
    const child = spawn(command, args, { stdio });
    let out = '';
    const fileLines = [];
    child.stdout.setEncoding('utf8').on('data', (chunk) => { out += chunk; });
    if (tool === 'uvscope') {
      let pending = '';
      child.stdio[3].setEncoding('utf8').on('data', (chunk) => {
        const arrivedNs = process.hrtime.bigint();
        pending += chunk;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          fileLines.push({ arrivedNs, line: pending.slice(0, nl) });
          pending = pending.slice(nl + 1);
        }
      });
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`the ${tool}/${block} child failed (exit ${code}, signal ${signal})`));
        return;
      }
      const result = JSON.parse(last);
      if (fileLines.length) {
        const { parseStallReport } = require(path.resolve(__dirname, '..', 'lib'));
        const firstLine = parseStallReport(fileLines[0].line);
        result.fileLines = fileLines.length;
        result.fileArrivedMs = msSince(fileLines[0].arrivedNs, BigInt(result.blockStartNs));
        result.fileReportAtMs = msSince(firstLine.atNs, BigInt(result.blockStartNs));
      }
      resolve(result);
    });
  });
}

const fmt = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
function medRange(values, digits = 1) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  if (!v.length) return 'n/a';
  return `${fmt(statsLib.median(v), digits)} (${fmt(statsLib.min(v), digits)}-${fmt(statsLib.max(v), digits)})`;
}
const count = (runs, pred) => `${runs.filter(pred).length}/${runs.length}`;

function summarize(runs, opts) {
  const limitMs = opts.thresholdMs + REPORT_SLACK_MS;
  const groups = [];
  for (const block of BLOCKS) {
    for (const tool of TOOLS) {
      const mine = runs.filter((r) => r.tool === tool && r.block === block);
      const arrivals = mine.map((r) => r.firstArrivedMs ?? Infinity);
      const captures = mine.map((r) => r.captureMs).filter((x) => x !== null && x !== undefined);
      groups.push({
        tool,
        block,
        runs: mine,
        worstArrivalMs: statsLib.max(arrivals),
        reportTarget: statsLib.max(arrivals) <= limitMs,
        worstCaptureMs: captures.length ? statsLib.max(captures) : null,
        captureTarget: block === 'js' && captures.length ? statsLib.max(captures) <= CAPTURE_TARGET_MS : null,
      });
    }
  }
  return groups;
}

function report(groups, opts, meta) {
  const out = [];
  const limitMs = opts.thresholdMs + REPORT_SLACK_MS;
  out.push(`## Stall detection: uvscope StallWatchdog vs @sentry-internal/node-native-stacktrace`);
  out.push('');
  out.push(`node ${meta.node}; threshold ${opts.thresholdMs} ms; ${opts.rounds} round(s), each block in a fresh child per tool; ` +
    `js = ${opts.jsMs} ms busy loop in busyCulprit(), native = pbkdf2Sync(${meta.iterations} iterations, sha512) in nativeCulprit() ` +
    `(calibrated to ${opts.nativeMs} ms: probe ${fmt(meta.calibration.checkMs)} ms); children ${opts.cpu === 'none' ? 'not pinned' : `pinned to CPU ${opts.cpu}`}; ` +
    `stack addon: ${meta.stackAddon}.`);
  out.push('');
  out.push('Times in ms after the block started (process.hrtime.bigint() right before the call): median (min-max) over the runs.');
  out.push('');
  const headers = ['block', 'tool', 'runs', 'block ms', 'detected', 'first report in watcher', 'file line in parent', 'elapsed reported',
    'capture ms', 'culprit on stack', 'native: what it reports'];
  const rows = groups.map((g) => {
    const r = g.runs;
    const uv = g.tool === 'uvscope';
    let nativeNote = '';
    if (g.block === 'native') {
      if (uv) {
        const unavailable = r.filter((x) => x.stackUnavailable).length;
        nativeNote = `inNative ${count(r, (x) => x.inNative)}; lateStack ${count(r, (x) => x.lateStackAtMs != null)}` +
          (r.some((x) => x.lateStackAtMs != null) ? ` at ${medRange(r.map((x) => x.lateStackAtMs))}, culprit ${count(r, (x) => x.lateStackCulprit)}` : '') +
          (unavailable ? `; stack unavailable ${unavailable}/${r.length}` : '');
      } else {
        const top = r.find((x) => x.topFrames)?.topFrames;
        nativeNote = `stack returned as the block ended (within 20 ms) ${count(r, (x) => x.capturedAfterBlock)}` +
          (top ? `; top: ${top.join(' < ')}` : '');
      }
    } else if (uv && r.some((x) => x.stackUnavailable)) {
      nativeNote = `(no stacks: ${r.filter((x) => x.stackUnavailable).length}/${r.length} stack unavailable)`;
    }
    const culprit = r.every((x) => x.culpritOnStack === null || x.culpritOnStack === undefined)
      ? 'n/a (no stack)'
      : count(r, (x) => x.culpritOnStack);
    return [
      g.block,
      g.tool,
      String(r.length),
      medRange(r.map((x) => x.blockMs), 0),
      uv ? medRange(r.map((x) => x.firstReportAtMs)) : medRange(r.map((x) => x.detectedMs)),
      medRange(r.map((x) => x.firstArrivedMs)),
      uv ? medRange(r.map((x) => x.fileArrivedMs)) : '-',
      medRange(r.map((x) => x.elapsedMs), 0),
      medRange(r.map((x) => x.captureMs), 2),
      culprit,
      nativeNote,
    ];
  });
  // Markdown table
  out.push(`| ${headers.join(' | ')} |`);
  out.push(`|${headers.map(() => '---').join('|')}|`);
  for (const row of rows) out.push(`| ${row.join(' | ')} |`);
  out.push('');
  out.push('detected: uvscope, the atNs of its first report (the watchdog thread saw the stall); Sentry, the watcher poll that');
  out.push('found the thread unseen for longer than the threshold (captureStackTrace called). first report in watcher: when the');
  out.push('report, stack included, was in the watcher worker\'s hands (uvscope: onLiveReport callback; Sentry: captureStackTrace');
  out.push('returned). elapsed reported: uvscope elapsedNs, Sentry getThreadsLastSeen() ms. capture: uvscope stackCaptureNs,');
  out.push('Sentry the time around captureStackTrace().');
  out.push('');
  out.push(`Targets (issue): first live report <= threshold + ${REPORT_SLACK_MS} ms = ${limitMs} ms (every run); ` +
    `capture <= ${CAPTURE_TARGET_MS} ms for a JS block (every run).`);
  for (const g of groups) {
    const report = `first report worst ${fmt(g.worstArrivalMs)} ms: ${g.reportTarget ? 'met' : 'MISSED'}`;
    let capture = '';
    if (g.block === 'js') {
      capture = g.worstCaptureMs === null ? '; capture: no stack, not measurable' :
        `; capture worst ${fmt(g.worstCaptureMs, 2)} ms: ${g.captureTarget ? 'met' : 'MISSED'}`;
    }
    out.push(`  ${g.tool.padEnd(8)} ${g.block.padEnd(7)} ${report}${capture}`);
  }
  out.push('');
  out.push(`total runtime ${formatDuration(meta.totalMs)}`);
  return out.join('\n');
}

function stackAddonState() {
  try {
    const { loadStackAddon } = require(path.resolve(__dirname, '..', 'lib', 'stack', 'load.js'));
    const loaded = loadStackAddon();
    return loaded.ok ? `loaded (${path.relative(path.resolve(__dirname, '..'), loaded.path)})` : `unavailable (${loaded.reason.split('\n')[0]})`;
  } catch (error) {
    return `unknown (${error.message.split('\n')[0]})`;
  }
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  if (opts.child) {
    try {
      const result = opts.child === 'calibrate' ? runCalibration(opts) : await runBlockChild(opts);
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } catch (error) {
      process.stderr.write(`[${opts.child}] ${error.stack || error}\n`);
      process.exitCode = 1;
    }
    return;
  }

  const started = Date.now();
  try {
    if (!fs.existsSync(path.resolve(__dirname, '..', 'lib', 'index.js'))) {
      throw new Error('lib/index.js is missing: build uvscope first (npm run build:native && npm run build)');
    }
    if (opts.cpu !== 'none' && !affinity.canPin(opts.cpu)) throw new Error(`cannot pin to CPU ${opts.cpu}`);
    const calibration = calibrate(opts);
    process.stderr.write(`pbkdf2Sync: ${calibration.iterations} iterations for ~${opts.nativeMs} ms ` +
      `(50k iterations took ${fmt(calibration.probeMs)} ms; first estimate ran ${fmt(calibration.checkMs)} ms)\n`);
    const runs = [];
    const total = opts.rounds * BLOCKS.length * TOOLS.length;
    for (let round = 0; round < opts.rounds; round++) {
      const blocks = round % 2 ? [...BLOCKS].reverse() : BLOCKS;
      for (const [b, block] of blocks.entries()) {
        const tools = (round + b) % 2 ? [...TOOLS].reverse() : TOOLS;
        for (const tool of tools) {
          const run = await spawnBlock(opts, tool, block, calibration.iterations);
          run.round = round;
          runs.push(run);
          process.stderr.write(`[${runs.length}/${total}] round ${round + 1} ${block.padEnd(6)} ${tool.padEnd(7)} ` +
            `block ${fmt(run.blockMs, 0)} ms, first report in watcher at ${fmt(run.firstArrivedMs)} ms` +
            (run.captureMs != null ? `, capture ${fmt(run.captureMs, 2)} ms` : '') + '\n');
        }
      }
    }
    const meta = {
      node: process.version,
      iterations: calibration.iterations,
      calibration,
      stackAddon: stackAddonState(),
      totalMs: Date.now() - started,
    };
    const groups = summarize(runs, opts);
    process.stdout.write(`${report(groups, opts, meta)}\n`);
    if (opts.json) {
      const { child, help, ...options } = opts;
      const summary = groups.map(({ runs: r, ...g }) => g);
      fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, summary, runs }, null, 2)}\n`);
      process.stderr.write(`raw data written to ${opts.json}\n`);
    }
  } catch (error) {
    process.stderr.write(`bench/stall.js: ${error.message}\n`);
    process.exitCode = 1;
  }
}

main();
