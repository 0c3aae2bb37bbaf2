/**
 * The main thread's collection of every thread's batches (its own and those its workers post),
 * in bounded memory: per thread, the newest `maxMarkers` loop markers and the newest `maxRecords`
 * pool jobs, pool requests, HTTP requests, utilization samples and detail spans, and the newest
 * `maxWindows` windows (a bounded recording's, thread-recorder.ts) are kept, the older ones
 * dropped and counted (what a bounded recording left out of its detail is counted apart: `leftOut`);
 * per process, the newest `maxRecords` pool-thread samples (and each pool thread's first and last
 * figures, for its ratios over the whole run). At the end, `build()` turns them into the
 * process's Chrome trace events. Lifetime: the process's (one per process, in register.ts).
 * @internal
 * @module
 */
import type { LongIterationEvent, TraceColumns } from '../loop/observer';
import { sliceColumns } from '../loop/trace-columns';
import type { StallEvent } from '../loop/stall-watchdog';
import type { HttpRequestRecord } from '../channels';
import { longIterationLinks, PoolThreadSample, poolThreadEvents, processName, threadEventStream, TraceEvent } from './format';
import type { ThreadTraceInput } from './format';
import type { DetailSpan, LeftOut } from './detail-spans';
import type { ThreadBatch } from './thread-recorder';
import type { LoopWindow } from './loop-window';
import type { CpuTree } from './cpu-tree';
import type { WindowInfo } from './format';

/** Loop markers of a batch; `gapBefore`: markers were left out (or dropped) right before them. */
type MarkerBatch = TraceColumns & { gapBefore?: boolean };

/** Oldest-first batches of something, at most `max` items: the oldest go first (whole batches, then the oldest part of one). */
class BatchRing<T> {
  #batches: T[] = [];
  #count = 0;
  dropped = 0;

  constructor(
    readonly max: number,
    readonly size: (batch: T) => number,
    /** The batch without its first `n` items. */
    readonly drop: (batch: T, n: number) => T,
  ) {}

  push(batch: T): void {
    const n = this.size(batch);
    if (n === 0) return;
    this.#batches.push(batch);
    this.#count += n;
    while (this.#count > this.max) {
      const oldest = this.#batches[0];
      const excess = this.#count - this.max;
      const size = this.size(oldest);
      if (size <= excess) this.#batches.shift();
      else this.#batches[0] = this.drop(oldest, excess);
      const gone = Math.min(size, excess);
      this.#count -= gone;
      this.dropped += gone;
    }
  }

  get batches(): readonly T[] {
    return this.#batches;
  }
}

/** The batches as runs of contiguous markers (a new run at each gap). */
function markerRuns(batches: readonly MarkerBatch[]): TraceColumns[] {
  const runs: MarkerBatch[][] = [];
  for (const b of batches) {
    if (b.gapBefore || !runs.length) runs.push([b]);
    else runs[runs.length - 1].push(b);
  }
  return runs.map(concatColumns);
}

function concatColumns(parts: readonly TraceColumns[]): TraceColumns {
  const n = parts.reduce((sum, p) => sum + p.timesNs.length, 0);
  const out: TraceColumns = { timesNs: new BigUint64Array(n), iterations: new Float64Array(n), phases: new Uint8Array(n), pollWaitsNs: new Float64Array(n) };
  let at = 0;
  for (const p of parts) {
    out.timesNs.set(p.timesNs, at);
    out.iterations.set(p.iterations, at);
    out.phases.set(p.phases, at);
    out.pollWaitsNs.set(p.pollWaitsNs, at);
    at += p.timesNs.length;
  }
  return out;
}

const emptyColumns: TraceColumns = { timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) };

class ThreadCollection {
  startNs?: bigint;
  /** The thread's first loop marker, kept when the markers around it are dropped: the end of its startup. */
  firstMarkerNs?: bigint;
  endNs?: bigint;
  final?: ThreadBatch['final'];
  droppedByNative = 0;
  httpRequestCount = 0;
  readonly left: LeftOut = { markers: 0, requests: 0, jobs: 0, httpRequests: 0 };
  readonly markers: BatchRing<MarkerBatch>;
  readonly windows: BatchRing<LoopWindow[]>;
  readonly spans: BatchRing<DetailSpan[]>;
  readonly jobs: BatchRing<ThreadBatch['jobs']>;
  readonly requests: BatchRing<ThreadBatch['requests']>;
  readonly utilization: BatchRing<ThreadBatch['utilization']>;
  readonly longIterations: BatchRing<LongIterationEvent[]>;
  readonly stalls: BatchRing<StallEvent[]>;
  readonly httpRequests: BatchRing<HttpRequestRecord[]>;

  constructor(limits: CollectorLimits) {
    const length = (a: readonly unknown[]) => a.length;
    const slice = <T>(a: T[], n: number) => a.slice(n);
    this.markers = new BatchRing<MarkerBatch>(limits.maxMarkers, (c) => c.timesNs.length, (c, n) => ({ ...sliceColumns(c, n), gapBefore: true }));
    this.windows = new BatchRing<LoopWindow[]>(limits.maxWindows ?? 100_000, length, slice);
    this.spans = new BatchRing<DetailSpan[]>(limits.maxRecords, length, slice);
    this.jobs = new BatchRing<ThreadBatch['jobs']>(limits.maxRecords, length, slice);
    this.requests = new BatchRing<ThreadBatch['requests']>(limits.maxRecords, length, slice);
    this.utilization = new BatchRing<ThreadBatch['utilization']>(limits.maxRecords, length, slice);
    this.longIterations = new BatchRing<LongIterationEvent[]>(limits.maxRecords, length, slice);
    this.stalls = new BatchRing<StallEvent[]>(1000, length, slice);
    this.httpRequests = new BatchRing<HttpRequestRecord[]>(limits.maxRecords, length, slice);
  }
}

export interface CollectorLimits {
  /** Loop markers kept per thread (4 per iteration; each about 25 bytes). */
  maxMarkers: number;
  /** Pool jobs, pool requests, HTTP requests, utilization samples, long iterations and detail spans kept per thread, each. */
  maxRecords: number;
  /** Windows kept per thread (default 100,000: 27 hours of 1 s windows). */
  maxWindows?: number;
}

/** What the summary needs of a thread beyond its events: in the trace file's `uvscope` section. */
export interface ThreadInfo {
  tid: number;
  name: string;
  iterations?: number;
  utilization?: number;
  iterationP50Ms?: number;
  iterationP99Ms?: number;
  longIterations: {
    iteration: number;
    endedAtUs: number;
    durationMs: number;
    pollWaitMs: number;
    pollWorkMs: number;
    outsidePollMs: number;
    /** HTTP requests a stall report inside it named (the blocking code ran for them); `id` when the request finished while recorded. */
    stallRequests?: { name: string; id?: number }[];
    /** Finished HTTP requests in flight while it ran (they waited for it); the first few in `inFlight`. */
    requestsInFlight?: number;
    inFlight?: { name: string; id?: number }[];
  }[];
  stallCount?: number;
  /** HTTP requests recorded (finished: uvscope:http:request; and those in flight at the end, `inFlight`), the dropped and those left out of the detail (bounded) included. */
  httpRequests?: number;
  /** Records left out to keep memory bounded (the oldest first). */
  dropped: { markers: number; jobs: number; requests: number; utilization: number; longIterations: number; httpRequests?: number; windows?: number; spans?: number };
  /** CPU samples kept with their times (bounded: those in the detail spans, with an (idle) sample closing each span). */
  cpuSamples: number;
  /** Every CPU sample of the run folded into one call tree (cpu-tree.ts). */
  cpuTree?: CpuTree;
  /** Bounded: samples whose times were not kept (outside the detail spans); kept ones dropped past the cap. */
  cpuSamplesOmitted?: number;
  cpuSamplesDropped?: number;
  /** Bounded: profiler restarts (one per CPU chunk) and the longest and mean loop pause one cost, ms. */
  cpuRotations?: number;
  cpuRotationMaxMs?: number;
  cpuRotationMeanMs?: number;
  /** 'bounded': the run as `windows`, full detail only in `spans`; 'full': every marker and record. */
  detail?: 'bounded' | 'full';
  /** The run as windows (WindowInfo in format.ts), oldest first; the oldest dropped past the cap (`dropped.windows`). */
  windows?: WindowInfo[];
  /** Bounded: the stretches kept in full detail (around long iterations, and the end of the run), µs. */
  spans?: { startUs: number; endUs: number }[];
  /** Bounded: what was left out of the detail on purpose (it is in the windows): loop markers, pool requests, jobs, HTTP requests. */
  leftOut?: LeftOut;
  cpuUnavailable?: string;
  watchdogUnavailable?: string;
  /** Pool requests by kind over the whole run (not only those kept), from monitorPoolRequests. */
  requests?: Record<string, { count: number; failed: number; p50Ms: number; p99Ms: number }>;
  /** Whether the thread's last batch arrived (a worker terminated, or still running when the process exited, has none). */
  complete: boolean;
}

/** A process's pool threads over the run, in the trace file's `uvscope` section. */
export interface PoolThreadsInfo {
  /** Threads libuv runs (UV_THREADPOOL_SIZE as libuv reads it). */
  expectedThreads: number;
  /** From the earliest thread start (or first sample) to the last sample, ms. */
  windowMs: number;
  /** CPU time over threads × their windows (each thread's: from its start, where known, else from the first sample it was in, to the last). */
  busyRatio: number;
  /** Run-queue wait (runnable, waiting for a CPU) over threads × their windows; absent where the platform has no such figure. */
  runQueueRatio?: number;
  threads: { tid: number; windowMs: number; busyRatio: number; runQueueRatio?: number }[];
  samples: number;
  /** Samples left out to keep memory bounded (the oldest; the ratios above still cover the whole run). */
  droppedSamples: number;
}

export interface ProcessInfo {
  pid: number;
  title: string;
  threads: ThreadInfo[];
  /** Absent when no pool thread was sampled (the process ended before its first 100 ms tick, or see `poolThreadsUnavailable`). */
  poolThreads?: PoolThreadsInfo;
  /** Why the pool threads could not be measured. */
  poolThreadsUnavailable?: string;
}

/** One pool thread's figures when first and last sampled. */
interface PoolThreadSpan {
  firstNs: bigint;
  firstCpuNs: number;
  firstWaitNs: number;
  lastNs: bigint;
  lastCpuNs: number;
  lastWaitNs: number;
}

export class ProcessCollector {
  readonly #threads = new Map<number, ThreadCollection>();
  readonly #waiting = new Map<number, () => void>();
  readonly #poolSamples: BatchRing<PoolThreadSample[]>;
  readonly #poolSpans = new Map<number, PoolThreadSpan>();
  #poolExpected = 0;
  /** Why the pool threads could not be measured (set by the owner). */
  poolThreadsUnavailable?: string;

  constructor(readonly limits: CollectorLimits) {
    this.#poolSamples = new BatchRing<PoolThreadSample[]>(limits.maxRecords, (a) => a.length, (a, n) => a.slice(n));
  }

  /** A reading of the process's pool threads (undefined: none, ignored). */
  addPoolSample(sample: PoolThreadSample | undefined): void {
    if (!sample) return;
    this.#poolSamples.push([sample]);
    this.#poolExpected = sample.expectedThreads;
    sample.tids.forEach((tid, i) => {
      const cpuNs = sample.figures[i * 2];
      const waitNs = sample.figures[i * 2 + 1];
      const span = this.#poolSpans.get(tid);
      if (span) {
        Object.assign(span, { lastNs: sample.timeNs, lastCpuNs: cpuNs, lastWaitNs: waitNs });
        return;
      }
      // Its totals count from its start: from there when it is known, else from this reading.
      const startNs = sample.startsNs[i];
      const first = startNs >= 0n && startNs < sample.timeNs ? { firstNs: startNs, firstCpuNs: 0, firstWaitNs: Number.isNaN(waitNs) ? NaN : 0 } : { firstNs: sample.timeNs, firstCpuNs: cpuNs, firstWaitNs: waitNs };
      this.#poolSpans.set(tid, { ...first, lastNs: sample.timeNs, lastCpuNs: cpuNs, lastWaitNs: waitNs });
    });
  }

  /** The pool threads' ratios over the run; undefined before two samples of one thread. */
  #poolThreadsInfo(): PoolThreadsInfo | undefined {
    const samples = this.#poolSamples.batches.flat();
    const threads: PoolThreadsInfo['threads'] = [];
    let cpuSum = 0;
    let waitSum = 0;
    let windowSum = 0;
    let waitKnown = true;
    let firstNs: bigint | undefined;
    let lastNs: bigint | undefined;
    for (const [tid, s] of this.#poolSpans) {
      const windowNs = Number(s.lastNs - s.firstNs);
      if (windowNs <= 0) continue;
      const cpuNs = Math.max(0, s.lastCpuNs - s.firstCpuNs);
      const waitNs = Math.max(0, s.lastWaitNs - s.firstWaitNs);
      const known = !Number.isNaN(waitNs);
      waitKnown &&= known;
      threads.push({ tid, windowMs: windowNs / 1e6, busyRatio: cpuNs / windowNs, ...(known ? { runQueueRatio: waitNs / windowNs } : {}) });
      cpuSum += cpuNs;
      waitSum += known ? waitNs : 0;
      windowSum += windowNs;
      if (firstNs === undefined || s.firstNs < firstNs) firstNs = s.firstNs;
      if (lastNs === undefined || s.lastNs > lastNs) lastNs = s.lastNs;
    }
    if (!threads.length) return undefined;
    return {
      expectedThreads: this.#poolExpected,
      windowMs: Number(lastNs! - firstNs!) / 1e6,
      busyRatio: cpuSum / windowSum,
      ...(waitKnown ? { runQueueRatio: waitSum / windowSum } : {}),
      threads,
      samples: samples.length,
      droppedSamples: this.#poolSamples.dropped,
    };
  }

  /** Whether a batch of the thread arrived. */
  has(threadId: number): boolean {
    return this.#threads.has(threadId);
  }

  /** Whether the thread's last batch arrived. */
  finished(threadId: number): boolean {
    return this.#threads.get(threadId)?.final !== undefined;
  }

  /** Resolves when the thread's last batch arrives, or after `timeoutMs`. */
  waitFinished(threadId: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiting.set(threadId, done);
    });
  }

  add(batch: ThreadBatch): void {
    let thread = this.#threads.get(batch.threadId);
    if (!thread) this.#threads.set(batch.threadId, (thread = new ThreadCollection(this.limits)));
    if (batch.startNs !== undefined) thread.startNs = batch.startNs;
    if (batch.endNs !== undefined) thread.endNs = batch.endNs;
    if (batch.final) {
      thread.final = batch.final;
      this.#waiting.get(batch.threadId)?.();
      this.#waiting.delete(batch.threadId);
    }
    thread.droppedByNative += batch.droppedMarkers;
    if (batch.firstMarkerNs !== undefined && (thread.firstMarkerNs === undefined || batch.firstMarkerNs < thread.firstMarkerNs)) thread.firstMarkerNs = batch.firstMarkerNs;
    if (thread.firstMarkerNs === undefined && batch.markers.timesNs.length) thread.firstMarkerNs = batch.markers.timesNs[0];
    // A run of markers per stretch without a gap (markers left out before it).
    const gaps = batch.markerGaps ?? [];
    const starts = [0, ...gaps.filter((at) => at > 0)];
    starts.forEach((from, i) => {
      const to = i + 1 < starts.length ? starts[i + 1] : batch.markers.timesNs.length;
      const part = from === 0 && to === batch.markers.timesNs.length ? batch.markers : sliceColumns(batch.markers, from, to);
      const gapBefore = from > 0 || gaps.includes(0) || batch.droppedMarkers > 0;
      thread.markers.push(gapBefore ? { ...part, gapBefore } : part);
    });
    if (batch.windows) thread.windows.push(batch.windows);
    if (batch.spans) thread.spans.push(batch.spans);
    if (batch.left) for (const key of ['markers', 'requests', 'jobs', 'httpRequests'] as const) thread.left[key] += batch.left[key];
    thread.jobs.push(batch.jobs);
    thread.requests.push(batch.requests);
    thread.utilization.push(batch.utilization);
    thread.longIterations.push(batch.longIterations);
    thread.stalls.push(batch.stalls);
    thread.httpRequests.push(batch.httpRequests ?? []);
    thread.httpRequestCount += (batch.httpRequests?.length ?? 0) + (batch.left?.httpRequests ?? 0);
  }

  /** The process's trace events and what the summary needs beside them. `nowNs` ends threads whose last batch never came. */
  build(pid: number, title: string, originNs: bigint, longIterationNs: number, nowNs: bigint): { events: TraceEvent[]; info: ProcessInfo } {
    const { events, info } = this.stream(pid, title, originNs, longIterationNs, nowNs);
    // One event at a time: a spread of a million events would overflow the stack.
    const all: TraceEvent[] = [];
    for (const event of events) all.push(event);
    return { events: all, info };
  }

  /**
   * build() with the events made as they are read (each iteration of `events` makes them anew
   * from what the collector holds): a writer holds one event at a time, not the whole trace.
   */
  stream(pid: number, title: string, originNs: bigint, longIterationNs: number, nowNs: bigint): { events: Iterable<TraceEvent>; info: ProcessInfo } {
    const inputs: ThreadTraceInput[] = [];
    const info: ProcessInfo = { pid, title, threads: [] };
    const poolSamples = this.#poolSamples.batches.flat();
    const poolComplete = this.#poolSamples.dropped === 0;
    const events = {
      *[Symbol.iterator](): Generator<TraceEvent> {
        yield processName(pid, title);
        // On the main thread's track (0): it reads them; counters belong to the process.
        yield* poolThreadEvents(pid, 0, originNs, poolSamples, poolComplete);
        for (const input of inputs) yield* threadEventStream(input);
      },
    };
    const pool = this.#poolThreadsInfo();
    if (pool) info.poolThreads = pool;
    if (this.poolThreadsUnavailable) info.poolThreadsUnavailable = this.poolThreadsUnavailable;
    const toUs = (ns: bigint) => Number(ns - originNs) / 1000;
    for (const [threadId, t] of [...this.#threads.entries()].sort((a, b) => a[0] - b[0])) {
      if (t.startNs === undefined) continue;
      const threadName = threadId === 0 ? 'main thread' : `worker ${threadId}`;
      const profile = t.final?.profile;
      const stalls = t.stalls.batches.flat();
      const httpRequests = t.httpRequests.batches.flat();
      const longIterations = t.longIterations.batches.flat();
      const links = longIterationLinks(longIterations, stalls, httpRequests);
      const windows: WindowInfo[] = t.windows.batches.flat().map(({ startNs, endNs, ...w }) => ({ startUs: toUs(startNs), endUs: toUs(endNs), ...w }));
      const bounded = t.final?.detail === 'bounded' || t.spans.batches.length > 0;
      inputs.push({
          pid,
          tid: threadId,
          threadName,
          originNs,
          startNs: t.startNs,
          firstMarkerNs: t.firstMarkerNs,
          endNs: t.endNs ?? nowNs,
          markers: emptyColumns,
          markerRuns: markerRuns(t.markers.batches),
          windows,
          trailingPollWaitNs: t.final?.pollWaitSoFarNs,
          longIterationNs,
          jobs: t.jobs.batches.flat(),
          requests: t.requests.batches.flat(),
          stalls,
          httpRequests,
          longIterations,
          longIterationLinks: links,
          utilization: t.utilization.batches.flat(),
          profile,
        });
      const f = t.final;
      const ms = (ns: number) => ns / 1e6;
      info.threads.push({
        tid: threadId,
        name: threadName,
        iterations: f?.iterations,
        utilization: f?.utilization,
        iterationP50Ms: f && ms(f.iterationP50Ns),
        iterationP99Ms: f && ms(f.iterationP99Ns),
        longIterations: longIterations.map((l, i) => ({
          iteration: l.iteration,
          endedAtUs: toUs(l.endedAtNs),
          durationMs: ms(l.durationNs),
          pollWaitMs: ms(l.pollWaitNs),
          pollWorkMs: ms(l.pollWorkNs),
          outsidePollMs: ms(l.outsidePollNs),
          ...(links[i].stalled.length ? { stallRequests: links[i].stalled } : {}),
          requestsInFlight: links[i].inFlight,
          ...(links[i].inFlightSample.length ? { inFlight: links[i].inFlightSample } : {}),
        })),
        stallCount: f?.stallCount,
        httpRequests: t.httpRequestCount,
        dropped: {
          markers: t.markers.dropped + t.droppedByNative,
          jobs: t.jobs.dropped,
          requests: t.requests.dropped,
          utilization: t.utilization.dropped,
          longIterations: t.longIterations.dropped,
          httpRequests: t.httpRequests.dropped,
          windows: t.windows.dropped,
          spans: t.spans.dropped,
        },
        cpuSamples: profile?.samples.length ?? 0,
        ...(f?.cpuTree ? { cpuTree: f.cpuTree } : {}),
        ...(f?.cpuSamplesOmitted !== undefined ? { cpuSamplesOmitted: f.cpuSamplesOmitted, cpuSamplesDropped: f.cpuSamplesDropped, cpuRotations: f.cpuRotations, cpuRotationMaxMs: f.cpuRotationMaxMs, cpuRotationMeanMs: f.cpuRotationMeanMs } : {}),
        detail: bounded ? 'bounded' : 'full',
        windows,
        ...(bounded ? { spans: t.spans.batches.flat().map((s) => ({ startUs: toUs(s.startNs), endUs: toUs(s.endNs) })), leftOut: { ...t.left } } : {}),
        cpuUnavailable: f?.cpuUnavailable,
        watchdogUnavailable: f?.watchdogUnavailable,
        requests: f
          ? Object.fromEntries(
              Object.entries(f.requestStats.requests).map(([kind, k]) => [
                kind,
                { count: k.completed + k.failed + k.cancelled, failed: k.failed, p50Ms: ms(k.latency.p50), p99Ms: ms(k.latency.p99) },
              ]),
            )
          : undefined,
        complete: f !== undefined,
      });
    }
    return { events, info };
  }
}
