/**
 * What both exporters share: one native snapshot of the loop observer, the stall watchdog, the
 * thread pool and the pool threads' kernel figures (pool-threads.ts) per scrape or collection,
 * turned into monotonic totals that survive the user's reset()s. Lifetime: from the exporter's
 * setup to its `stop()`. Needs neither prom-client nor @opentelemetry/api, so each exporter
 * loads without the other's peer.
 * @internal
 * @module
 */
import { isMainThread } from 'node:worker_threads';

import { invalidArgType, invalidArgValue, validateBoolean, validateNumber } from '../errors';
import type { HistogramSummary } from '../histogram/summary';
import { LoopObserver } from '../loop/observer';
import { StallWatchdog } from '../loop/stall-watchdog';
import type { StallWatchdogOptions } from '../loop/stall-watchdog';
import { OUTCOMES } from '../threadpool/job-stats';
import { measureSize, monitorSaturation, poolSize, ThreadPool, threadpool } from '../threadpool/threadpool';
import type { KernelName, SaturationMonitor } from '../threadpool/threadpool';
import { native, KERNEL_NAMES } from '../native';
import { HistogramTotals } from '../histogram/totals';
import { poolThreadTimesSupported } from '../threadpool/threads';
import { acquirePoolThreadDiscovery, PoolThreadCounters } from './pool-threads';
import type { PoolThreadDiscoveryLease, PoolThreadSample } from './pool-threads';

const LOOP_HISTOGRAMS = ['iteration', 'pollWait', 'pollWork', 'outsidePoll'] as const;
const JOB_HISTOGRAMS = ['queueWait', 'run', 'returnDelay'] as const;

/**
 * An exporter's optional peer dependency (`prom-client`, `@opentelemetry/api`), resolved like
 * any require() from this package's location, i.e. from the application's node_modules. When it
 * is not installed, an Error (code MODULE_NOT_FOUND) that says which subpath needs it and how
 * to install it; when it is installed but fails to load, its own error, which says more.
 */
export function requirePeer<T>(name: string, subpath: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (error) {
    const firstLine = String((error as Error).message).split('\n')[0];
    const missing =
      (error as NodeJS.ErrnoException | null)?.code === 'MODULE_NOT_FOUND' &&
      (firstLine.includes(`'${name}'`) || firstLine.includes(`"${name}"`));
    if (!missing) throw error;
    const friendly = new Error(`${subpath} needs the optional peer dependency ${name}: npm install ${name}`, { cause: error });
    Object.defineProperty(friendly, 'code', { value: 'MODULE_NOT_FOUND', enumerable: true, writable: true, configurable: true });
    throw friendly;
  }
}

/** A duration distribution at one read-out. */
export interface DistributionSample {
  /** Durations recorded since the exporter started; never decreases, even across resets of the source. */
  count: number;
  /** Their sum, ns; never decreases. */
  sumNs: number;
  /** Summary of the source's current window, ns (`count` 0 when the window is empty). */
  window: HistogramSummary;
  /**
   * Counts per native histogram bucket since the exporter started (see histogram/native-buckets.ts);
   * valid until the next read-out.
   */
  buckets: Float64Array;
}

export interface LoopSample {
  iterations: number;
  longIterations: number;
  /** Cumulative ns the loop was waiting for I/O, and the rest of the time observed. */
  idleNs: number;
  activeNs: number;
  /** Share of the time since the previous read-out (the first: since the window began) the loop was busy, 0..1. */
  utilization: number;
  iteration: DistributionSample;
  pollWait: DistributionSample;
  pollWork: DistributionSample;
  outsidePoll: DistributionSample;
}

export interface KernelSample {
  kernel: KernelName;
  /** Settled jobs by outcome, cumulative. */
  outcomes: Record<(typeof OUTCOMES)[number], number>;
  /** Input bytes processed, cumulative. */
  bytes: number;
  queueWait: DistributionSample;
  run: DistributionSample;
  returnDelay: DistributionSample;
}

/** The stall watchdog's counts (see `StallWatchdog.stats()`). */
export interface StallSample {
  /** Stalls detected, including one still going on. */
  stalls: number;
  /** Total and longest duration of the stalls that ended, ns. */
  totalNs: number;
  longestNs: number;
  /** The watchdog's threshold, ms. */
  thresholdMs?: number;
}

export interface UvSample {
  /** Absent when the observer was closed. */
  loop?: LoopSample;
  /** Absent with `stallWatchdog: false` or when a given watchdog was closed. */
  stall?: StallSample;
  inFlight: number;
  queued: number;
  running: number;
  /** Every kernel seen since the exporter started. */
  kernels: KernelSample[];
  /** Threads libuv uses according to UV_THREADPOOL_SIZE. */
  sizeConfigured: number;
  /** Threads measured running at once; absent until the one measurement has finished. */
  sizeMeasured?: number;
  /** Queue wait of the latest saturation probe, ns; absent before the first (or when off). */
  saturationNs?: number;
  /** The pool threads' CPU and run-queue time; absent when off, unsupported, or before a thread is seen. */
  poolThreads?: PoolThreadSample;
}

/** What the Prometheus and OpenTelemetry registrations both return: what they read, and how to stop. */
export interface UvMetricsHandle {
  /** Names of the metrics or instruments created (Prometheus names with their prefix). */
  readonly names: readonly string[];
  /** The loop observer read at each scrape or collection (the dedicated one, or the one given). */
  readonly observer: LoopObserver;
  /** The stall watchdog read at each scrape or collection (the dedicated one, or the one given); undefined with `stallWatchdog: false`. */
  readonly stallWatchdog: StallWatchdog | undefined;
  /**
   * Resolves once the pool size was measured, with the number of threads, or undefined when
   * `measurePoolSize` is false or the measurement failed. Until then the measured-size metric
   * reports nothing.
   */
  readonly measuredPoolSize: Promise<number | undefined>;
  /** Stops reading (see each registration for what stays behind). Idempotent. */
  stop(): void;
}

export interface SamplerOptions {
  observer?: LoopObserver;
  /** A watchdog to read (the caller's), options of a dedicated one, or false: no stall metrics. */
  stallWatchdog: StallWatchdog | StallWatchdogOptions | false;
  pool?: ThreadPool;
  saturationIntervalMs: number | false;
  measurePoolSize: boolean;
  /** Read the pool threads' CPU and run-queue time (already false where unsupported). */
  poolThreads: boolean;
}

/**
 * Totals that never decrease although their source can be reset: what the source reported at
 * the last read-out before a reset is kept as a base. What it recorded between that read-out and
 * the reset is lost (not counted), never double counted.
 */
export class Totals {
  readonly #base = new Map<string, number>();
  #last = new Map<string, number>();
  #next = new Map<string, number>();

  /** Whether `value` is below what the source reported for `key` at the last read-out. */
  decreased(key: string, value: number): boolean {
    return value < (this.#last.get(key) ?? 0);
  }

  /** The source was reset since the last read-out. */
  fold(): void {
    for (const [key, value] of this.#last) this.#base.set(key, (this.#base.get(key) ?? 0) + value);
    this.#last = new Map();
  }

  /** The cumulative total of `key`, whose value in the source's current window is `value`. */
  total(key: string, value: number): number {
    this.#next.set(key, value);
    return (this.#base.get(key) ?? 0) + value;
  }

  /** Ends a read-out. */
  commit(): void {
    this.#last = this.#next;
    this.#next = new Map();
  }
}

export const EMPTY_SUMMARY: HistogramSummary = { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0 };

function distribution(histogram: HistogramTotals, window: HistogramSummary | undefined): DistributionSample {
  return { count: histogram.count, sumNs: histogram.sumNs, window: window ?? EMPTY_SUMMARY, buckets: histogram.buckets };
}

// One pool size measurement per thread, shared by every exporter (two at once would hold
// threads against each other and both measure too few).
export const MEASURED_KEY = Symbol.for('uvscope.exporters.measuredPoolSize');

export function measuredPoolSizeOnce(): Promise<number | undefined> {
  const holder = globalThis as { [MEASURED_KEY]?: Promise<number | undefined> };
  holder[MEASURED_KEY] ??= measureSize().then(
    (size) => (size > 0 ? size : undefined),
    () => undefined,
  );
  return holder[MEASURED_KEY];
}

/** Reads the loop observer and the pool once per read-out, keeping counters monotonic. */
export class UvSampler {
  readonly observer: LoopObserver;
  readonly pool: ThreadPool;
  /** The watchdog read at each read-out (dedicated or given); undefined with `stallWatchdog: false`. */
  readonly stallWatchdog: StallWatchdog | undefined;
  /** Its threshold in ms. */
  readonly stallThresholdMs: number | undefined;
  measuredPoolSize: Promise<number | undefined> = Promise.resolve(undefined);
  readonly #options: SamplerOptions;
  readonly #ownsObserver: boolean;
  readonly #ownsWatchdog: boolean;
  #saturation: SaturationMonitor | undefined;
  readonly #loopTotals = new Totals();
  readonly #poolTotals = new Totals();
  readonly #kernels = new Set<KernelName>();
  readonly #histograms = new Map<string, HistogramTotals>();
  readonly #readout = new Float64Array(native.NativeLoopObserver.bucketReadoutSize);
  #loopWindowStart: bigint | undefined;
  #loopPrevious: { activeNs: number; windowNs: number } | undefined;
  #poolStartHigh: number | undefined;
  #sizeMeasured: number | undefined;
  #cached: UvSample | undefined;
  #closed = false;
  /** Present when the pool-thread metrics are on. */
  readonly poolThreads: PoolThreadCounters | undefined;
  #discovery: PoolThreadDiscoveryLease | undefined;

  constructor(options: SamplerOptions) {
    this.#options = options;
    this.#ownsObserver = options.observer === undefined;
    // Not started until start(): nothing runs if the exporter's setup fails.
    this.observer = options.observer ?? new LoopObserver();
    this.pool = options.pool ?? threadpool;
    const watchdog = options.stallWatchdog;
    this.#ownsWatchdog = watchdog !== false && !(watchdog instanceof StallWatchdog);
    if (watchdog === false) {
      this.stallWatchdog = undefined;
    } else if (watchdog instanceof StallWatchdog) {
      this.stallWatchdog = watchdog;
    } else {
      // Validated (and created, not started) by validateSamplerOptions already.
      this.stallWatchdog = new StallWatchdog(dedicatedWatchdogOptions(watchdog));
    }
    this.stallThresholdMs = this.stallWatchdog?.thresholdMs;
    this.poolThreads = options.poolThreads ? new PoolThreadCounters() : undefined;
  }

  /** Starts the dedicated observer, the saturation probes, the pool size measurement and then the pool-thread discovery. */
  start(): void {
    const options = this.#options;
    if (this.#ownsObserver) this.observer.start();
    if (this.#ownsWatchdog) this.stallWatchdog?.start();
    if (options.saturationIntervalMs !== false) {
      this.#saturation = monitorSaturation({ intervalMs: options.saturationIntervalMs, maxSamples: 1 });
    }
    this.measuredPoolSize = options.measurePoolSize ? measuredPoolSizeOnce() : Promise.resolve(undefined);
    void this.measuredPoolSize.then((size) => {
      this.#sizeMeasured = size;
    });
    const counters = this.poolThreads;
    if (counters) {
      counters.note(); // threads known already count from now
      // After the size measurement (its probes register the threads they reach; two sets of
      // probes at once would hold threads against each other).
      void this.measuredPoolSize.then(() => {
        if (this.#closed) return;
        this.#discovery = acquirePoolThreadDiscovery();
        void this.#discovery.ready.then(() => {
          if (!this.#closed) counters.note(); // threads found count from the end of discovery, not from their first scrape
        });
      });
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Long iteration threshold of the observer, ns. */
  get longThresholdNs(): number {
    return this.observer.closed ? 0 : this.observer.stats().longIterations.thresholdNs;
  }

  /** One consistent read-out; every call in the same synchronous run gets the same one. */
  read(): UvSample {
    if (this.#cached) return this.#cached;
    const sample: UvSample = {
      loop: this.#readLoop(),
      stall: this.#readStalls(),
      ...this.#readPool(),
      sizeConfigured: poolSize().size,
    };
    if (this.#sizeMeasured !== undefined) sample.sizeMeasured = this.#sizeMeasured;
    const saturation = this.#saturation?.stats();
    if (saturation && saturation.queueWait.count > 0) sample.saturationNs = saturation.lastNs;
    const threads = this.poolThreads?.read();
    if (threads && threads.threads > 0) sample.poolThreads = threads;
    this.#cached = sample;
    queueMicrotask(() => {
      this.#cached = undefined;
    });
    return sample;
  }

  /** Stops the saturation monitor and closes the observer if this sampler created it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#saturation?.stop();
    this.#discovery?.release();
    if (this.#ownsObserver) this.observer.close();
    if (this.#ownsWatchdog) this.stallWatchdog?.close();
  }

  /** Feeds the native read-out just written into this.#readout to the totals of `key`. */
  #histogram(key: string, written: number, reset: boolean): HistogramTotals {
    let histogram = this.#histograms.get(key);
    if (!histogram) {
      histogram = new HistogramTotals();
      this.#histograms.set(key, histogram);
    }
    histogram.update(this.#readout, written, reset);
    return histogram;
  }

  #readStalls(): StallSample | undefined {
    const watchdog = this.stallWatchdog;
    if (!watchdog || watchdog.closed) return undefined;
    const { stalls, totalNs, longestNs } = watchdog.stats();
    const sample: StallSample = { stalls, totalNs, longestNs };
    if (this.stallThresholdMs !== undefined) sample.thresholdMs = this.stallThresholdMs;
    return sample;
  }

  #readLoop(): LoopSample | undefined {
    if (this.observer.closed) return undefined;
    const stats = this.observer.stats();
    const totals = this.#loopTotals;
    // A new window (reset(), or stop() then start()) restarts the observer's counts.
    const reset =
      this.#loopWindowStart !== undefined &&
      (stats.windowStartNs !== this.#loopWindowStart || totals.decreased('iterations', stats.iterations));
    if (reset) totals.fold();
    const histograms = LOOP_HISTOGRAMS.map((field, which) =>
      this.#histogram(`loop.${field}`, this.observer.readBuckets(which, this.#readout), reset),
    );
    this.#loopWindowStart = stats.windowStartNs;
    const activeNs = totals.total('activeNs', Math.max(0, stats.windowNs - stats.idleNs));
    const idleNs = totals.total('idleNs', stats.idleNs);
    const windowNs = totals.total('windowNs', stats.windowNs);
    const previous = this.#loopPrevious;
    let utilization = stats.utilization;
    if (previous && windowNs > previous.windowNs) {
      utilization = (activeNs - previous.activeNs) / (windowNs - previous.windowNs);
    }
    this.#loopPrevious = { activeNs, windowNs };
    const sample: LoopSample = {
      iterations: totals.total('iterations', stats.iterations),
      longIterations: totals.total('longIterations', stats.longIterations.count),
      idleNs,
      activeNs,
      utilization: Math.min(1, Math.max(0, utilization)),
      iteration: distribution(histograms[0], stats.iteration),
      pollWait: distribution(histograms[1], stats.pollWait),
      pollWork: distribution(histograms[2], stats.pollWork),
      outsidePoll: distribution(histograms[3], stats.outsidePoll),
    };
    totals.commit();
    return sample;
  }

  #readPool(): Pick<UvSample, 'inFlight' | 'queued' | 'running' | 'kernels'> {
    const before = Number(process.hrtime.bigint());
    const stats = this.pool.stats();
    const after = Number(process.hrtime.bigint());
    const totals = this.#poolTotals;
    // The window started between before - windowNs and after - windowNs (same clock): if it
    // started after the latest possible start of the previous read-out's window, resetStats()
    // was called in between. A count going down says so too.
    let reset = this.#poolStartHigh !== undefined && before - stats.windowNs > this.#poolStartHigh + 1000;
    for (const [kernel, kernelStats] of Object.entries(stats.kernels)) {
      this.#kernels.add(kernel as KernelName);
      for (const outcome of OUTCOMES) reset ||= totals.decreased(`${kernel}.${outcome}`, kernelStats[outcome]);
    }
    if (reset) totals.fold();
    this.#poolStartHigh = after - stats.windowNs;
    const kernels: KernelSample[] = [];
    const queue = this.pool.nativeQueue;
    for (const kernel of this.#kernels) {
      const k = stats.kernels[kernel];
      const id = KERNEL_NAMES.indexOf(kernel);
      const [queueWait, run, returnDelay] = JOB_HISTOGRAMS.map((field, which) =>
        this.#histogram(`${kernel}.${field}`, queue.buckets(id, which, this.#readout), reset),
      );
      kernels.push({
        kernel,
        outcomes: {
          completed: totals.total(`${kernel}.completed`, k?.completed ?? 0),
          failed: totals.total(`${kernel}.failed`, k?.failed ?? 0),
          cancelled: totals.total(`${kernel}.cancelled`, k?.cancelled ?? 0),
        },
        bytes: totals.total(`${kernel}.bytes`, k?.bytes ?? 0),
        queueWait: distribution(queueWait, k?.queueWait),
        run: distribution(run, k?.run),
        returnDelay: distribution(returnDelay, k?.returnDelay),
      });
    }
    totals.commit();
    return { inFlight: stats.inFlight, queued: stats.queued, running: stats.running, kernels };
  }
}

/** A dedicated watchdog's options: as given, with `stacks` off unless asked for (counting needs none). */
function dedicatedWatchdogOptions(options: StallWatchdogOptions): StallWatchdogOptions {
  return { stacks: false, ...options };
}

/**
 * Validates `options.stallWatchdog`. Options of a dedicated watchdog are checked by the
 * StallWatchdog constructor itself (a watchdog created and closed unstarted, which creates
 * nothing native); its error is re-thrown naming `options.stallWatchdog.<option>`.
 */
function validateStallWatchdog(value: unknown): StallWatchdog | StallWatchdogOptions | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (value instanceof StallWatchdog) {
    if (value.closed) throw invalidArgValue('options.stallWatchdog', 'must not be closed', value);
    return value;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType('options.stallWatchdog', 'an instance of StallWatchdog, an options object or false', value);
  }
  let probe: StallWatchdog;
  try {
    probe = new StallWatchdog(dedicatedWatchdogOptions(value as StallWatchdogOptions));
  } catch (error) {
    const e = error as Error;
    e.message = e.message.replace(/(["'])options\./, '$1options.stallWatchdog.');
    throw e;
  }
  probe.close(); // never started: nothing native was created
  return { ...(value as StallWatchdogOptions) };
}

export function validateSamplerOptions(options: {
  observer?: unknown;
  stallWatchdog?: unknown;
  pool?: unknown;
  saturationIntervalMs?: unknown;
  measurePoolSize?: unknown;
  poolThreads?: unknown;
}): SamplerOptions {
  const { observer, pool, saturationIntervalMs = 1000, measurePoolSize = true, poolThreads = isMainThread } = options;
  if (observer !== undefined && !(observer instanceof LoopObserver)) {
    throw invalidArgType('options.observer', 'an instance of LoopObserver', observer);
  }
  if (observer?.closed) throw invalidArgValue('options.observer', 'must not be closed', observer);
  if (pool !== undefined && !(pool instanceof ThreadPool)) {
    throw invalidArgType('options.pool', 'an instance of ThreadPool', pool);
  }
  if (saturationIntervalMs !== false) {
    validateNumber('options.saturationIntervalMs', saturationIntervalMs, { min: 1, max: 3_600_000 });
  }
  validateBoolean('options.measurePoolSize', measurePoolSize);
  validateBoolean('options.poolThreads', poolThreads);
  const stallWatchdog = validateStallWatchdog(options.stallWatchdog);
  return {
    observer,
    pool,
    stallWatchdog,
    saturationIntervalMs,
    measurePoolSize: measurePoolSize !== false,
    // Asked for where the platform has no per-thread figures: no metrics, no error.
    poolThreads: poolThreads === true && poolThreadTimesSupported,
  };
}
