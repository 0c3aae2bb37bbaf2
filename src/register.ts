/**
 * `node --require uvscope/register app.js`: traces the main thread's loop and uvscope's pool
 * jobs from the first line of user code, and writes a Chrome trace (Perfetto,
 * chrome://tracing) when the process exits, on SIGINT, or when `uvscope trace --duration` ends.
 *
 * Environment: UVSCOPE_TRACE_OUT (default uvscope-trace-<pid>.json), UVSCOPE_TRACE_BLOCK_MS
 * (long iteration threshold, default 20), UVSCOPE_TRACE_QUIET=1 (no summary on stderr).
 * Worker threads are not traced (a preload runs in them too; it does nothing there).
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

import { buildChromeTrace, phaseSlices } from './cli/chrome-trace';
import { LoopObserver, PhaseEvent } from './loop-observer';
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
  const markers: PhaseEvent[] = [];
  const jobs: JobRecord[] = [];
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
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, onJob);
    const trace = buildChromeTrace({
      pid: process.pid,
      title: `node ${process.argv.slice(1).map((a) => path.basename(a)).join(' ')}`,
      markers,
      jobs,
      utilization,
      longIterationNs: blockMs * 1e6,
      startNs: startedNs,
    });
    fs.writeFileSync(out, JSON.stringify(trace));
    if (!quiet) process.stderr.write(summary(stats, markers, jobs, out, trace.traceEvents.length, droppedMarkers, startedNs, blockMs));
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

function summary(
  stats: ReturnType<LoopObserver['stats']>,
  markers: PhaseEvent[],
  jobs: JobRecord[],
  out: string,
  eventCount: number,
  dropped: number,
  startedNs: bigint,
  blockMs: number,
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
  if (jobs.length) {
    const slowest = [...jobs].sort((a, b) => b.runNs - a.runNs).slice(0, 3);
    const waits = [...jobs].sort((a, b) => b.queueWaitNs - a.queueWaitNs).slice(0, 3);
    lines.push(`pool jobs: ${jobs.length}`);
    lines.push(`  slowest: ${slowest.map((j) => `${j.kernel} ${ms(j.runNs)}`).join(', ')}`);
    lines.push(`  longest queue waits: ${waits.map((j) => `${j.kernel} ${ms(j.queueWaitNs)}`).join(', ')}`);
  }
  lines.push(`trace: ${out} (${eventCount} events${dropped ? `, ${dropped} markers dropped` : ''})`, '');
  return lines.join('\n');
}

if (isMainThread && !process.env.UVSCOPE_REGISTER_DISABLED) start();
