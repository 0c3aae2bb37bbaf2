/**
 * What `uvscope trace` records in one thread (the main thread or a worker): the loop's markers
 * (a TraceObserver: phase markers into a native ring), its long iterations with their split,
 * utilization every flush, uvscope's pool jobs and Node's own pool requests, the HTTP requests
 * its servers finished (uvscope's request tracker, held for the recording: also without a
 * watchdog), stalls (a StallWatchdog, which names the request a stall ran for) and V8's CPU
 * samples (an inspector session on the thread).
 *
 * Two levels of detail:
 * - `bounded` (the default): the whole run as windows (loop-window.ts: by default a second
 *   each, summed natively from the markers and from the records as they arrive), and full
 *   detail only in spans around long iterations (detail-spans.ts): when one ends, the ring is drained at once
 *   (its newest `turnsBefore` turns, at most BEFORE_MAX_NS before the iteration, and the
 *   iteration), and at the next flushes (the oldest `turnsAfter` turns after it, taken for up to
 *   AFTER_MAX_NS; the span stays open until then); at the other flushes the ring is trimmed to
 *   its newest `turnsBefore` turns (O(1), no copy). A gap between kept markers (a trim) is sent
 *   where it is (`markerGaps`), so spans of one batch are kept whole. Pool requests, jobs and HTTP
 *   requests are kept whole when they overlap a span (and each window's 20 slowest HTTP requests);
 *   the others only in the windows, counted in `left`. CPU samples: the profile is taken in
 *   chunks of `cpuChunkMs` (30 s: V8 stops and starts the profiler, a pause of the loop of
 *   10-25 ms measured here, up to 45 ms on a loaded machine, growing with the code V8 logs at
 *   each start; an iteration long only because of it gets no detail span), each folded into a CpuTreeBuilder (the whole run) and its samples inside the
 *   spans kept with their times (profile-splicer.ts); the chunks are cpu-chunks.ts's.
 * - `full`: every marker and record, one CPU profile for the whole run (memory grows with the
 *   run; the collector keeps the newest).
 * The recorder hands what it saw in batches: `flush()` (what is new since the last batch,
 * called every 100 ms by its owner) and `finish()` (the last batch, with the CPU profile and the
 * loop's statistics, and the HTTP requests still in flight then as records ending there:
 * in-flight-requests.ts; a flight recorder's dump asks for those with `httpInFlight()`).
 * Lifetime: from construction to `finish()`, which stops everything it started.
 * @internal
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';

import { MARKER_PHASE_CODES } from '../loop/phases';
import type { TraceColumns } from '../loop/trace-columns';
import { StallWatchdog } from '../loop/stall-watchdog';
import type { StallEvent } from '../loop/stall-watchdog';
import { acquireHttpRequests, httpRequestsInFlight, releaseHttpRequests } from '../loop/http-requests';
import { monitorPoolRequests, PoolRequestStats } from '../requests/monitor';
import { HTTP_REQUEST_CHANNEL, HttpRequestRecord, JOB_CHANNEL, JobRecord, LongIterationEvent, POOL_REQUEST_CHANNEL, PoolRequestRecord } from '../channels';
import { CpuChunks } from './cpu-chunks';
import type { CpuProfile } from './cpu-profiler';
import type { CpuTree } from './cpu-tree';
import { DetailSpans, type DetailSpan, type LeftOut, type MarkerRing } from './detail-spans';
import { inFlightRecords } from './in-flight-requests';
import { LoopWindow, WindowAccumulator } from './loop-window';
import { TraceObserver } from './trace-observer';

export type DetailLevel = 'bounded' | 'full';

export interface RecorderOptions {
  /** An iteration busy (its duration minus its poll wait) longer than this is long, ms. */
  blockMs: number;
  /** Stall threshold, ms; undefined: no watchdog. */
  stallMs?: number;
  /** A file descriptor the watchdog writes its report lines to while the loop is blocked. */
  stallFile?: number;
  /** CPU sampling interval, µs; 0: no CPU samples. */
  sampleUs: number;
  /** Native ring buffer size, events (4 per iteration): drained (full) or trimmed (bounded) every flush. */
  traceCapacity?: number;
  /** 'bounded' (default) or 'full'. */
  detail?: DetailLevel;
  /** Window length, ms (default 1000): a window closes at the first flush this long after it opened. */
  windowMs?: number;
  /** Bounded: turns kept before a long iteration (default 50, at most 200 ms before it). */
  turnsBefore?: number;
  /** Bounded: turns kept after a long iteration (default 50, taken up to 200 ms after it). */
  turnsAfter?: number;
  /** Bounded: the CPU profile is taken in chunks this long, ms (default 30000). */
  cpuChunkMs?: number;
  /** Bounded: CPU samples kept with their times, at most (default 500000: the oldest go). */
  maxDetailSamples?: number;
  /** Bounded: HTTP requests kept whole per window, the slowest (default 20: a window with no more keeps them all). */
  slowestPerWindow?: number;
  /** Called on the loop thread with each stall the watchdog reports (after the recorder has it). */
  onStall?: (stall: StallEvent) => void;
}

/** What a thread saw since its previous batch. Structured-clone safe (posted from workers). */
export interface ThreadBatch {
  threadId: number;
  /** When recording began (first batch) or ended (last batch), monotonic ns. */
  startNs?: bigint;
  endNs?: bigint;
  /** The thread's first loop marker (bounded: its first window's start; the first batch with one). */
  firstMarkerNs?: bigint;
  markers: TraceColumns;
  /**
   * Where markers were left out: indices into `markers` of the markers that follow a gap, 0
   * when the gap is before this batch (between the previous batch's markers and these); absent
   * when there was none.
   */
  markerGaps?: number[];
  /** Events the native ring buffer overwrote since the previous batch. */
  droppedMarkers: number;
  longIterations: LongIterationEvent[];
  utilization: { timeNs: bigint; utilization: number }[];
  jobs: JobRecord[];
  requests: PoolRequestRecord[];
  /** HTTP requests the thread's servers finished (answered, or closed first); the last batch adds those still in flight (`inFlight`). */
  httpRequests: HttpRequestRecord[];
  stalls: StallEvent[];
  /** Windows closed since the previous batch. */
  windows?: LoopWindow[];
  /** Detail spans closed since the previous batch (bounded). */
  spans?: DetailSpan[];
  /** Left out of the detail since the previous batch (bounded). */
  left?: LeftOut;
  /** Last batch only. */
  final?: {
    profile?: CpuProfile;
    /** Every sample of the run folded (bounded and full). */
    cpuTree?: CpuTree;
    /** Samples whose times were not kept (outside the detail spans), and kept ones dropped past the cap. */
    cpuSamplesOmitted?: number;
    cpuSamplesDropped?: number;
    /** Profiler restarts (bounded: one per chunk) and the longest pause one cost the loop, ms. */
    cpuRotations?: number;
    cpuRotationMaxMs?: number;
    cpuRotationMeanMs?: number;
    detail?: DetailLevel;
    /** Why there are no CPU samples when they were asked for. */
    cpuUnavailable?: string;
    watchdogUnavailable?: string;
    iterations: number;
    utilization: number;
    iterationP50Ns: number;
    iterationP99Ns: number;
    longIterations: number;
    stallCount?: number;
    requestStats: PoolRequestStats;
    /**
     * Taken inside a poll (an I/O callback: a worker asked for its last batch, process.exit()
     * or a signal handled there): how long that poll waited before its callbacks ran, ns. Its
     * check marker, which carries a poll's wait, never comes.
     */
    pollWaitSoFarNs?: number;
  };
}

/**
 * The thread's loop idle time so far (libuv's `uv_metrics_idle_time`, as the observer's), ns:
 * read through performance.eventLoopUtilization() (median 9 µs here) rather than the observer's
 * stats(), which summarizes four histograms (median 25 µs) for the one figure a flush needs.
 */
function idleNowNs(): number {
  return performance.eventLoopUtilization().idle * 1e6;
}

const emptyColumns = (): TraceColumns => ({ timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) });

function concat(a: TraceColumns, b: TraceColumns): TraceColumns {
  if (!a.timesNs.length) return b;
  if (!b.timesNs.length) return a;
  const n = a.timesNs.length + b.timesNs.length;
  const out: TraceColumns = { timesNs: new BigUint64Array(n), iterations: new Float64Array(n), phases: new Uint8Array(n), pollWaitsNs: new Float64Array(n) };
  for (const key of ['timesNs', 'iterations', 'phases', 'pollWaitsNs'] as const) {
    (out[key] as Float64Array).set(a[key] as Float64Array);
    (out[key] as Float64Array).set(b[key] as Float64Array, a.timesNs.length);
  }
  return out;
}

/** `a` and `b` added (either may be absent). */
function addLeft(a: LeftOut | undefined, b: LeftOut): LeftOut {
  if (!a) return b;
  return { markers: a.markers + b.markers, requests: a.requests + b.requests, jobs: a.jobs + b.jobs, httpRequests: a.httpRequests + b.httpRequests };
}

export class ThreadRecorder {
  readonly #options: RecorderOptions;
  readonly #bounded: boolean;
  readonly #observer: TraceObserver;
  readonly #watchdog?: StallWatchdog;
  readonly #watchdogUnavailable?: string;
  /** The CPU profile, in chunks (bounded) or whole (full). */
  readonly #cpu: CpuChunks;
  readonly #requestMonitor = monitorPoolRequests();
  readonly #startNs = process.hrtime.bigint();
  #sentStart = false;
  #sentFirstMarker = false;
  #droppedSeen = 0;
  /** Of the drops since the last batch, those counted as left out (bounded). */
  #droppedLeft = 0;
  #markers: TraceColumns = emptyColumns();
  /** Indices into #markers of the markers that follow a gap (see ThreadBatch.markerGaps). */
  #markerGaps: number[] = [];
  /** Markers were left out since the last drain (trimmed, or overwritten). */
  #gap = false;
  #longIterations: LongIterationEvent[] = [];
  #utilization: { timeNs: bigint; utilization: number }[] = [];
  #jobs: JobRecord[] = [];
  #requests: PoolRequestRecord[] = [];
  #httpRequests: HttpRequestRecord[] = [];
  #stalls: StallEvent[] = [];
  #windows: LoopWindow[] = [];
  /** Bounded: which detail is kept around long iterations (the spans, the records in them, what is left out). */
  readonly #spans?: DetailSpans;
  /** The ring as the spans take from it: what they drain goes into the batch, what they leave out makes a gap. */
  readonly #ring: MarkerRing = {
    buffered: () => this.#observer.buffered,
    trim: (keep) => {
      this.#observer.trim(keep);
      this.#gap = true;
    },
    drain: (max) => this.#drain(max),
    add: (columns, afterGap) => {
      if (afterGap) this.#gap = true;
      this.#addMarkers(columns);
    },
    overwritten: () => this.#dropsLeftOut(),
  };
  readonly #window: WindowAccumulator;
  #windowOpenedNs = process.hrtime.bigint();
  #lastFlushNs = process.hrtime.bigint();
  #idleAtFlushNs = idleNowNs();
  #finished = false;
  /** Stalls the watchdog emitted so far (all batches). */
  #stallsSeen = 0;
  readonly #onJob = (message: unknown) => {
    const job = message as JobRecord;
    this.#window.job(job);
    if (this.#spans) this.#spans.job(job);
    else this.#jobs.push(job);
  };
  readonly #onRequest = (message: unknown) => {
    const request = message as PoolRequestRecord;
    this.#window.request(request);
    if (this.#spans) this.#spans.request(request);
    else this.#requests.push(request);
  };
  readonly #onHttpRequest = (message: unknown) => {
    const request = message as HttpRequestRecord;
    this.#window.http(request);
    if (this.#spans) this.#spans.http(request);
    else this.#httpRequests.push(request);
  };
  readonly #onBeforeExit: () => void;

  constructor(options: RecorderOptions) {
    this.#options = options;
    this.#bounded = (options.detail ?? 'bounded') === 'bounded';
    this.#window = new WindowAccumulator(options.slowestPerWindow ?? 20);
    // First, so that the samples cover the thread's code from its first line.
    this.#cpu = new CpuChunks(options, this.#bounded);
    if (this.#bounded) this.#spans = new DetailSpans(this.#startNs, options);
    this.#observer = new TraceObserver({ traceCapacity: options.traceCapacity ?? 1 << 18, blockThresholdMs: options.blockMs, onLongIteration: (event) => this.#onLongIteration(event) });
    // Subscribed before the tracker starts: a request records its start time only while the
    // channel has subscribers. Held by the recorder itself, so that requests are drawn with no
    // watchdog too (the watchdog holds it as well, and names the request a stall ran for).
    diagnosticsChannel.subscribe(HTTP_REQUEST_CHANNEL, this.#onHttpRequest);
    acquireHttpRequests();
    if (options.stallMs !== undefined) {
      try {
        // Reports more often than every second would flood the terminal in a long block.
        this.#watchdog = new StallWatchdog({ thresholdMs: options.stallMs, repeatMs: Math.max(options.stallMs, 1000), file: options.stallFile }).start();
        this.#watchdog.on('stall', (stall) => {
          this.#stallsSeen++;
          this.#stalls.push(stall);
          this.#window.stall();
          options.onStall?.(stall);
        });
      } catch (error) {
        this.#watchdogUnavailable = String((error as Error).message).split('\n')[0];
      }
    }
    // A stall is emitted once the loop turns after it, through a handle that does not keep the
    // loop alive: when the blocking callback was the last work, turn the loop once more for it.
    let nudgedFor = 0;
    this.#onBeforeExit = () => {
      const watchdog = this.#watchdog;
      if (!watchdog || watchdog.closed) return;
      const { stalls: seen } = watchdog.stats();
      if (seen > this.#stallsSeen && nudgedFor !== seen) {
        nudgedFor = seen;
        setImmediate(() => {});
      }
    };
    process.on('beforeExit', this.#onBeforeExit);
    diagnosticsChannel.subscribe(JOB_CHANNEL, this.#onJob);
    diagnosticsChannel.subscribe(POOL_REQUEST_CHANNEL, this.#onRequest);
  }

  get detail(): DetailLevel {
    return this.#bounded ? 'bounded' : 'full';
  }

  #onLongIteration(event: LongIterationEvent): void {
    this.#longIterations.push(event);
    if (!this.#spans) return;
    // Long only because the profiler rotated in it: reported, but no detail span for it.
    const rotationMs = this.#cpu.takeRotationPause();
    if (rotationMs > 0 && (event.durationNs - event.pollWaitNs) / 1e6 - rotationMs < this.#options.blockMs) return;
    this.#spans.longIteration(event, this.#ring);
  }

  /**
   * Bounded: markers the ring overwrote while nothing of it was wanted (no span open: the
   * oldest, which a trim would have left out anyway) count as left out, not as dropped: how many.
   */
  #dropsLeftOut(): number {
    const fresh = this.#observer.dropped - this.#droppedSeen - this.#droppedLeft;
    if (fresh <= 0) return 0;
    this.#droppedLeft += fresh;
    this.#gap = true;
    return fresh;
  }

  #drain(max?: number): TraceColumns {
    const dropped = this.#observer.dropped;
    if (dropped !== this.#droppedSeen + this.#droppedLeft) this.#gap = true;
    return this.#observer.drain(max);
  }

  /** Appends drained markers to the batch, noting a gap before them. */
  #addMarkers(columns: TraceColumns): void {
    if (!columns.timesNs.length) return;
    if (this.#gap) {
      this.#markerGaps.push(this.#markers.timesNs.length);
      this.#gap = false;
    }
    this.#markers = concat(this.#markers, columns);
  }

  /**
   * Everything new since the previous batch; takes a utilization sample. `cut` (a flight
   * recorder's dump): end the window and the open span now, with the turns after it so far.
   */
  flush(cut = false): ThreadBatch {
    const nowNs = process.hrtime.bigint();
    this.#cpu.takeRotationPause(); // a rotation's pause counts only until the next flush
    this.#sampleUtilization();
    if (this.#spans) {
      this.#spans.flush(this.#ring, nowNs, cut);
      this.#spans.decideRecords(nowNs, false, this.#requests, this.#jobs);
      if (this.#cpu.due(nowNs)) this.#cpu.rotate(false, this.#spans.takeCpuSpans());
    } else {
      this.#addMarkers(this.#drain());
    }
    // A window closes at the first flush at least windowMs (less half a flush) after it opened.
    if (cut || nowNs - this.#windowOpenedNs >= BigInt(Math.max(0, (this.#options.windowMs ?? 1000) - 50)) * 1_000_000n) this.#closeWindow(nowNs);
    this.#lastFlushNs = nowNs;
    return this.#batch();
  }

  #sampleUtilization(): void {
    const nowNs = process.hrtime.bigint();
    const idleTotalNs = idleNowNs();
    const windowNs = Number(nowNs - this.#lastFlushNs);
    const idleNs = idleTotalNs - this.#idleAtFlushNs;
    this.#utilization.push({ timeNs: nowNs, utilization: windowNs > 0 ? Math.max(0, Math.min(1, 1 - idleNs / windowNs)) : 0 });
    this.#idleAtFlushNs = idleTotalNs;
  }

  /**
   * Closes the window at its last marker. A window without a new marker (the loop waited in
   * poll all along) stays open: windows begin and end at markers, so that the phase slices
   * of the detail spans nest in them. The last (`endNs`) ends at the recording's end.
   */
  #closeWindow(nowNs: bigint, endNs?: bigint): void {
    const reading = this.#observer.takeWindow();
    if (reading.startNs !== 0n) this.#spans?.endStartup(reading.startNs);
    if (reading.startNs === 0n) return; // the loop never turned: the startup slice covers it
    if (endNs === undefined && reading.endNs === reading.startNs) return;
    const { window, slowest } = this.#window.close(reading, reading.startNs, endNs ?? reading.endNs);
    this.#windowOpenedNs = nowNs;
    this.#windows.push(window);
    this.#spans?.decideHttp(slowest, this.#httpRequests);
  }

  #batch(): ThreadBatch {
    const dropped = this.#observer.dropped;
    const batch: ThreadBatch = {
      threadId,
      markers: this.#markers,
      droppedMarkers: dropped - this.#droppedSeen - this.#droppedLeft,
      longIterations: this.#longIterations,
      utilization: this.#utilization,
      jobs: this.#jobs,
      requests: this.#requests,
      httpRequests: this.#httpRequests,
      stalls: this.#stalls,
      windows: this.#windows,
    };
    if (this.#markerGaps.length) batch.markerGaps = this.#markerGaps;
    if (this.#spans) {
      const { spans, left } = this.#spans.take();
      batch.spans = spans;
      batch.left = left;
    }
    this.#droppedSeen = dropped;
    this.#droppedLeft = 0;
    if (!this.#sentStart) {
      batch.startNs = this.#startNs;
      this.#sentStart = true;
    }
    const firstWindow = this.#sentFirstMarker ? undefined : this.#windows.find((w) => w.iterations > 0);
    if (firstWindow) {
      batch.firstMarkerNs = firstWindow.startNs;
      this.#sentFirstMarker = true;
    }
    this.#markers = emptyColumns();
    this.#markerGaps = [];
    this.#longIterations = [];
    this.#utilization = [];
    this.#jobs = [];
    this.#requests = [];
    this.#httpRequests = [];
    this.#stalls = [];
    this.#windows = [];
    return batch;
  }

  /** The loop's statistics so far, without stopping anything (a flight recorder's dump). */
  statsSoFar(): Omit<NonNullable<ThreadBatch['final']>, 'requestStats'> & { requestStats: PoolRequestStats } {
    const stats = this.#observer.stats();
    const watchdog = this.#watchdog;
    return {
      detail: this.detail,
      cpuUnavailable: this.#cpu.unavailable,
      watchdogUnavailable: this.#watchdogUnavailable,
      iterations: stats.iterations,
      utilization: stats.utilization,
      iterationP50Ns: stats.iterationP50Ns,
      iterationP99Ns: stats.iterationP99Ns,
      longIterations: stats.longIterations,
      stallCount: watchdog && !watchdog.closed ? watchdog.stats().stalls : undefined,
      requestStats: this.#requestMonitor.stats(),
    };
  }

  /** The CPU figures so far (bounded): the tree of every folded chunk, the kept samples. `rotate`: end the current chunk first. */
  cpuSoFar(rotate: boolean): { profile?: CpuProfile; cpuTree?: CpuTree; omitted: number; dropped: number } {
    if (rotate && this.#spans && this.#cpu.running) this.#cpu.rotate(false, this.#spans.takeCpuSpans(process.hrtime.bigint()));
    return { profile: this.#cpu.profile(), cpuTree: this.#cpu.tree(), omitted: this.#cpu.omitted, dropped: this.#cpu.dropped };
  }

  /** Forgets kept CPU sample times before `ns` (the flight recorder's horizon). */
  forgetSamplesBefore(ns: bigint): void {
    this.#cpu.forgetSamplesBefore(ns);
  }

  /**
   * The HTTP requests of this thread in flight now, as records ending at `endNs` (flagged
   * `inFlight`, at most MAX_IN_FLIGHT_RECORDS: in-flight-requests.ts), with the count of those
   * not kept in `left` when there are any. Always kept: a batch of its own for a flight
   * recorder's dump (not kept for the next dump: they may end before it); `finish()` adds them to
   * the last batch.
   */
  httpInFlight(endNs: bigint): Pick<ThreadBatch, 'httpRequests' | 'left'> {
    const { records, leftOut } = inFlightRecords(httpRequestsInFlight(), endNs);
    return { httpRequests: records, ...(leftOut ? { left: { markers: 0, requests: 0, jobs: 0, httpRequests: leftOut } } : {}) };
  }

  /** The last batch: stops the profiler, the observer, the watchdog and the subscriptions. Idempotent (undefined after the first). */
  finish(): ThreadBatch | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    const nowNs = process.hrtime.bigint();
    let profile: CpuProfile | undefined;
    let cpuTree: CpuTree | undefined;
    if (this.#spans) {
      // The end of the run in detail: the newest turns and those since the last flush.
      this.#spans.finish(this.#ring, nowNs);
      this.#closeWindow(nowNs, nowNs);
      this.#spans.endStartup(nowNs);
      this.#cpu.rotate(true, this.#spans.takeCpuSpans());
      profile = this.#cpu.profile();
      cpuTree = this.#cpu.tree();
      this.#spans.decideRecords(nowNs, true, this.#requests, this.#jobs);
    } else {
      ({ profile, cpuTree } = this.#cpu.stopWhole());
      this.#addMarkers(this.#drain());
    }
    const windowIdleNs = idleNowNs() - this.#idleAtFlushNs;
    this.#sampleUtilization();
    const soFar = this.statsSoFar();
    this.#watchdog?.close();
    releaseHttpRequests();
    diagnosticsChannel.unsubscribe(HTTP_REQUEST_CHANNEL, this.#onHttpRequest);
    if (!this.#bounded) this.#closeWindow(nowNs, nowNs);
    const pollWaitSoFarNs = this.#pollWaitSoFar(this.#markers, windowIdleNs);
    const inFlight = this.httpInFlight(nowNs);
    const batch = this.#batch();
    batch.endNs = nowNs;
    batch.httpRequests.push(...inFlight.httpRequests);
    if (inFlight.left) batch.left = addLeft(batch.left, inFlight.left);
    this.#observer.close();
    process.removeListener('beforeExit', this.#onBeforeExit);
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, this.#onJob);
    diagnosticsChannel.unsubscribe(POOL_REQUEST_CHANNEL, this.#onRequest);
    this.#requestMonitor.stop();
    batch.final = {
      ...soFar,
      profile,
      cpuTree,
      cpuUnavailable: this.#cpu.unavailable,
      pollWaitSoFarNs,
      ...(this.#bounded ? this.#cpu.figures() : {}),
    };
    return batch;
  }

  /**
   * When the last marker is a prepare, the thread is inside that poll's callbacks: libuv added
   * the poll's wait to its idle time before running them. The loop's idle time since the last
   * flush (a flush runs in the timers phase, outside any poll) less the waits of the polls that
   * ended since then is the wait so far.
   */
  #pollWaitSoFar(markers: TraceColumns, windowIdleNs: number): number | undefined {
    const last = markers.phases.length - 1;
    if (last < 0 || MARKER_PHASE_CODES[markers.phases[last]] !== 'prepare') return undefined;
    let endedNs = 0;
    for (let i = 0; i <= last; i++) if (markers.timesNs[i] > this.#lastFlushNs) endedNs += markers.pollWaitsNs[i];
    return Math.max(0, windowIdleNs - endedNs);
  }
}
