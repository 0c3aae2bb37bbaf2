/**
 * Turns loop markers, job records and stalls into the Chrome trace event format (JSON Object
 * Format), which Perfetto and chrome://tracing open: one track for the loop with its phases as
 * slices and its stalls as slices within them, one track per pool thread with uvscope's jobs,
 * and a utilization counter.
 * @internal
 * @module
 */
import type { PhaseEvent } from '../loop-observer';
import type { StallEvent, StallStackFrame } from '../loop/stall-watchdog';
import type { PoolRequestRecord } from '../pool/requests';
import type { JobRecord } from '../threadpool';

export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'C' | 'i' | 'b' | 'e';
  /** Async events ('b'/'e'): the id pairing a begin with its end. */
  id?: string;
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

/** A slice of the loop's time between two markers, named after the phase it mostly covers. */
export interface PhaseSlice {
  phase: 'poll' | 'check' | 'timers' | 'pending';
  startNs: bigint;
  endNs: bigint;
  iteration: number;
}

/**
 * From markers to slices: prepare→check is poll; check→close is the check phase (setImmediate)
 * and the close callbacks queued during it; close→timers is the rest of the closing phase and
 * the JS timers that were due (they run before uvscope's timer marker); timers→prepare is what
 * is left of the timers phase, pending callbacks and idle handles.
 */
export function phaseSlices(events: readonly PhaseEvent[]): PhaseSlice[] {
  const slices: PhaseSlice[] = [];
  const sliceAfter: Record<string, PhaseSlice['phase'] | undefined> = {
    prepare: 'poll',
    check: 'check',
    close: 'timers',
    timers: 'pending',
  };
  for (let i = 0; i + 1 < events.length; i++) {
    const from = events[i];
    const to = events[i + 1];
    const phase = sliceAfter[from.phase];
    if (!phase || to.timeNs < from.timeNs) continue;
    slices.push({ phase, startNs: from.timeNs, endNs: to.timeNs, iteration: from.iteration });
  }
  return slices;
}

export interface TraceInput {
  pid: number;
  title: string;
  markers: readonly PhaseEvent[];
  jobs: readonly JobRecord[];
  utilization: readonly { timeNs: bigint; utilization: number }[];
  longIterationNs: number;
  /** When tracing began: the time before the first marker (the main script and the timers libuv runs before its first iteration) becomes a 'startup' slice. */
  startNs?: bigint;
  /** Node's own pool requests (monitorPoolRequests), as async slices on a track of their own. */
  requests?: readonly PoolRequestRecord[];
  /** Stalls of the traced thread (StallWatchdog 'stall' events), each a 'stall' slice with its reports and stacks in args. */
  stalls?: readonly StallEvent[];
}

/** A stall's end may pass the end of the slice it began in by this much (clock reads of different markers) and be clamped to it. */
const CLAMP_NS = 1_000_000n;

function frameText(frame: StallStackFrame): string {
  const where = frame.url ? `${frame.url}:${frame.line}:${frame.column}` : '<native>';
  return `${frame.functionName || '<anonymous>'} (${where})`;
}

/**
 * The 'stall' slice of one stall on the loop's track. A stall ends at the first heartbeat after
 * it began, and heartbeats come from the same markers as the phase slices, so it lies within
 * the slice it began in; an end past that slice's end by less than CLAMP_NS (the heartbeat and
 * the trace read the clock separately) is clamped to it, so the slices nest as the trace format
 * requires. `args.durationMs` is the stall's own duration either way.
 */
function stallEvent(stall: StallEvent, pid: number, tid: number, slices: readonly { startNs: bigint; endNs: bigint }[], us: (ns: bigint) => number): TraceEvent {
  const startNs = stall.startedAtNs;
  let endNs = startNs + BigInt(Math.round(stall.durationNs));
  const within = slices.find((s) => s.startNs <= startNs && startNs < s.endNs);
  if (within && endNs > within.endNs && endNs - within.endNs <= CLAMP_NS) endNs = within.endNs;
  const unavailable = stall.reports.find((r) => r.stackUnavailable)?.stackUnavailable;
  const args: Record<string, unknown> = {
    phase: stall.phase,
    iteration: stall.iteration,
    durationMs: stall.durationNs / 1e6,
    thresholdMs: stall.thresholdNs / 1e6,
    reportCount: stall.reportCount,
    reports: stall.reports.map((r) => ({
      elapsedMs: r.elapsedNs / 1e6,
      phase: r.phase,
      ...(r.stack ? { stack: r.stack.map(frameText) } : {}),
      ...(r.inNative ? { inNative: true } : {}),
    })),
  };
  if (stall.lateStack) args.lateStack = stall.lateStack.frames.map(frameText);
  if (unavailable) args.stackUnavailable = unavailable.split('\n')[0];
  return { name: 'stall', cat: 'stall', ph: 'X', pid, tid, ts: us(startNs), dur: Number(endNs - startNs) / 1000, args };
}

export const POOL_TID_BASE = 100;

export function buildChromeTrace(input: TraceInput): { traceEvents: TraceEvent[]; displayTimeUnit: 'ms' } {
  const { pid } = input;
  const firstNs = [input.startNs, input.markers[0]?.timeNs, input.jobs[0]?.queuedAt, input.utilization[0]?.timeNs]
    .filter((t): t is bigint => t !== undefined && t > 0n)
    .reduce((a, b) => (b < a ? b : a), 2n ** 63n);
  const us = (ns: bigint) => Number(ns - firstNs) / 1000;
  const events: TraceEvent[] = [
    { name: 'process_name', ph: 'M', pid, args: { name: input.title } },
    { name: 'thread_name', ph: 'M', pid, tid: 0, args: { name: 'event loop (main thread)' } },
  ];
  const first = input.markers[0];
  const loopSlices: { startNs: bigint; endNs: bigint }[] = [];
  if (input.startNs !== undefined && first && first.timeNs > input.startNs) {
    const durNs = Number(first.timeNs - input.startNs);
    loopSlices.push({ startNs: input.startNs, endNs: first.timeNs });
    events.push({ name: 'startup', cat: 'loop', ph: 'X', pid, tid: 0, ts: us(input.startNs), dur: durNs / 1000, args: { iteration: 0, long: durNs >= input.longIterationNs } });
  }
  for (const slice of phaseSlices(input.markers)) {
    loopSlices.push(slice);
    const durNs = Number(slice.endNs - slice.startNs);
    events.push({
      name: slice.phase,
      cat: 'loop',
      ph: 'X',
      pid,
      tid: 0,
      ts: us(slice.startNs),
      dur: durNs / 1000,
      args: { iteration: slice.iteration, long: durNs >= input.longIterationNs },
    });
  }
  // Only the main thread's loop is traced: its stalls go on its track.
  for (const stall of input.stalls ?? []) {
    if (stall.threadId === 0) events.push(stallEvent(stall, pid, 0, loopSlices, us));
  }
  const threads = new Set<number>();
  for (const job of input.jobs) {
    if (job.startedAt === 0n) continue;
    const tid = POOL_TID_BASE + job.thread;
    threads.add(job.thread);
    events.push({
      name: job.kernel,
      cat: 'job',
      ph: 'X',
      pid,
      tid,
      ts: us(job.startedAt),
      dur: job.runNs / 1000,
      args: {
        outcome: job.outcome,
        queueWaitMs: job.queueWaitNs / 1e6,
        returnDelayMs: job.returnDelayNs / 1e6,
        bytes: job.bytes,
      },
    });
  }
  for (const thread of [...threads].sort((a, b) => a - b)) {
    events.push({ name: 'thread_name', ph: 'M', pid, tid: POOL_TID_BASE + thread, args: { name: `libuv pool thread ${thread}` } });
  }
  // Requests overlap (several in flight): async slices, one per request, on their own track.
  (input.requests ?? []).forEach((request, id) => {
    const startNs = BigInt(Math.round(request.submittedAtNs));
    const args = { outcome: request.outcome, latencyMs: request.latencyNs / 1e6 };
    events.push({ name: request.kind, cat: 'pool-request', ph: 'b', id: `r${id}`, pid, tid: 0, ts: us(startNs), args });
    events.push({ name: request.kind, cat: 'pool-request', ph: 'e', id: `r${id}`, pid, tid: 0, ts: us(startNs + BigInt(Math.round(request.latencyNs))) });
  });
  for (const sample of input.utilization) {
    events.push({ name: 'loop utilization', ph: 'C', pid, ts: us(sample.timeNs), args: { utilization: sample.utilization } });
  }
  return { traceEvents: events, displayTimeUnit: 'ms' };
}
