/**
 * One thread's recording as Chrome trace events (JSON Object Format; Chrome DevTools, Perfetto
 * and chrome://tracing open it): the thread's loop as a track of phase slices (poll with its
 * wait for I/O nested in it as a slice of its own), its stalls nested in them (with the HTTP
 * request they ran for), its long iterations as instants (with the requests linked to them), its
 * HTTP requests as async slices (http-track.ts), uvscope's jobs on a track per pool thread,
 * Node's pool requests on request tracks of the thread, loop utilization as a counter, and the
 * thread's CPU samples as a `Profile` with its `ProfileChunk`s; per process, its pool
 * threads' busy and run-queue ratios as counters (poolThreadEvents). A bounded recording
 * (thread-recorder.ts) adds its windows: a `loop window` slice each (category `loop-window`) on
 * the thread's track, in which the phase slices of its detail spans nest, and a `work per
 * window` counter (windowEvents, WindowInfo); its markers come in runs (`markerRuns`) with the
 * time left out between them, and no slice is drawn across a gap; its Profile holds only the
 * samples of the detail spans, an `(idle)` sample closing each span. Timestamps are µs from
 * the trace's origin, one monotonic clock for every thread of every process. The Profile and its
 * chunks are profile-events.ts's. Pure functions.
 * @internal
 * @module
 */
import type { TraceColumns } from '../loop/trace-columns';
import { MARKER_PHASE_CODES } from '../loop/phases';
import type { StallEvent, StallStackFrame } from '../loop/stall-watchdog';
import type { HttpRequestRecord, JobRecord, LongIterationEvent, PoolRequestRecord } from '../channels';
import type { CpuProfile } from './cpu-profiler';
import { profileEvents, withIdleSamples } from './profile-events';
import type { TraceEvent } from './trace-event';
import type { LoopWindow } from './loop-window';
import { cpuShare, httpRequestEventStream, LongIterationRequests, linkIterations, RequestIndex, RequestRef, stallRequestOf } from './http-track';

export type { TraceEvent } from './trace-event';

/** A slice of the loop's time between two markers, named after the phase it mostly covers. */
export interface PhaseSlice {
  phase: 'poll' | 'check' | 'timers' | 'pending';
  startNs: bigint;
  endNs: bigint;
  iteration: number;
  /** Poll slices: the time poll waited for I/O (the rest is I/O callbacks), ns. */
  pollWaitNs?: number;
}

const SLICE_AFTER: Record<string, PhaseSlice['phase'] | undefined> = { prepare: 'poll', check: 'check', close: 'timers', timers: 'pending' };

/**
 * From markers to slices: prepare→check is poll; check→close is the check phase (setImmediate)
 * and the close callbacks queued during it; close→timers is the rest of the closing phase and
 * the JS timers (every timer due when the timers phase begins runs before uvscope's timer
 * marker, which steps behind those that fell due after check armed it); timers→prepare is what
 * is left of the timers phase, pending callbacks and idle handles.
 */
export function phaseSlices(markers: TraceColumns, endNs?: bigint, trailingPollWaitNs?: number): PhaseSlice[] {
  const { timesNs, iterations, phases, pollWaitsNs } = markers;
  const slices: PhaseSlice[] = [];
  for (let i = 0; i + 1 < timesNs.length; i++) {
    const phase = SLICE_AFTER[MARKER_PHASE_CODES[phases[i]]];
    if (!phase || timesNs[i + 1] < timesNs[i]) continue;
    const slice: PhaseSlice = { phase, startNs: timesNs[i], endNs: timesNs[i + 1], iteration: iterations[i] };
    if (phase === 'poll' && MARKER_PHASE_CODES[phases[i + 1]] === 'check') slice.pollWaitNs = pollWaitsNs[i + 1];
    slices.push(slice);
  }
  // The thread's last iteration has no next marker (the loop ended, or the process exited in
  // it): its last slice runs to the end of the recording. A poll slice there has the wait its
  // recorder saw so far when it ended inside the poll's callbacks (trailingPollWaitNs), no
  // known wait otherwise.
  const last = timesNs.length - 1;
  const phase = last >= 0 ? SLICE_AFTER[MARKER_PHASE_CODES[phases[last]]] : undefined;
  if (phase && endNs !== undefined && endNs > timesNs[last]) {
    const slice: PhaseSlice = { phase, startNs: timesNs[last], endNs, iteration: iterations[last] };
    if (phase === 'poll' && trailingPollWaitNs !== undefined) slice.pollWaitNs = Math.min(trailingPollWaitNs, Number(endNs - timesNs[last]));
    slices.push(slice);
  }
  return slices;
}

/**
 * A window of a bounded recording in the trace file (ThreadInfo.windows, and the args of its
 * `loop window` slice): its first and last loop marker in the trace's µs (the last window ends
 * where the recording ended), iterations, busy and poll-wait time and time per phase slice in
 * ms (poll includes its wait), utilization (1 - wait / window), the longest iteration, long
 * iterations and stalls in it, and, when there were any, Node's pool requests and uvscope's jobs
 * by kind (`{ count, failed, p50Ms, p99Ms, maxMs }`: submission to callback, queued to settled)
 * and HTTP requests (`{ count, byStatus: { '2xx': n, ... , none }, notCompleted, p50Ms, p99Ms,
 * maxMs }`). Consecutive windows touch (the next begins at the previous one's last marker), so
 * together they cover the run from the loop's first iteration; a window lasts about a second,
 * longer while the loop waits in poll (a window ends at a marker).
 */
export type WindowInfo = Omit<LoopWindow, 'startNs' | 'endNs'> & { startUs: number; endUs: number };

/** Category of the `loop window` slices. */
export const WINDOW_CATEGORY = 'loop-window';
/** Name of a thread's window slices (on the thread's own track: its phase slices nest in them). */
export const WINDOW_SLICE_NAME = 'loop window';
/** The counters of a thread's windows are on track WINDOW_COUNTER_TID_BASE + its tid (counters belong to the process). */
export const WINDOW_COUNTER_TID_BASE = 3_000_000;

/**
 * A thread's windows as events: a `loop window` slice each on the thread's track (args: the
 * window, WindowInfo), and a `work per window (<thread>)` counter (iterations, pool requests,
 * jobs, HTTP requests of each window, at its start).
 */
export function windowEvents(pid: number, tid: number, threadName: string, windows: readonly WindowInfo[]): TraceEvent[] {
  const events: TraceEvent[] = [];
  const count = (kinds?: Record<string, { count: number }>) => Object.values(kinds ?? {}).reduce((sum, k) => sum + k.count, 0);
  for (const w of windows) {
    const { startUs, endUs, ...args } = w;
    events.push({ name: WINDOW_SLICE_NAME, cat: WINDOW_CATEGORY, ph: 'X', pid, tid, ts: startUs, dur: Math.max(0, endUs - startUs), args });
    events.push({
      name: `work per window (${threadName})`,
      cat: WINDOW_CATEGORY,
      ph: 'C',
      pid,
      tid: WINDOW_COUNTER_TID_BASE + tid,
      ts: startUs,
      args: { iterations: w.iterations, poolRequests: count(w.requests), jobs: count(w.jobs), httpRequests: w.http?.count ?? 0 },
    });
  }
  return events;
}

export interface ThreadTraceInput {
  pid: number;
  /** 0 for the main thread, the worker's threadId otherwise. */
  tid: number;
  threadName: string;
  /** The trace's time origin (ts 0), monotonic ns: the same for every thread and process of a trace. */
  originNs: bigint;
  /** When recording began in the thread: the time before the first marker (the main script and the timers libuv runs before its first iteration) is a 'startup' slice. */
  startNs: bigint;
  /** When recording ended: the startup slice ends there when the loop never turned. */
  endNs: bigint;
  /** The thread's first marker when `markers` no longer begin with it (the oldest were dropped). */
  firstMarkerNs?: bigint;
  markers: TraceColumns;
  /** Markers in runs with gaps between them (a bounded recording's detail spans): used instead of `markers`, no slice drawn across a gap. */
  markerRuns?: readonly TraceColumns[];
  /** A bounded recording's windows (drawn by windowEvents). */
  windows?: readonly WindowInfo[];
  /** When recording ended inside a poll's callbacks: that poll's wait, ns (ThreadBatch final.pollWaitSoFarNs). */
  trailingPollWaitNs?: number;
  longIterationNs: number;
  jobs: readonly JobRecord[];
  requests: readonly PoolRequestRecord[];
  stalls: readonly StallEvent[];
  /** The thread's finished HTTP requests (uvscope:http:request), and those in flight at the end (`inFlight`). */
  httpRequests?: readonly HttpRequestRecord[];
  /** The long iterations the observer reported, each drawn as a `long iteration` instant with the requests linked to it. */
  longIterations?: readonly LongIterationEvent[];
  /** longIterationLinks(longIterations, stalls, httpRequests), when the caller has them already. */
  longIterationLinks?: readonly LongIterationRequests[];
  utilization: readonly { timeNs: bigint; utilization: number }[];
  profile?: CpuProfile;
}

/**
 * One reading of a process's pool threads (trace/pool-thread-sampler.ts): each thread's
 * cumulative CPU time and run-queue wait since it started, ns (Linux schedstat).
 */
export interface PoolThreadSample {
  /** When it was read, monotonic ns. */
  timeNs: bigint;
  /** Threads libuv runs (UV_THREADPOOL_SIZE as libuv reads it). */
  expectedThreads: number;
  /** Kernel thread ids of the pool threads found so far. */
  tids: Int32Array;
  /** Per thread, [cpuNs, runQueueWaitNs] (NaN: no run-queue figure). */
  figures: Float64Array;
  /** Per thread, when it started (monotonic ns, the clock of `timeNs`); -1n where that is not known. Its totals count from there. */
  startsNs: BigInt64Array;
}

/** Category of the pool-thread counters. */
export const POOL_THREAD_CATEGORY = 'pool-thread';
/** Name of the counter of pool thread `tid` (its kernel id). */
export const poolThreadCounterName = (tid: number) => `pool thread ${tid}`;
/** Name of the counter of the whole pool. */
export const POOL_COUNTER_NAME = 'pool threads';

const ratio4 = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 10_000) / 10_000;

/**
 * A process's pool threads as counters, one value per interval between two samples, placed at
 * the interval's start (a counter holds its value until the next one): `pool thread <tid>`
 * with `{ busy, runq }` (its CPU time and its time runnable but waiting for a CPU, as ratios of
 * the interval: Perfetto draws a track for each, chrome://tracing stacks them, busy + runq ≤ 1).
 * A thread's first value, where its start is known, covers its life until it was first sampled
 * (its totals count from its start, and a busy pool's threads are found late). `pool threads`
 * is the mean of the threads' values at each point where one of them changes (of the threads
 * with a value there): the whole pool's ratios of threads × time. `backfill` false: the samples
 * are not the first ones (the oldest were dropped), so the first sample's threads are not new.
 * `runq` is left out where the platform has no such figure. The kernel adds a running thread's
 * time at its scheduler ticks, so an interval's pair can pass 1 by a tick's worth: it is scaled
 * to a sum of 1. The events are on `tid` (the thread that read the samples: counters belong to
 * the process).
 */
export function poolThreadEvents(pid: number, tid: number, originNs: bigint, samples: readonly PoolThreadSample[], backfill = true): TraceEvent[] {
  const events: TraceEvent[] = [];
  const us = (ns: bigint) => Number((ns > originNs ? ns : originNs) - originNs) / 1000;
  const counter = (name: string, atNs: bigint, busy: number, runq: number) => {
    // The kernel adds a running thread's time at scheduler ticks: a pair may pass 1 by a tick's worth.
    const sum = busy + (Number.isNaN(runq) ? 0 : runq);
    const scale = sum > 1 ? 1 / sum : 1;
    const args: Record<string, number> = { busy: ratio4(busy * scale) };
    if (!Number.isNaN(runq)) args.runq = ratio4(runq * scale);
    events.push({ name, cat: POOL_THREAD_CATEGORY, ph: 'C', pid, tid, ts: us(atNs), args });
  };
  // Per thread, its values in time order, each until the next (the last until `untilNs`).
  const threads = new Map<number, { steps: { atNs: bigint; busy: number; runq: number }[]; untilNs: bigint }>();
  for (let k = 0; k < samples.length; k++) {
    const after = samples[k];
    const before = k > 0 ? samples[k - 1] : undefined;
    const previous = new Map<number, number>();
    before?.tids.forEach((t, i) => previous.set(t, i));
    after.tids.forEach((t, i) => {
      let thread = threads.get(t);
      const j = previous.get(t);
      if (before && j !== undefined && after.timeNs > before.timeNs) {
        const intervalNs = Number(after.timeNs - before.timeNs);
        const cpuNs = Math.max(0, after.figures[i * 2] - before.figures[j * 2]);
        const waitNs = Math.max(0, after.figures[i * 2 + 1] - before.figures[j * 2 + 1]);
        thread?.steps.push({ atNs: before.timeNs, busy: cpuNs / intervalNs, runq: waitNs / intervalNs });
      } else if (!thread && (backfill || k > 0) && after.startsNs[i] >= 0n && after.startsNs[i] < after.timeNs) {
        const lifeNs = Number(after.timeNs - after.startsNs[i]);
        thread = { steps: [{ atNs: after.startsNs[i], busy: after.figures[i * 2] / lifeNs, runq: after.figures[i * 2 + 1] / lifeNs }], untilNs: after.timeNs };
      }
      thread ??= { steps: [], untilNs: after.timeNs };
      thread.untilNs = after.timeNs;
      threads.set(t, thread);
    });
  }
  for (const [t, thread] of threads) for (const step of thread.steps) counter(poolThreadCounterName(t), step.atNs, step.busy, step.runq);
  // The pool: the mean at every point where a thread's value changes.
  const points = [...new Set([...threads.values()].flatMap((thread) => thread.steps.map((step) => step.atNs)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const at = new Map<number, number>(); // per thread, its step in force
  for (const pointNs of points) {
    let busy = 0;
    let runq = 0;
    let n = 0;
    for (const [t, thread] of threads) {
      let i = at.get(t) ?? -1;
      while (i + 1 < thread.steps.length && thread.steps[i + 1].atNs <= pointNs) i++;
      at.set(t, i);
      if (i < 0 || pointNs >= thread.untilNs) continue;
      busy += thread.steps[i].busy;
      runq += thread.steps[i].runq;
      n++;
    }
    if (n) counter(POOL_COUNTER_NAME, pointNs, busy / n, runq / n);
  }
  return events;
}

/** Pool thread n of a process is on track POOL_TID_BASE + n (worker threadIds stay below). */
export const POOL_TID_BASE = 1_000_000;
/** Track of a thread's Node pool requests, lane n: REQUEST_TID_BASE + thread * 1000 + n. */
export const REQUEST_TID_BASE = 2_000_000;
const MAX_REQUEST_LANES = 1000;
export function requestTid(threadTid: number, lane: number): number {
  return REQUEST_TID_BASE + threadTid * MAX_REQUEST_LANES + lane;
}
/** The thread whose requests are on track `tid` (undefined when it is not a request track). */
export function requestThread(tid: number): number | undefined {
  return tid >= REQUEST_TID_BASE ? Math.floor((tid - REQUEST_TID_BASE) / MAX_REQUEST_LANES) : undefined;
}
/** A stall's end may pass the end of the slice it began in by this much (clock reads of different markers) and be clamped to it. */
const CLAMP_NS = 1_000_000n;

function frameText(frame: StallStackFrame): string {
  const where = frame.url ? `${frame.url}:${frame.line}:${frame.column}` : '<native>';
  return `${frame.functionName || '<anonymous>'} (${where})`;
}

/**
 * The 'stall' slice of one stall on its thread's track. A stall ends at the first heartbeat
 * after it began, and heartbeats come from the same markers as the phase slices, so it lies
 * within the slice it began in; an end past that slice's end by less than CLAMP_NS (the
 * heartbeat and the trace read the clock separately) is clamped to it, so the slices nest as
 * the trace format requires. `args.durationMs` is the stall's own duration either way.
 */
function stallEvent(stall: StallEvent, pid: number, tid: number, slices: readonly { startNs: bigint; endNs: bigint }[], us: (ns: bigint) => number, requests: RequestIndex): TraceEvent {
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
      ...(r.cpuNs !== undefined ? { cpuMs: r.cpuNs / 1e6 } : {}),
      ...(r.request ? { request: requests.ref(r.request).name } : {}),
      ...(r.stack ? { stack: r.stack.map(frameText) } : {}),
      ...(r.inNative ? { inNative: true } : {}),
    })),
  };
  // On a CPU or waiting: the last report that measured it covers the most of the stall.
  const measured = [...stall.reports].reverse().find((r) => r.cpuNs !== undefined);
  const share = measured && cpuShare(measured);
  if (share !== undefined) {
    args.cpuMs = measured!.cpuNs! / 1e6;
    args.onCpu = Math.round(share * 1000) / 1000;
  }
  const request = stallRequestOf(stall);
  if (request) {
    const ref = requests.ref(request);
    args.request = ref.name;
    if (ref.id !== undefined) args.requestId = ref.id;
  }
  const context = stall.context ?? stall.reports.find((r) => r.context)?.context;
  if (context) args.context = context;
  if (stall.lateStack) args.lateStack = stall.lateStack.frames.map(frameText);
  if (unavailable) args.stackUnavailable = unavailable.split('\n')[0];
  return { name: 'stall', cat: 'stall', ph: 'X', pid, tid, ts: us(startNs), dur: Number(endNs - startNs) / 1000, args };
}

const iterationStartNs = (l: LongIterationEvent) => l.endedAtNs - BigInt(Math.round(l.durationNs));

/** Each long iteration's links to HTTP requests (http-track.ts linkIterations). */
export function longIterationLinks(
  longIterations: readonly LongIterationEvent[],
  stalls: readonly StallEvent[],
  httpRequests: readonly HttpRequestRecord[],
  index?: RequestIndex,
): LongIterationRequests[] {
  return linkIterations(longIterations.map((l) => ({ startNs: iterationStartNs(l), endNs: l.endedAtNs })), stalls, httpRequests, index);
}

const refText = (r: RequestRef) => (r.id !== undefined ? { name: r.name, id: r.id } : { name: r.name });

/**
 * A long iteration as an instant where it began (a slice could not nest with the phase slices
 * whose clock reads differ from the observer's), with what it is linked to: `request` (and
 * `requestId`) when a stall report inside it named one (`requests` when several), and the
 * requests in flight while it ran (`requestsInFlight`, the first few in `inFlight`): those waited
 * for it, the data does not say which of them ran code in it. Phase `I`: DevTools' trace engine
 * reads instants only so (Perfetto and chrome://tracing read `i` and `I`).
 */
function longIterationEvent(pid: number, tid: number, l: LongIterationEvent, links: LongIterationRequests, us: (ns: bigint) => number): TraceEvent {
  const startNs = iterationStartNs(l);
  const args: Record<string, unknown> = {
    iteration: l.iteration,
    durationMs: l.durationNs / 1e6,
    pollWaitMs: l.pollWaitNs / 1e6,
    pollWorkMs: l.pollWorkNs / 1e6,
    outsidePollMs: l.outsidePollNs / 1e6,
  };
  if (links.stalled.length) {
    args.request = links.stalled[0].name;
    if (links.stalled[0].id !== undefined) args.requestId = links.stalled[0].id;
    if (links.stalled.length > 1) args.requests = links.stalled.map(refText);
  }
  args.requestsInFlight = links.inFlight;
  if (links.inFlightSample.length) args.inFlight = links.inFlightSample.map(refText);
  return { name: 'long iteration', cat: 'long-iteration', ph: 'I', s: 't', pid, tid, ts: us(startNs), args };
}

/** The 'process_name' metadata event of a process. */
export function processName(pid: number, title: string): TraceEvent {
  return { name: 'process_name', ph: 'M', pid, args: { name: title } };
}

/** Every event of one thread (its metadata included; the process's name is processName()'s). */
export function threadEvents(input: ThreadTraceInput): TraceEvent[] {
  return [...threadEventStream(input)];
}

/**
 * threadEvents() one at a time, each built when it is read: a process writing its trace holds
 * one event (and the chunk being written), not all of them (2 to 2.7 times the file's size, measured).
 */
export function* threadEventStream(input: ThreadTraceInput): Generator<TraceEvent> {
  const { pid, tid, originNs } = input;
  const us = (ns: bigint) => Number(ns - originNs) / 1000;
  yield { name: 'thread_name', ph: 'M', pid, tid, args: { name: input.threadName } };
  yield { name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: tid } };
  const runs = input.markerRuns ?? [input.markers];
  const firstRun = runs.find((r) => r.timesNs.length);
  const firstNs = input.firstMarkerNs ?? (firstRun ? firstRun.timesNs[0] : input.endNs);
  const loopSlices: { startNs: bigint; endNs: bigint }[] = [];
  const waitsUs: { startUs: number; endUs: number }[] = [];
  const absoluteUs = (ns: bigint) => Number(ns / 1000n) + Number(ns % 1000n) / 1000;
  // Always there, even when the loop never turned (a synchronous program): from the thread's
  // first line to its first iteration, or to its end.
  if (firstNs > input.startNs) {
    const durNs = Number(firstNs - input.startNs);
    loopSlices.push({ startNs: input.startNs, endNs: firstNs });
    yield { name: 'startup', cat: 'loop', ph: 'X', pid, tid, ts: us(input.startNs), dur: durNs / 1000, args: { iteration: 0, long: durNs >= input.longIterationNs } };
  }
  if (input.windows) yield* windowEvents(pid, tid, input.threadName, input.windows);
  for (let i = 0; i < runs.length; i++) for (const slice of i === runs.length - 1 ? phaseSlices(runs[i], input.endNs, input.trailingPollWaitNs) : phaseSlices(runs[i])) {
    loopSlices.push(slice);
    const durNs = Number(slice.endNs - slice.startNs);
    const args: Record<string, unknown> = { iteration: slice.iteration };
    if (slice.pollWaitNs !== undefined) {
      args.waitMs = slice.pollWaitNs / 1e6;
      args.workMs = Math.max(0, durNs - slice.pollWaitNs) / 1e6;
    }
    yield { name: slice.phase, cat: 'loop', ph: 'X', pid, tid, ts: us(slice.startNs), dur: durNs / 1000, args };
    // The wait comes first in poll (epoll_wait, then the I/O callbacks): nested at its start.
    if (slice.pollWaitNs) {
      const startUs = absoluteUs(slice.startNs);
      waitsUs.push({ startUs, endUs: startUs + Math.min(slice.pollWaitNs, durNs) / 1000 });
      yield { name: 'waiting for I/O', cat: 'loop-wait', ph: 'X', pid, tid, ts: us(slice.startNs), dur: Math.min(slice.pollWaitNs, durNs) / 1000 };
    }
  }
  const httpRequests = input.httpRequests ?? [];
  const index = new RequestIndex(httpRequests);
  const stallsByRequest = new Map<number, number>();
  for (const stall of input.stalls) {
    const event = stallEvent(stall, pid, tid, loopSlices, us, index);
    yield event;
    const id = event.args?.requestId;
    if (typeof id === 'number') stallsByRequest.set(id, (stallsByRequest.get(id) ?? 0) + 1);
  }
  yield* httpRequestEventStream(pid, tid, input.threadName, httpRequests, us, stallsByRequest);
  const longIterations = input.longIterations ?? [];
  const links = input.longIterationLinks ?? longIterationLinks(longIterations, input.stalls, httpRequests, index);
  for (let i = 0; i < longIterations.length; i++) yield longIterationEvent(pid, tid, longIterations[i], links[i], us);
  const poolThreads = new Set<number>();
  for (const job of input.jobs) {
    if (job.startedAt === 0n) continue;
    poolThreads.add(job.thread);
    yield {
      name: job.kernel,
      cat: 'job',
      ph: 'X',
      pid,
      tid: POOL_TID_BASE + job.thread,
      ts: us(job.startedAt),
      dur: job.runNs / 1000,
      args: {
        outcome: job.outcome,
        queueWaitMs: job.queueWaitNs / 1e6,
        returnDelayMs: job.returnDelayNs / 1e6,
        bytes: job.bytes,
        thread: input.threadName,
        ...(job.httpRequestId !== undefined ? { httpRequestId: job.httpRequestId } : {}),
      },
    };
  }
  for (const thread of [...poolThreads].sort((a, b) => a - b)) {
    yield { name: 'thread_name', ph: 'M', pid, tid: POOL_TID_BASE + thread, args: { name: `libuv pool thread ${thread}` } };
  }
  // Requests overlap (several in flight): each on the first of the thread's request tracks
  // ("lanes") free at its start, so that slices on a track never overlap.
  const laneEnds: bigint[] = [];
  const requests = [...input.requests].sort((a, b) => a.submittedAtNs - b.submittedAtNs);
  for (const request of requests) {
    const startNs = BigInt(Math.round(request.submittedAtNs));
    const endNs = startNs + BigInt(Math.round(request.latencyNs));
    let lane = laneEnds.findIndex((end) => end <= startNs);
    if (lane === -1) lane = laneEnds.length < MAX_REQUEST_LANES ? laneEnds.push(0n) - 1 : MAX_REQUEST_LANES - 1;
    laneEnds[lane] = endNs > laneEnds[lane] ? endNs : laneEnds[lane];
    const args = { outcome: request.outcome, latencyMs: request.latencyNs / 1e6, ...(request.httpRequestId !== undefined ? { httpRequestId: request.httpRequestId } : {}) };
    yield { name: request.kind, cat: 'pool-request', ph: 'X', pid, tid: requestTid(tid, lane), ts: us(startNs), dur: request.latencyNs / 1000, args };
  }
  for (let lane = 0; lane < laneEnds.length; lane++) {
    yield { name: 'thread_name', ph: 'M', pid, tid: requestTid(tid, lane), args: { name: `Node pool requests of ${input.threadName}${lane ? ` (${lane + 1})` : ''}` } };
  }
  for (const sample of input.utilization) {
    yield { name: `loop utilization (${input.threadName})`, ph: 'C', pid, tid, ts: us(sample.timeNs), args: { utilization: sample.utilization } };
  }
  if (input.profile) yield* profileEvents(pid, tid, withIdleSamples(input.profile, waitsUs), originNs);
}
