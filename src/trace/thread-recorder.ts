/**
 * What `uvscope trace` records in one thread (the main thread or a worker): the loop's markers
 * (a LoopObserver in trace mode, drained as columns), its long iterations with their split,
 * utilization every 100 ms, uvscope's pool jobs and Node's own pool requests, the HTTP requests
 * its servers finished (uvscope's request tracker, held for the recording: also without a
 * watchdog), stalls (a StallWatchdog, which names the request a stall ran for) and V8's CPU
 * samples (an inspector session on the thread). The recorder hands
 * what it saw in batches: `flush()` (what is new since the last batch, called every 100 ms by its
 * owner) and `finish()` (the last batch, with the CPU profile and the loop's statistics).
 * Lifetime: from construction to `finish()`, which stops everything it started.
 * @internal
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { threadId } from 'node:worker_threads';

import { LongIterationEvent, LoopObserver, MARKER_PHASE_CODES, TraceColumns } from '../loop/observer';
import { StallWatchdog } from '../loop/stall-watchdog';
import type { StallEvent } from '../loop/stall-watchdog';
import { acquireHttpRequests, releaseHttpRequests } from '../loop/http-requests';
import { monitorPoolRequests, PoolRequestStats } from '../requests/monitor';
import { HTTP_REQUEST_CHANNEL, HttpRequestRecord, JOB_CHANNEL, JobRecord, POOL_REQUEST_CHANNEL, PoolRequestRecord } from '../channels';
import { CpuProfile, CpuProfiler } from './cpu-profiler';

export interface RecorderOptions {
  /** An iteration busy (its duration minus its poll wait) longer than this is long, ms. */
  blockMs: number;
  /** Stall threshold, ms; undefined: no watchdog. */
  stallMs?: number;
  /** A file descriptor the watchdog writes its report lines to while the loop is blocked. */
  stallFile?: number;
  /** CPU sampling interval, µs; 0: no CPU samples. */
  sampleUs: number;
  /** Native ring buffer size, events (4 per iteration): drained every 100 ms. */
  traceCapacity?: number;
}

/** What a thread saw since its previous batch. Structured-clone safe (posted from workers). */
export interface ThreadBatch {
  threadId: number;
  /** When recording began (first batch) or ended (last batch), monotonic ns. */
  startNs?: bigint;
  endNs?: bigint;
  markers: TraceColumns;
  /** Events the native ring buffer overwrote since the previous batch. */
  droppedMarkers: number;
  longIterations: LongIterationEvent[];
  utilization: { timeNs: bigint; utilization: number }[];
  jobs: JobRecord[];
  requests: PoolRequestRecord[];
  /** HTTP requests the thread's servers finished (answered, or closed first). */
  httpRequests: HttpRequestRecord[];
  stalls: StallEvent[];
  /** Last batch only. */
  final?: {
    profile?: CpuProfile;
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

export class ThreadRecorder {
  readonly #observer: LoopObserver;
  readonly #sampler: LoopObserver;
  readonly #watchdog?: StallWatchdog;
  readonly #watchdogUnavailable?: string;
  readonly #profiler?: CpuProfiler;
  readonly #cpuUnavailable?: string;
  readonly #requestMonitor = monitorPoolRequests();
  readonly #startNs = process.hrtime.bigint();
  #sentStart = false;
  #droppedSeen = 0;
  #longIterations: LongIterationEvent[] = [];
  #utilization: { timeNs: bigint; utilization: number }[] = [];
  #jobs: JobRecord[] = [];
  #requests: PoolRequestRecord[] = [];
  #httpRequests: HttpRequestRecord[] = [];
  #stalls: StallEvent[] = [];
  #finished = false;
  /** Stalls the watchdog emitted so far (all batches). */
  #stallsSeen = 0;
  readonly #onJob = (message: unknown) => this.#jobs.push(message as JobRecord);
  readonly #onRequest = (message: unknown) => this.#requests.push(message as PoolRequestRecord);
  readonly #onHttpRequest = (message: unknown) => this.#httpRequests.push(message as HttpRequestRecord);
  readonly #onBeforeExit: () => void;

  constructor(options: RecorderOptions) {
    if (options.sampleUs > 0) {
      // First, so that the samples cover the thread's code from its first line.
      try {
        const profiler = new CpuProfiler();
        profiler.start(options.sampleUs);
        this.#profiler = profiler;
      } catch (error) {
        this.#cpuUnavailable = String((error as Error).message).split('\n')[0];
      }
    }
    this.#observer = new LoopObserver({ traceCapacity: options.traceCapacity ?? 1 << 18, phaseMarkers: true, blockThresholdMs: options.blockMs }).start();
    this.#observer.on('longIteration', (event) => this.#longIterations.push(event));
    this.#sampler = new LoopObserver().start();
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

  /** Everything new since the previous batch; takes a utilization sample. */
  flush(): ThreadBatch {
    const s = this.#sampler.stats();
    this.#utilization.push({ timeNs: s.windowEndNs, utilization: s.utilization });
    this.#sampler.reset();
    return this.#batch();
  }

  #batch(): ThreadBatch {
    const dropped = this.#observer.traceDropped;
    const batch: ThreadBatch = {
      threadId,
      markers: this.#observer.traceColumns(),
      droppedMarkers: dropped - this.#droppedSeen,
      longIterations: this.#longIterations,
      utilization: this.#utilization,
      jobs: this.#jobs,
      requests: this.#requests,
      httpRequests: this.#httpRequests,
      stalls: this.#stalls,
    };
    this.#droppedSeen = dropped;
    if (!this.#sentStart) {
      batch.startNs = this.#startNs;
      this.#sentStart = true;
    }
    this.#longIterations = [];
    this.#utilization = [];
    this.#jobs = [];
    this.#requests = [];
    this.#httpRequests = [];
    this.#stalls = [];
    return batch;
  }

  /** The last batch: stops the profiler, the observers, the watchdog and the subscriptions. Idempotent (undefined after the first). */
  finish(): ThreadBatch | undefined {
    if (this.#finished) return undefined;
    this.#finished = true;
    let profile: CpuProfile | undefined;
    let cpuUnavailable = this.#cpuUnavailable;
    try {
      profile = this.#profiler?.stop();
    } catch (error) {
      cpuUnavailable = String((error as Error).message).split('\n')[0];
    }
    const s = this.#sampler.stats();
    this.#utilization.push({ timeNs: s.windowEndNs, utilization: s.utilization });
    const stats = this.#observer.stats();
    const watchdog = this.#watchdog;
    const stallCount = watchdog && !watchdog.closed ? watchdog.stats().stalls : undefined;
    watchdog?.close();
    releaseHttpRequests();
    diagnosticsChannel.unsubscribe(HTTP_REQUEST_CHANNEL, this.#onHttpRequest);
    const batch = this.#batch();
    batch.endNs = process.hrtime.bigint();
    const pollWaitSoFarNs = this.#pollWaitSoFar(batch.markers, s.idleNs);
    this.#observer.close();
    this.#sampler.close();
    process.removeListener('beforeExit', this.#onBeforeExit);
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, this.#onJob);
    diagnosticsChannel.unsubscribe(POOL_REQUEST_CHANNEL, this.#onRequest);
    const requestStats = this.#requestMonitor.stats();
    this.#requestMonitor.stop();
    batch.final = {
      profile,
      cpuUnavailable,
      watchdogUnavailable: this.#watchdogUnavailable,
      iterations: stats.iterations,
      utilization: stats.utilization,
      iterationP50Ns: stats.iteration.p50,
      iterationP99Ns: stats.iteration.p99,
      longIterations: stats.longIterations.count,
      stallCount,
      requestStats,
      pollWaitSoFarNs,
    };
    return batch;
  }

  /**
   * When the last marker is a prepare, the thread is inside that poll's callbacks: libuv added
   * the poll's wait to its idle time before running them. The sampler's window and `markers`
   * both begin at the previous batch (a flush runs in the timers phase, outside any poll), so
   * the wait so far is the window's idle time less the waits of the polls that ended in it.
   */
  #pollWaitSoFar(markers: TraceColumns, windowIdleNs: number): number | undefined {
    const last = markers.phases.length - 1;
    if (last < 0 || MARKER_PHASE_CODES[markers.phases[last]] !== 'prepare') return undefined;
    let endedNs = 0;
    for (const waitNs of markers.pollWaitsNs) endedNs += waitNs;
    return Math.max(0, windowIdleNs - endedNs);
  }
}
