/**
 * UvMetricProducer: every uvscope metric as OpenTelemetry metric data for the SDK's readers
 * (their `metricProducers` option), with the duration distributions as real histograms
 * (explicit buckets) built from the native histograms at collection time. The API has no
 * asynchronous histogram instrument; a MetricProducer needs none. Lifetime: from construction
 * (the sampler starts then) to `shutdown()`.
 * @module
 */
import type { Attributes, HrTime } from '@opentelemetry/api';
import type {
  CollectionResult,
  DataPoint,
  Histogram,
  MetricCollectOptions,
  MetricData,
  MetricProducer,
} from '@opentelemetry/sdk-metrics';

import { validateBuckets } from './buckets';
import type { ResolvedBuckets, UvBuckets } from './buckets';
import { bucketCounts } from '../histogram/native-buckets';
import { requirePeer, UvSampler, validateSamplerOptions } from './sampler';
import type { DistributionSample, UvSample } from './sampler';
import type { UvOpenTelemetryOptions } from './opentelemetry';
import { packageVersion, POOL_THREAD_TEXT, validateAttributes } from './otel-common';
import { validateBoolean, validateObject } from '../errors';
import type { LogHistogram } from '../histogram/log-histogram';
import { monitorPoolRequestsLive } from '../requests/monitor';
import type { LoopObserver } from '../loop/observer';
import type { StallWatchdog } from '../loop/stall-watchdog';
import { OUTCOMES } from '../threadpool/job-stats';

const otel = requirePeer<typeof import('@opentelemetry/api')>('@opentelemetry/api', 'uvscope/opentelemetry');

// Enum values of @opentelemetry/sdk-metrics (the OTLP data model's), written out so that
// uvscope needs the SDK only for its types: DataPointType HISTOGRAM 0, GAUGE 2, SUM 3;
// AggregationTemporality CUMULATIVE 1. The test checks them against the SDK's enums.
const HISTOGRAM = 0;
const GAUGE = 2;
const SUM = 3;
const CUMULATIVE = 1;

type Resource = CollectionResult['resourceMetrics']['resource'];

/** Options of {@link UvMetricProducer}: those of {@link registerUvMetrics}, plus `buckets`. */
export interface UvMetricProducerOptions extends UvOpenTelemetryOptions {
  /**
   * Explicit bucket boundaries of the histograms, seconds: one list, or `{ loop, threadpool }`
   * (see `uvscope/prometheus`'s option of the same name; the same defaults and precision).
   */
  buckets?: UvBuckets;
  /**
   * Also count Node's own thread pool requests (fs, dns.lookup, node:crypto, zlib) through a
   * dedicated `monitorPoolRequests()` (no async_hooks by default; its cost is in docs/pool-requests.md):
   * `uvscope.threadpool.requests` (counter, `{request}`, attributes
   * `uvscope.threadpool.request.kind` and `uvscope.threadpool.request.outcome` = `completed` |
   * `failed`), `uvscope.threadpool.request.duration` (histogram, `s`: submission to callback),
   * `uvscope.threadpool.requests.in_flight` (up-down counter). Default `false`.
   */
  poolRequests?: boolean;
}

/** An empty resource: a MetricReader merging a producer's data keeps its SDK's own resource. */
const EMPTY_RESOURCE: Resource = {
  attributes: {},
  merge: (other) => other ?? EMPTY_RESOURCE,
  getRawAttributes: () => [],
};

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

/**
 * A `MetricProducer` for `@opentelemetry/sdk-metrics` readers: pass it in a reader's
 * `metricProducers` option (`new PeriodicExportingMetricReader({ exporter, metricProducers: [producer] })`,
 * `new PrometheusExporter({ metricProducers: [producer] })`). Each `collect()` reads uvscope's
 * native statistics once and returns every uvscope metric, cumulative since the producer was
 * created, with the names, units and attributes of {@link registerUvMetrics}; the duration
 * distributions are histograms (explicit buckets, sum, count) instead of per-statistic gauges:
 *
 * - `uvscope.eventloop.iteration.duration`, `uvscope.eventloop.poll_wait`,
 *   `uvscope.eventloop.poll_work`, `uvscope.eventloop.outside_poll` (`s`)
 * - `uvscope.threadpool.job.queue_wait`, `uvscope.threadpool.job.run_time`,
 *   `uvscope.threadpool.job.return_delay` (`s`, attribute `uvscope.threadpool.kernel`)
 *
 * Use it instead of `registerUvMetrics` (not with it: the counters would be exported twice).
 * Nothing runs per loop iteration or per job in JavaScript. Creating it starts a dedicated
 * observer, stall watchdog and saturation probes as `registerUvMetrics` does; `shutdown()`
 * stops them.
 */
export class UvMetricProducer implements MetricProducer {
  /** The loop observer read at each collection (the dedicated one, or the one given). */
  readonly observer: LoopObserver;
  /** The stall watchdog read at each collection; undefined with `stallWatchdog: false`. */
  readonly stallWatchdog: StallWatchdog | undefined;
  /** Resolves with the measured pool size (undefined when not measured); see registerUvMetrics. */
  readonly measuredPoolSize: Promise<number | undefined>;
  readonly #sampler: UvSampler;
  readonly #attributes: Attributes;
  readonly #buckets: ResolvedBuckets;
  readonly #startTime = hrNow();
  readonly #longThresholdMs: number;
  readonly #requests: ReturnType<typeof monitorPoolRequestsLive> | undefined;

  /**
   * @param options See {@link UvMetricProducerOptions}.
   * @throws TypeError `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE`, RangeError `ERR_OUT_OF_RANGE` for bad options.
   */
  constructor(options: UvMetricProducerOptions = {}) {
    validateObject('options', options);
    this.#attributes = validateAttributes(options?.attributes);
    this.#buckets = validateBuckets(options?.buckets);
    const poolRequests = options?.poolRequests ?? false;
    validateBoolean('options.poolRequests', poolRequests);
    this.#sampler = new UvSampler(validateSamplerOptions(options ?? {}));
    this.#longThresholdMs = this.#sampler.longThresholdNs / 1e6;
    this.#sampler.start();
    this.observer = this.#sampler.observer;
    this.stallWatchdog = this.#sampler.stallWatchdog;
    this.measuredPoolSize = this.#sampler.measuredPoolSize;
    this.#requests = poolRequests ? monitorPoolRequestsLive() : undefined;
  }

  /** Whether `shutdown()` was called. */
  get closed(): boolean {
    return this.#sampler.closed;
  }

  /**
   * Reads uvscope's statistics once. Never rejects (a reader collects every producer at once,
   * and one rejection would lose them all): a closed observer or watchdog leaves its metrics
   * out, and after `shutdown()` there are none.
   */
  async collect(_options?: MetricCollectOptions): Promise<CollectionResult> {
    const metrics = this.#sampler.closed ? [] : this.#metrics(this.#sampler.read(), hrNow());
    return {
      resourceMetrics: { resource: EMPTY_RESOURCE, scopeMetrics: [{ scope: { name: 'uvscope', version: packageVersion() }, metrics }] },
      errors: [],
    };
  }

  /** Stops the saturation probes and closes the dedicated observer and watchdog (not ones passed in). Idempotent. */
  async shutdown(): Promise<void> {
    this.#sampler.close();
    this.#requests?.stop();
  }

  #metrics(sample: UvSample, endTime: HrTime): MetricData[] {
    const { INT, DOUBLE } = otel.ValueType;
    const startTime = this.#startTime;
    const base = this.#attributes;
    const metrics: MetricData[] = [];
    const point = <T>(value: T, attributes: Attributes = base): DataPoint<T> => ({ startTime, endTime, attributes, value });
    const sum = (name: string, description: string, unit: string, points: DataPoint<number>[], monotonic = true, valueType = INT) => {
      if (points.length > 0) {
        metrics.push({
          descriptor: { name, description, unit, valueType },
          aggregationTemporality: CUMULATIVE,
          dataPointType: SUM,
          dataPoints: points,
          isMonotonic: monotonic,
        });
      }
    };
    const gauge = (name: string, description: string, unit: string, points: DataPoint<number>[]) => {
      if (points.length > 0) {
        metrics.push({
          descriptor: { name, description, unit, valueType: DOUBLE },
          aggregationTemporality: CUMULATIVE,
          dataPointType: GAUGE,
          dataPoints: points,
        });
      }
    };
    const histogram = (name: string, description: string, points: DataPoint<Histogram>[]) => {
      if (points.length > 0) {
        metrics.push({
          descriptor: { name, description, unit: 's', valueType: DOUBLE },
          aggregationTemporality: CUMULATIVE,
          dataPointType: HISTOGRAM,
          dataPoints: points,
        });
      }
    };

    const loop = sample.loop;
    if (loop) {
      gauge('nodejs.eventloop.utilization', 'Event loop utilization since the previous collection.', '1', [point(loop.utilization)]);
      sum('nodejs.eventloop.time', 'Cumulative duration of time the event loop has been in each state.', 's', [
        point(loop.activeNs / 1e9, { ...base, 'nodejs.eventloop.state': 'active' }),
        point(loop.idleNs / 1e9, { ...base, 'nodejs.eventloop.state': 'idle' }),
      ], true, DOUBLE);
      sum('uvscope.eventloop.iterations', 'Event loop iterations (prepare to prepare) completed.', '{iteration}', [point(loop.iterations)]);
      sum('uvscope.eventloop.long_iterations',
        `Event loop iterations longer than ${this.#longThresholdMs} ms (the observer's blockThresholdMs).`, '{iteration}',
        [point(loop.longIterations)]);
      const loopHistograms: [string, 'iteration' | 'pollWait' | 'pollWork' | 'outsidePoll', string][] = [
        ['uvscope.eventloop.iteration.duration', 'iteration', 'Duration of an event loop iteration, prepare to prepare.'],
        ['uvscope.eventloop.poll_wait', 'pollWait', 'Time a poll phase was blocked waiting for I/O.'],
        ['uvscope.eventloop.poll_work', 'pollWork', 'Rest of a poll phase (running I/O callbacks).'],
        ['uvscope.eventloop.outside_poll', 'outsidePoll',
          'Time from check to the next prepare (setImmediate, close callbacks, timers, pending callbacks).'],
      ];
      for (const [name, field, description] of loopHistograms) {
        histogram(name, description, [point(toHistogram(loop[field], this.#buckets.loop))]);
      }
    }
    const stall = sample.stall;
    if (stall) {
      sum('uvscope.eventloop.stalls',
        `Event loop stalls: the loop busy without turning for longer than ${stall.thresholdMs} ms, counted when detected.`,
        '{stall}', [point(stall.stalls)]);
      sum('uvscope.eventloop.stall.time', 'Time the event loop spent in stalls that ended.', 's', [point(stall.totalNs / 1e9)], true, DOUBLE);
      gauge('uvscope.eventloop.stall.duration.max', 'Duration of the longest event loop stall that ended (0 before the first).', 's',
        [point(stall.longestNs / 1e9)]);
    }
    const perKernel = sample.kernels.map((k) => ({ k, attrs: { ...base, 'uvscope.threadpool.kernel': k.kernel } }));
    sum('uvscope.threadpool.jobs', 'Thread pool jobs settled, by kernel and outcome.', '{job}', perKernel.flatMap(({ k, attrs }) =>
      OUTCOMES.map((outcome) => point(k.outcomes[outcome], { ...attrs, 'uvscope.threadpool.job.outcome': outcome }))));
    sum('uvscope.threadpool.processed', 'Input bytes processed by thread pool jobs, by kernel.', 'By',
      perKernel.map(({ k, attrs }) => point(k.bytes, attrs)));
    const jobHistograms: [string, 'queueWait' | 'run' | 'returnDelay', string][] = [
      ['uvscope.threadpool.job.queue_wait', 'queueWait', 'Time a job waited from submission until a pool thread started it.'],
      ['uvscope.threadpool.job.run_time', 'run', 'Time a job ran on its pool thread.'],
      ['uvscope.threadpool.job.return_delay', 'returnDelay', 'Time from a job finishing on its pool thread until the loop settled its promise.'],
    ];
    for (const [name, field, description] of jobHistograms) {
      histogram(name, description, perKernel.map(({ k, attrs }) => point(toHistogram(k[field], this.#buckets.threadpool), attrs)));
    }
    sum('uvscope.threadpool.in_flight', 'Thread pool jobs submitted and not yet settled.', '{job}', [point(sample.inFlight)], false);
    sum('uvscope.threadpool.queued', 'Thread pool jobs waiting for a pool thread.', '{job}', [point(sample.queued)], false);
    sum('uvscope.threadpool.running', 'Thread pool jobs running on pool threads.', '{job}', [point(sample.running)], false);
    sum('uvscope.threadpool.size.configured', 'libuv thread pool size according to UV_THREADPOOL_SIZE.', '{thread}',
      [point(sample.sizeConfigured)], false);
    if (sample.sizeMeasured !== undefined) {
      sum('uvscope.threadpool.size.measured', 'libuv thread pool threads measured running at once (measured once, at start).',
        '{thread}', [point(sample.sizeMeasured)], false);
    }
    if (sample.saturationNs !== undefined) {
      gauge('uvscope.threadpool.saturation',
        'Queue wait of the latest no-op probe job: the delay new pool work (fs, dns.lookup, crypto) suffers now.', 's',
        [point(sample.saturationNs / 1e9)]);
    }
    const threads = sample.poolThreads;
    if (threads) {
      sum('uvscope.threadpool.thread.cpu.time', POOL_THREAD_TEXT.cpu, 's', [point(threads.cpuNs / 1e9)], true, DOUBLE);
      sum('uvscope.threadpool.thread.run_queue_wait', POOL_THREAD_TEXT.wait, 's', [point(threads.runQueueWaitNs / 1e9)], true, DOUBLE);
      sum('uvscope.threadpool.threads.observed', POOL_THREAD_TEXT.threads, '{thread}', [point(threads.threads)], false);
    }
    if (this.#requests) {
      // uvscope's own jobs are in uvscope.threadpool.jobs already.
      const kinds = [...this.#requests.kindCounts()]
        .filter(([kind]) => !kind.startsWith('uvscope.'))
        .map(([kind, counts]) => ({ counts, attrs: { ...base, 'uvscope.threadpool.request.kind': kind } }));
      sum("uvscope.threadpool.requests", "Node's own thread pool requests settled (fs, dns.lookup, node:crypto, zlib), by kind and outcome.", '{request}',
        kinds.flatMap(({ counts, attrs }) =>
          (['completed', 'failed'] as const).map((outcome) => point(counts[outcome], { ...attrs, 'uvscope.threadpool.request.outcome': outcome }))));
      histogram('uvscope.threadpool.request.duration', "Latency of Node's own thread pool requests, submission to callback.",
        kinds.map(({ counts, attrs }) => point(toHistogram(counts.latency, this.#buckets.threadpool), attrs)));
      sum('uvscope.threadpool.requests.in_flight', "Node's own thread pool requests submitted and not yet settled.", '{request}',
        [point(this.#requests.stats().inFlight.now)], false);
    }
    return metrics;
  }
}

/** A distribution (native, or recorded in JavaScript for pool requests) as explicit buckets in seconds. */
function toHistogram(source: DistributionSample | LogHistogram, boundsS: readonly number[]): Histogram {
  const { atOrBelow, count, sumNs } = bucketCounts(source, boundsS);
  const counts = atOrBelow.map((c, i) => c - (i > 0 ? atOrBelow[i - 1] : 0));
  counts.push(count - (atOrBelow[atOrBelow.length - 1] ?? 0));
  return { buckets: { boundaries: [...boundsS], counts }, sum: sumNs / 1e9, count };
}
