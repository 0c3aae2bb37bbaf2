/**
 * `node --require uvscope/register app.js`: traces the main thread's loop and uvscope's pool
 * jobs from the first line of user code, and writes a Chrome trace (Perfetto,
 * chrome://tracing) when the process exits, on SIGINT, or when `uvscope trace --duration` ends.
 *
 * Environment: UVSCOPE_TRACE_OUT (default uvscope-trace-<pid>.json), UVSCOPE_TRACE_BLOCK_MS
 * (long iteration threshold, default 20), UVSCOPE_TRACE_QUIET=1 (no summary on stderr),
 * UVSCOPE_TRACE_STALL_MS (a StallWatchdog's threshold, default 200; 0: no watchdog; each stall
 * becomes a 'stall' slice with its reports in the trace), UVSCOPE_TRACE_STALL_FD (a file
 * descriptor the watchdog writes its report lines to while the loop is blocked: `uvscope
 * trace` passes a pipe and prints them as they come).
 * Worker threads are not traced (a preload runs in them too; it does nothing there).
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

import { buildChromeTrace, phaseSlices } from './cli/chrome-trace';
import { LoopObserver, PhaseEvent } from './loop-observer';
import { StallWatchdog } from './loop/stall-watchdog';
import type { StallEvent } from './loop/stall-watchdog';
import { monitorPoolRequests, POOL_REQUEST_CHANNEL, PoolRequestRecord, PoolRequestStats } from './pool/requests';
import { JOB_CHANNEL, JobRecord } from './threadpool';

const MAX_MARKERS = 4_000_000;
const MAX_JOBS = 1_000_000;

function start(): void {
  const out = path.resolve(process.env.UVSCOPE_TRACE_OUT || `uvscope-trace-${process.pid}.json`);
  const blockMs = Number(process.env.UVSCOPE_TRACE_BLOCK_MS) || 20;
  const quiet = process.env.UVSCOPE_TRACE_QUIET === '1';
  const startedNs = process.hrtime.bigint();

  const observer = new LoopObserver({ traceCapacity: 1 << 20, phaseMarkers: true, blockThresholdMs: blockMs }).start();
  const sampler = new LoopObserver().start();
  const stalls: StallEvent[] = [];
  const stallMs = stallThresholdMs(quiet);
  const watchdog = stallMs === undefined ? undefined : startWatchdog(stallMs, quiet);
  watchdog?.on('stall', (stall) => stalls.push(stall));
  // A stall is emitted once the loop turns after it, through a handle that does not keep the
  // loop alive: when the blocking callback was the last work, turn the loop once more for it.
  let nudgedFor = 0;
  const onBeforeExit = () => {
    if (!watchdog || watchdog.closed) return;
    const { stalls: seen } = watchdog.stats();
    if (seen > stalls.length && nudgedFor !== seen) {
      nudgedFor = seen;
      setImmediate(() => {});
    }
  };
  process.on('beforeExit', onBeforeExit);
  const markers: PhaseEvent[] = [];
  const jobs: JobRecord[] = [];
  // Node's own pool requests (fs, dns.lookup, crypto, zlib): a track of their own, by kind in the summary.
  const requests: PoolRequestRecord[] = [];
  let droppedRequests = 0;
  const requestMonitor = monitorPoolRequests();
  const onRequest = (message: unknown) => {
    if (requests.length < MAX_JOBS) requests.push(message as PoolRequestRecord);
    else droppedRequests++;
  };
  diagnosticsChannel.subscribe(POOL_REQUEST_CHANNEL, onRequest);
  const utilization: { timeNs: bigint; utilization: number }[] = [];
  let droppedMarkers = 0;

  const drain = () => {
    const batch = observer.trace();
    const room = MAX_MARKERS - markers.length;
    if (batch.length > room) droppedMarkers += batch.length - Math.max(0, room);
    for (let i = 0; i < Math.min(room, batch.length); i++) markers.push(batch[i]);
  };
  const tick = setInterval(() => {
    drain();
    const s = sampler.stats();
    utilization.push({ timeNs: s.windowEndNs, utilization: s.utilization });
    sampler.reset();
  }, 100);
  tick.unref();

  const onJob = (message: unknown) => {
    if (jobs.length < MAX_JOBS) jobs.push(message as JobRecord);
  };
  diagnosticsChannel.subscribe(JOB_CHANNEL, onJob);

  let written = false;
  const finish = () => {
    if (written) return;
    written = true;
    clearInterval(tick);
    drain();
    droppedMarkers += observer.traceDropped;
    const stats = observer.stats();
    observer.close();
    sampler.close();
    const stallStats = watchdog && !watchdog.closed ? watchdog.stats() : undefined;
    watchdog?.close();
    process.removeListener('beforeExit', onBeforeExit);
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, onJob);
    diagnosticsChannel.unsubscribe(POOL_REQUEST_CHANNEL, onRequest);
    const requestStats = requestMonitor.stats();
    requestMonitor.stop();
    const trace = buildChromeTrace({
      pid: process.pid,
      title: `node ${process.argv.slice(1).map((a) => path.basename(a)).join(' ')}`,
      markers,
      jobs,
      requests,
      utilization,
      longIterationNs: blockMs * 1e6,
      startNs: startedNs,
      stalls,
    });
    fs.writeFileSync(out, JSON.stringify(trace));
    if (!quiet) {
      process.stderr.write(
        summary(stats, markers, jobs, out, trace.traceEvents.length, droppedMarkers, startedNs, blockMs, stalls,
          stallStats && { count: stallStats.stalls, thresholdMs: stallMs! }, requestStats, droppedRequests),
      );
    }
  };
  process.on('exit', finish);
  // Without a listener SIGINT kills the process before 'exit': write, then let it go on as it
  // would have (the app's own listeners, if any, decide; otherwise re-raise the signal).
  const onSigint = () => {
    finish();
    if (process.listenerCount('SIGINT') === 1) {
      process.removeListener('SIGINT', onSigint);
      process.kill(process.pid, 'SIGINT');
    }
  };
  process.on('SIGINT', onSigint);
}

function noWatchdog(quiet: boolean, why: string): undefined {
  if (!quiet) process.stderr.write(`uvscope trace: no stall watchdog: ${why}\n`);
  return undefined;
}

/** UVSCOPE_TRACE_STALL_MS: default 200; undefined when 0 (off) or invalid (said on stderr). */
function stallThresholdMs(quiet: boolean): number | undefined {
  const raw = process.env.UVSCOPE_TRACE_STALL_MS;
  const thresholdMs = raw === undefined || raw === '' ? 200 : Number(raw);
  if (thresholdMs === 0) return undefined;
  if (!Number.isInteger(thresholdMs) || thresholdMs < 10 || thresholdMs > 3_600_000) {
    return noWatchdog(quiet, `UVSCOPE_TRACE_STALL_MS must be 0 or an integer from 10 to 3600000, got '${raw}'`);
  }
  return thresholdMs;
}

/** The trace's StallWatchdog, writing to UVSCOPE_TRACE_STALL_FD when set; undefined when it cannot start (said on stderr). */
function startWatchdog(thresholdMs: number, quiet: boolean): StallWatchdog | undefined {
  const warn = (why: string) => noWatchdog(quiet, why);
  const fdText = process.env.UVSCOPE_TRACE_STALL_FD;
  let file: number | undefined;
  if (fdText !== undefined && fdText !== '') {
    const fd = Number(fdText);
    try {
      if (!Number.isInteger(fd) || fd < 0) throw new Error('not a file descriptor');
      fs.fstatSync(fd);
      file = fd;
    } catch {
      return warn(`UVSCOPE_TRACE_STALL_FD ${fdText} is not an open file descriptor`);
    }
  }
  try {
    // Reports more often than every second would flood the terminal in a long block.
    return new StallWatchdog({ thresholdMs, repeatMs: Math.max(thresholdMs, 1000), file }).start();
  } catch (error) {
    return warn(String((error as Error).message).split('\n')[0]);
  }
}

function summary(
  stats: ReturnType<LoopObserver['stats']>,
  markers: PhaseEvent[],
  jobs: JobRecord[],
  out: string,
  eventCount: number,
  dropped: number,
  startedNs: bigint,
  blockMs: number,
  stalls: readonly StallEvent[],
  stalled: { count: number; thresholdMs: number } | undefined,
  requestStats: PoolRequestStats,
  droppedRequests: number,
): string {
  const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;
  const lines = [
    '',
    `uvscope trace: ${stats.iterations} iterations in ${(Number(process.hrtime.bigint() - startedNs) / 1e9).toFixed(2)} s, ` +
      `utilization ${(stats.utilization * 100).toFixed(1)}%, iteration p50 ${ms(stats.iteration.p50)} p99 ${ms(stats.iteration.p99)}`,
  ];
  // Long iterations, with the slice that took most of each.
  const slices = phaseSlices(markers);
  const byIteration = new Map<number, { total: number; worst: { phase: string; ns: number } }>();
  for (const slice of slices) {
    const ns = Number(slice.endNs - slice.startNs);
    const entry = byIteration.get(slice.iteration) ?? { total: 0, worst: { phase: slice.phase, ns: 0 } };
    entry.total += ns;
    if (ns > entry.worst.ns) entry.worst = { phase: slice.phase, ns };
    byIteration.set(slice.iteration, entry);
  }
  const long = [...byIteration.entries()].filter(([, e]) => e.total >= blockMs * 1e6).sort((a, b) => b[1].total - a[1].total);
  lines.push(`long iterations (> ${blockMs} ms): ${stats.longIterations.count}`);
  for (const [iteration, e] of long.slice(0, 5)) {
    lines.push(`  iteration ${iteration}: ${ms(e.total)}, ${ms(e.worst.ns)} of it in ${e.worst.phase}`);
  }
  if (stalled) {
    const longest = stalls.reduce<StallEvent | undefined>((max, s) => (max && max.durationNs >= s.durationNs ? max : s), undefined);
    lines.push(`stalls (> ${stalled.thresholdMs} ms): ${stalled.count}${longest ? `, longest ${ms(longest.durationNs)} in ${longest.phase}` : ''}`);
  }
  if (jobs.length) {
    const slowest = [...jobs].sort((a, b) => b.runNs - a.runNs).slice(0, 3);
    const waits = [...jobs].sort((a, b) => b.queueWaitNs - a.queueWaitNs).slice(0, 3);
    lines.push(`pool jobs: ${jobs.length}`);
    lines.push(`  slowest: ${slowest.map((j) => `${j.kernel} ${ms(j.runNs)}`).join(', ')}`);
    lines.push(`  longest queue waits: ${waits.map((j) => `${j.kernel} ${ms(j.queueWaitNs)}`).join(', ')}`);
  }
  const nodeKinds = Object.entries(requestStats.requests).filter(([kind]) => !kind.startsWith('uvscope.'));
  if (nodeKinds.length) {
    const total = nodeKinds.reduce((sum, [, k]) => sum + k.completed + k.failed, 0);
    lines.push(`Node pool requests: ${total} (in flight at most ${requestStats.inFlight.max}, mean ${requestStats.inFlight.mean.toFixed(2)})${droppedRequests ? `, ${droppedRequests} left out of the trace` : ''}`);
    nodeKinds.sort((a, b) => b[1].latency.count - a[1].latency.count);
    for (const [kind, k] of nodeKinds.slice(0, 8)) {
      lines.push(`  ${kind}: ${k.completed + k.failed}${k.failed ? ` (${k.failed} failed)` : ''}, p50 ${ms(k.latency.p50)} p99 ${ms(k.latency.p99)}`);
    }
  }
  lines.push(`trace: ${out} (${eventCount} events${dropped ? `, ${dropped} markers dropped` : ''})`, '');
  return lines.join('\n');
}

if (isMainThread && !process.env.UVSCOPE_REGISTER_DISABLED) start();
