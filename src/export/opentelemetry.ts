/**
 * The OpenTelemetry instruments behind `uvscope/opentelemetry` (src/opentelemetry.ts
 * re-exports them): observable instruments on a Meter, one batch callback reading one UvSampler
 * read-out per collection. Lifetime: from registerUvMetrics() to the handle's stop().
 * @module
 */
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';

import { requirePeer, UvSampler, validateSamplerOptions } from './sampler';
import type { DistributionSample, UvMetricsHandle } from './sampler';
import { packageVersion, POOL_THREAD_TEXT, validateAttributes } from './otel-common';
import { invalidArgType, validateObject } from '../errors';
import type { HistogramSummary } from '../histogram/summary';
import type { LoopObserver } from '../loop/observer';
import type { StallWatchdog, StallWatchdogOptions } from '../loop/stall-watchdog';
import { OUTCOMES } from '../threadpool/job-stats';
import type { ThreadPool } from '../threadpool/threadpool';

// Loaded here, not by the core: `require('uvscope')` never needs it.
const otel = requirePeer<typeof import('@opentelemetry/api')>('@opentelemetry/api', 'uvscope/opentelemetry');

/** Options of {@link registerUvMetrics}. */
export interface UvOpenTelemetryOptions {
  /** Attributes added to every observation (`{ 'service.worker': 3 }`). */
  attributes?: Attributes;
  /**
   * The loop observer to read, already started. Never started, stopped, reset or closed by
   * uvscope. Calling `reset()` on it (or `stop()` then `start()`) keeps every counter monotonic,
   * but what it recorded between the previous collection and the reset is not counted; closing
   * it ends the loop observations. Default: a dedicated observer (unref'd, so it never keeps the process alive), started now
   * and closed by `stop()`.
   */
  observer?: LoopObserver;
  /**
   * Where the stall instruments' values come from: a `StallWatchdog` (the caller's: read, never
   * started, stopped or closed; its counts are since it was created), the options of a
   * dedicated one, or `false` (no stall instruments are created). Default `{}`: a dedicated
   * watchdog with the default threshold of 1000 ms and `stacks: false` (unless the options ask
   * for stacks: the instruments only count), started now on the thread that calls this and
   * closed by `stop()`. A watchdog is a native thread that needs nothing from the loop it
   * watches; unref'd (a dedicated one always is), it never keeps the process alive. To see
   * stalls in metrics and in logs, create one watchdog (with `file`, or a 'stall' listener) and
   * pass it here.
   */
  stallWatchdog?: StallWatchdog | StallWatchdogOptions | false;
  /**
   * The pool whose jobs are counted. Default: the default pool `threadpool`. Statistics are per
   * `ThreadPool` instance; for several pools, register once per pool on distinct meters.
   * `resetStats()` on it is handled as for the observer.
   */
  pool?: ThreadPool;
  /**
   * How often, in ms, a no-op probe job measures the pool's queue wait for
   * `uvscope.threadpool.saturation` (via `monitorSaturation`). Default 1000; `false` turns the
   * probes off.
   */
  saturationIntervalMs?: number | false;
  /**
   * Measure the pool size once, now, with `measureSize()`. It briefly (some 30 ms) holds every
   * pool thread, so other pool work waits meanwhile, and pool work already in flight makes it
   * count too few. Default `true`.
   */
  measurePoolSize?: boolean;
  /**
   * Observe the pool threads' CPU time and run-queue wait, read from the kernel (Linux:
   * `/proc/self/task/<tid>/schedstat`), whoever's work they ran (fs, dns.lookup, zlib,
   * node:crypto, other addons, uvscope): `uvscope.threadpool.thread.cpu.time` and
   * `uvscope.threadpool.thread.run_queue_wait` (counters, `s`, summed over the pool's threads,
   * each thread counted from when the exporter first saw it) and
   * `uvscope.threadpool.threads.observed` (up-down counter, `{thread}`). The threads are found
   * once per JavaScript thread by short hold probes (each holds a pool thread at most 20 ms),
   * after the size measurement. Default `true` on the main thread, `false` in worker threads
   * (the pool is the process's: every worker observing it would count the same threads again).
   * Where the platform has no per-thread figures (not Linux), no instrument is created and
   * nothing throws.
   */
  poolThreads?: boolean;
}

/** What {@link registerUvMetrics} returns. */
export interface UvOpenTelemetryHandle extends UvMetricsHandle {
  /**
   * Removes the observation callback, so nothing more is observed (the instruments stay on the
   * meter; an SDK with cumulative temporality may keep exporting their last values), stops the
   * saturation probes and closes the dedicated observer and stall watchdog (not ones passed
   * in). Idempotent.
   */
  stop(): void;
}

/** Statistics of a distribution, each a gauge `<name>.<stat>`, in the order reported. */
const STATS: readonly (keyof HistogramSummary)[] = ['min', 'max', 'mean', 'p50', 'p90', 'p99', 'p999'];
const STAT_TEXT: Readonly<Record<string, string>> = {
  min: 'Minimum',
  max: 'Maximum',
  mean: 'Mean',
  p50: '50th percentile of the',
  p90: '90th percentile of the',
  p99: '99th percentile of the',
  p999: '99.9th percentile of the',
};

/**
 * Creates uvscope's event loop and thread pool instruments on an OpenTelemetry meter. Every
 * instrument is observable: one batch callback reads the native statistics once per collection;
 * nothing runs per loop iteration or per job in JavaScript. Durations are in seconds (`s`).
 *
 * Instruments (type, unit):
 *
 * - `nodejs.eventloop.utilization` (gauge, `1`): busy share since the previous collection
 * - `nodejs.eventloop.time` (counter, `s`, attribute `nodejs.eventloop.state` = `active` | `idle`)
 * - `uvscope.eventloop.iterations`, `uvscope.eventloop.long_iterations` (counters, `{iteration}`)
 * - gauges (`s`) `uvscope.eventloop.iteration.duration.<stat>`, `uvscope.eventloop.poll_wait.<stat>`,
 *   `uvscope.eventloop.poll_work.<stat>`, `uvscope.eventloop.outside_poll.<stat>`
 * - `uvscope.eventloop.stalls` (counter, `{stall}`): stalls the watchdog detected (the loop busy
 *   without turning for longer than its threshold), counted when detected;
 *   `uvscope.eventloop.stall.time` (counter, `s`): time spent in the stalls that ended (named like
 *   `nodejs.eventloop.time`); `uvscope.eventloop.stall.duration.max` (gauge, `s`): the longest of
 *   them, 0 before the first (the watchdog keeps no distribution, so `max` is the one statistic).
 *   Counts are the watchdog's since its creation (a dedicated one: since this call). Not created
 *   with `stallWatchdog: false`; nothing observed once a given watchdog is closed.
 * - `uvscope.threadpool.jobs` (counter, `{job}`, attributes `uvscope.threadpool.kernel`,
 *   `uvscope.threadpool.job.outcome` = `completed` | `failed` | `cancelled`)
 * - `uvscope.threadpool.processed` (counter, `By`, attribute `uvscope.threadpool.kernel`)
 * - gauges (`s`, per kernel) `uvscope.threadpool.job.queue_wait.<stat>`,
 *   `uvscope.threadpool.job.run_time.<stat>`, `uvscope.threadpool.job.return_delay.<stat>`
 * - up-down counters (`{job}`) `uvscope.threadpool.in_flight`, `uvscope.threadpool.queued`,
 *   `uvscope.threadpool.running`
 * - up-down counters (`{thread}`) `uvscope.threadpool.size.configured` (from
 *   UV_THREADPOOL_SIZE), `uvscope.threadpool.size.measured` (nothing until measured)
 * - `uvscope.threadpool.saturation` (gauge, `s`): queue wait of the latest probe job
 * - `uvscope.threadpool.thread.cpu.time`, `uvscope.threadpool.thread.run_queue_wait` (counters,
 *   `s`): the pool threads' time on a CPU and runnable but waiting for one, summed over the
 *   threads, each since the exporter first saw it; `uvscope.threadpool.threads.observed`
 *   (up-down counter, `{thread}`): the threads summed (`poolThreads`, Linux; nothing observed
 *   before the first is seen)
 *
 * `<stat>` is `min`, `max`, `mean` (exact), `p50`, `p90`, `p99`, `p999` (within 1.6%), over the
 * source's current window (the observer's since `start()`/`reset()`, the pool's since creation
 * or `resetStats()`; uvscope never resets them); nothing is reported while the window is empty.
 * Counters are cumulative since this call.
 *
 * @param meter The meter to create the instruments on. Default: `metrics.getMeter('uvscope')`
 *   of the global MeterProvider.
 * @param options See {@link UvOpenTelemetryOptions}.
 * @returns A handle whose `stop()` ends the observations and stops the probes.
 * @throws TypeError `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad arguments.
 */
export function registerUvMetrics(meter?: Meter, options: UvOpenTelemetryOptions = {}): UvOpenTelemetryHandle {
  const m = meter ?? otel.metrics.getMeter('uvscope', packageVersion());
  if (
    m === null ||
    typeof m !== 'object' ||
    typeof m.createObservableGauge !== 'function' ||
    typeof m.addBatchObservableCallback !== 'function'
  ) {
    throw invalidArgType('meter', 'an OpenTelemetry Meter', meter);
  }
  validateObject('options', options);
  const attributes = validateAttributes(options?.attributes);
  const sampler = new UvSampler(validateSamplerOptions(options ?? {}));
  try {
    return register(m, sampler, attributes);
  } catch (error) {
    sampler.close();
    throw error;
  }
}

function register(m: Meter, sampler: UvSampler, attributes: Attributes): UvOpenTelemetryHandle {

  const { INT, DOUBLE } = otel.ValueType;
  const observables: Observable[] = [];
  const names: string[] = [];
  const create = <T extends Observable>(
    kind: 'createObservableGauge' | 'createObservableCounter' | 'createObservableUpDownCounter',
    name: string,
    description: string,
    unit: string,
    valueType = DOUBLE,
  ): T => {
    const instrument = m[kind](name, { description, unit, valueType }) as T;
    observables.push(instrument);
    names.push(name);
    return instrument;
  };
  const gauge = (name: string, description: string, unit: string, valueType = DOUBLE) =>
    create('createObservableGauge', name, description, unit, valueType);
  const counter = (name: string, description: string, unit: string, valueType = DOUBLE) =>
    create('createObservableCounter', name, description, unit, valueType);
  const upDown = (name: string, description: string, unit: string) =>
    create('createObservableUpDownCounter', name, description, unit, INT);
  const distribution = (base: string, what: string) => {
    const gauges = new Map<keyof HistogramSummary, Observable>();
    for (const stat of STATS) {
      gauges.set(stat, gauge(`${base}.${stat}`, `${STAT_TEXT[stat]} ${what}, over the source's current window.`, 's'));
    }
    return (result: BatchObservableResult, sample: DistributionSample, attrs: Attributes) => {
      if (sample.window.count === 0) return;
      for (const [stat, instrument] of gauges) result.observe(instrument, sample.window[stat] / 1e9, attrs);
    };
  };

  const thresholdMs = sampler.longThresholdNs / 1e6;
  const utilization = gauge('nodejs.eventloop.utilization', 'Event loop utilization since the previous collection.', '1');
  const time = counter('nodejs.eventloop.time', 'Cumulative duration of time the event loop has been in each state.', 's');
  const iterations = counter('uvscope.eventloop.iterations', 'Event loop iterations (prepare to prepare) completed.', '{iteration}', INT);
  const longIterations = counter('uvscope.eventloop.long_iterations',
    `Event loop iterations longer than ${thresholdMs} ms (the observer's blockThresholdMs).`, '{iteration}', INT);
  const iteration = distribution('uvscope.eventloop.iteration.duration', 'duration of an event loop iteration, prepare to prepare');
  const pollWait = distribution('uvscope.eventloop.poll_wait', 'time a poll phase was blocked waiting for I/O');
  const pollWork = distribution('uvscope.eventloop.poll_work', 'rest of a poll phase (running I/O callbacks)');
  const outsidePoll = distribution('uvscope.eventloop.outside_poll',
    'time from check to the next prepare (setImmediate, close callbacks, timers, pending callbacks)');
  const stallInstruments = sampler.stallWatchdog
    ? {
        count: counter('uvscope.eventloop.stalls',
          `Event loop stalls: the loop busy without turning for longer than ${sampler.stallThresholdMs} ms, counted when detected.`,
          '{stall}', INT),
        time: counter('uvscope.eventloop.stall.time', 'Time the event loop spent in stalls that ended.', 's'),
        longest: gauge('uvscope.eventloop.stall.duration.max', 'Duration of the longest event loop stall that ended (0 before the first).', 's'),
      }
    : undefined;
  const jobs = counter('uvscope.threadpool.jobs', 'Thread pool jobs settled, by kernel and outcome.', '{job}', INT);
  const processed = counter('uvscope.threadpool.processed', 'Input bytes processed by thread pool jobs, by kernel.', 'By', INT);
  const queueWait = distribution('uvscope.threadpool.job.queue_wait', 'time a job waited from submission until a pool thread started it');
  const runTime = distribution('uvscope.threadpool.job.run_time', 'time a job ran on its pool thread');
  const returnDelay = distribution('uvscope.threadpool.job.return_delay',
    'time from a job finishing on its pool thread until the loop settled its promise');
  const inFlight = upDown('uvscope.threadpool.in_flight', 'Thread pool jobs submitted and not yet settled.', '{job}');
  const queued = upDown('uvscope.threadpool.queued', 'Thread pool jobs waiting for a pool thread.', '{job}');
  const running = upDown('uvscope.threadpool.running', 'Thread pool jobs running on pool threads.', '{job}');
  const sizeConfigured = upDown('uvscope.threadpool.size.configured',
    'libuv thread pool size according to UV_THREADPOOL_SIZE.', '{thread}');
  const sizeMeasured = upDown('uvscope.threadpool.size.measured',
    'libuv thread pool threads measured running at once (measured once, at start).', '{thread}');
  const saturation = gauge('uvscope.threadpool.saturation',
    'Queue wait of the latest no-op probe job: the delay new pool work (fs, dns.lookup, crypto) suffers now.', 's');
  const threadInstruments = sampler.poolThreads
    ? {
        cpu: counter('uvscope.threadpool.thread.cpu.time', POOL_THREAD_TEXT.cpu, 's'),
        wait: counter('uvscope.threadpool.thread.run_queue_wait', POOL_THREAD_TEXT.wait, 's'),
        threads: upDown('uvscope.threadpool.threads.observed', POOL_THREAD_TEXT.threads, '{thread}'),
      }
    : undefined;

  const callback = (result: BatchObservableResult): void => {
    if (sampler.closed) return;
    const sample = sampler.read();
    const loop = sample.loop;
    if (loop) {
      result.observe(utilization, loop.utilization, attributes);
      result.observe(time, loop.activeNs / 1e9, { ...attributes, 'nodejs.eventloop.state': 'active' });
      result.observe(time, loop.idleNs / 1e9, { ...attributes, 'nodejs.eventloop.state': 'idle' });
      result.observe(iterations, loop.iterations, attributes);
      result.observe(longIterations, loop.longIterations, attributes);
      iteration(result, loop.iteration, attributes);
      pollWait(result, loop.pollWait, attributes);
      pollWork(result, loop.pollWork, attributes);
      outsidePoll(result, loop.outsidePoll, attributes);
    }
    if (stallInstruments && sample.stall) {
      result.observe(stallInstruments.count, sample.stall.stalls, attributes);
      result.observe(stallInstruments.time, sample.stall.totalNs / 1e9, attributes);
      result.observe(stallInstruments.longest, sample.stall.longestNs / 1e9, attributes);
    }
    for (const k of sample.kernels) {
      const attrs = { ...attributes, 'uvscope.threadpool.kernel': k.kernel };
      for (const outcome of OUTCOMES) {
        result.observe(jobs, k.outcomes[outcome], { ...attrs, 'uvscope.threadpool.job.outcome': outcome });
      }
      result.observe(processed, k.bytes, attrs);
      queueWait(result, k.queueWait, attrs);
      runTime(result, k.run, attrs);
      returnDelay(result, k.returnDelay, attrs);
    }
    result.observe(inFlight, sample.inFlight, attributes);
    result.observe(queued, sample.queued, attributes);
    result.observe(running, sample.running, attributes);
    result.observe(sizeConfigured, sample.sizeConfigured, attributes);
    if (sample.sizeMeasured !== undefined) result.observe(sizeMeasured, sample.sizeMeasured, attributes);
    if (sample.saturationNs !== undefined) result.observe(saturation, sample.saturationNs / 1e9, attributes);
    if (threadInstruments && sample.poolThreads) {
      result.observe(threadInstruments.cpu, sample.poolThreads.cpuNs / 1e9, attributes);
      result.observe(threadInstruments.wait, sample.poolThreads.runQueueWaitNs / 1e9, attributes);
      result.observe(threadInstruments.threads, sample.poolThreads.threads, attributes);
    }
  };
  m.addBatchObservableCallback(callback, observables);
  sampler.start();

  return {
    names,
    observer: sampler.observer,
    stallWatchdog: sampler.stallWatchdog,
    measuredPoolSize: sampler.measuredPoolSize,
    stop(): void {
      if (sampler.closed) return;
      m.removeBatchObservableCallback(callback, observables);
      sampler.close();
    },
  };
}
