'use strict';
// Scores one run of bench/attribution.js part (a): for every planned block the server timed
// (t0, t1: process.hrtime.bigint() around the call), what the contender reported about it.
// Every time is on CLOCK_MONOTONIC (hrtime, uvscope's atNs, both watcher workers): one clock
// for every thread here. Stateless.
//
//   uvscope  the block's reports: live reports made while it ran (t0 <= atNs <= t1) in a stall
//            that began at or before t0; its stall: the 'stall' event whose stretch covers t0.
//   sentry   the block's capture: the one whose poll saw the thread late while it ran
//            (t0 <= captureStartNs <= t1); its report is in hand when captureStackTrace()
//            returned (capturedNs), which for a native call is once the call returned.
//
// Per block: named live (a report in the watcher's hands at least 10 ms before the block ended
// names the block's URL), named at the latest with the late stack (uvscope: a live report or the stall's
// lateStack/request; Sentry: its capture, whenever it returned), misnamed (a report naming
// another URL), classified (uvscope's first report: cpuNs / elapsedNs > 0.5 is on CPU),
// first-report latency past the threshold (ms): from the block's start (t0) to the first report
// in the watcher's hands, and the contender's own account (uvscope: atNs - startedAtNs, the
// stall's start; Sentry: its last-seen age at the poll that saw it), each minus the threshold.

const { KINDS, msSince } = require('./blocks');

/**
 * A report is live when it is in the watcher's hands at least this long before the block
 * ended: a stack taken as a native call returns to JavaScript (Sentry's capture of pbkdf2Sync)
 * lands a moment before or after t1, and is the late stack, not a live one.
 */
const LIVE_MARGIN_NS = 10_000_000n;

/** The URL a report names: uvscope's request.url, Sentry's asyncState.url. */
const urlOf = (report) => report?.request?.url ?? null;


function scoreUvscope(block, run, thresholdMs) {
  const { t0, t1 } = block;
  const reports = run.watcher
    .filter((m) => m.report.startedAtNs <= t0 && m.report.atNs >= t0 && m.report.atNs <= t1)
    .sort((a, b) => (a.report.atNs < b.report.atNs ? -1 : 1));
  const stall = run.stalls.find((s) => s.startedAtNs <= t0 && s.startedAtNs + BigInt(Math.round(s.durationNs)) >= t0);
  const first = reports[0];
  const named = reports.filter((m) => urlOf(m.report) === block.url);
  const live = (ns) => ns <= t1 - LIVE_MARGIN_NS;
  const namedLive = named.filter((m) => live(m.arrivedNs));
  const late = stall?.lateStack;
  const misnamed = reports.filter((m) => urlOf(m.report) !== null && urlOf(m.report) !== block.url).length +
    (late?.request && late.request.url !== block.url ? 1 : 0);
  const ratio = (r) => (r.cpuNs === undefined ? null : r.cpuNs / r.elapsedNs);
  const classify = (r) => (ratio(r) === null ? null : (ratio(r) > 0.5) === KINDS[block.kind].cpu);
  const culprit = KINDS[block.kind].culprit;
  return {
    reports: reports.length,
    urlNamed: urlOf(reports.find((m) => urlOf(m.report) !== null)?.report) ?? late?.request?.url ?? null,
    namedLive: namedLive.length > 0,
    namedByEnd: namedLive.length > 0 || named.length > 0 || late?.request?.url === block.url || stall?.request?.url === block.url,
    namedByLateStack: late?.request?.url === block.url,
    contextLive: reports.some((m) => live(m.arrivedNs) && m.report.context?.url === block.url),
    contextByEnd: reports.some((m) => m.report.context?.url === block.url) || late?.context?.url === block.url,
    contextUnavailable: first?.report.contextUnavailable ?? null,
    misnamed,
    inNative: first ? first.report.inNative === true : null,
    culpritLive: reports.some((m) => live(m.arrivedNs) && m.report.stack?.some((f) => f.functionName === culprit)),
    cpuRatio: first ? ratio(first.report) : null,
    classifiedRight: first ? classify(first.report) : null,
    allClassifiedRight: reports.length ? reports.every((m) => classify(m.report) === true) : null,
    firstReportMs: first ? msSince(first.arrivedNs, t0) - thresholdMs : null,
    firstReportOwnMs: first ? msSince(first.report.atNs, first.report.startedAtNs) - thresholdMs : null,
    firstNamedMs: named.length ? msSince(named[0].arrivedNs, t0) - thresholdMs : (late?.request?.url === block.url ? msSince(late.capturedAtNs, t0) - thresholdMs : null),
  };
}

function scoreSentry(block, run, thresholdMs) {
  const { t0, t1 } = block;
  const capture = run.watcher.find((m) => m.captureStartNs >= t0 && m.captureStartNs <= t1);
  const url = capture?.asyncState?.url ?? null;
  const named = url === block.url;
  const live = !!capture && capture.capturedNs <= t1 - LIVE_MARGIN_NS;
  return {
    reports: capture ? 1 : 0,
    urlNamed: url,
    namedLive: named && live,
    namedByEnd: named,
    namedByLateStack: named && !live,
    contextLive: named && live,
    contextByEnd: named,
    misnamed: url !== null && !named ? 1 : 0,
    inNative: null,
    culpritLive: live && !!capture.frames?.includes(KINDS[block.kind].culprit),
    cpuRatio: null,
    classifiedRight: null,
    allClassifiedRight: null,
    firstReportMs: capture ? msSince(capture.capturedNs, t0) - thresholdMs : null,
    firstReportOwnMs: capture ? capture.lastSeenMs - thresholdMs : null,
    firstNamedMs: named ? msSince(capture.capturedNs, t0) - thresholdMs : null,
  };
}

/**
 * Every planned block of `run` (URLs carrying `b=`: not the warm-up's), scored; `short` marks
 * a block that lasted less than 1.5x the threshold (a contender may rightly stay silent: the
 * report leaves it out). Fails when a planned block is missing from the server's records.
 */
function scoreRun(run, plan, thresholdMs) {
  const score = run.contender === 'uvscope' ? scoreUvscope : scoreSentry;
  return plan.map((planned) => {
    const block = run.blocks.find((b) => b.url === planned.path);
    if (!block) throw new Error(`sanity check failed: the ${run.contender} server has no record of ${planned.path}`);
    const blockMs = msSince(block.t1, block.t0);
    return { contender: run.contender, kind: block.kind, url: block.url, blockMs, short: blockMs < 1.5 * thresholdMs, ...score(block, run, thresholdMs) };
  });
}

module.exports = { scoreRun };
