/**
 * The Prometheus exporter behind `uvscope/prometheus` (src/prometheus.ts re-exports it): a
 * prom-client metric object per uvscope metric, read from one UvSampler read-out per scrape.
 * Lifetime: from collectDefaultUvMetrics() to the collector's stop().
 * @module
 */
import type { Registry, RegistryContentType } from 'prom-client';

import { requirePeer, UvSampler, validateSamplerOptions } from './sampler';
import type { DistributionSample, LoopSample, UvMetricsHandle, UvSample } from './sampler';
import { validateBuckets } from './buckets';
import type { UvBuckets } from './buckets';
import { bucketCounts } from '../histogram/native-buckets';
import { SlidingQuantiles, validateQuantiles } from './sliding-quantiles';
import type { SlidingWindowOptions } from './sliding-quantiles';
import { invalidArgType, invalidArgValue, validateBoolean, validateObject } from '../errors';
import type { LogHistogram } from '../histogram/log-histogram';
import { monitorPoolRequestsLive } from '../requests/monitor';
import type { LoopObserver } from '../loop/observer';
import type { StallWatchdog, StallWatchdogOptions } from '../loop/stall-watchdog';
import { OUTCOMES } from '../threadpool/job-stats';
import type { ThreadPool } from '../threadpool/threadpool';

// Loaded here, not by the core: `require('uvscope')` never needs it.
const promClient = requirePeer<typeof import('prom-client')>('prom-client', 'uvscope/prometheus');

/** Options of {@link collectDefaultUvMetrics}. */
export interface UvPrometheusOptions {
  /** The registry to register the metrics on (either content type). Default: prom-client's global `register`. */
  register?: Registry<RegistryContentType>;
  /** Prepended to every metric name. Default `'uvscope_'`. */
  prefix?: string;
  /**
   * Labels added to every sample (`{ worker: '3' }`). Names `le`, `quantile`, `kernel`, `outcome`
   * and `state` are taken. prom-client's cluster `AggregatorRegistry` sums samples with equal
   * labels: right for counters and histogram buckets, meaningless for the utilization gauge and
   * for summary quantiles (give each worker its own label value to keep those apart).
   */
  labels?: Record<string, string | number>;
  /**
   * The loop observer to read, already started. The collector never starts, stops, resets or
   * closes one it is given. Calling `reset()` on it (or `stop()` then `start()`) keeps every
   * counter monotonic, but what it recorded between the previous scrape and the reset is not
   * counted; closing it removes the loop samples. Default: a dedicated observer (unref'd, so it
   * never keeps the process alive), started now and closed by `stop()`.
   */
  observer?: LoopObserver;
  /**
   * Where the stall metrics come from: a `StallWatchdog` (the caller's: read, never started,
   * stopped or closed; its counts are since it was created), the options of a dedicated one,
   * or `false` (no stall metrics are registered). Default `{}`: a dedicated watchdog with the
   * default threshold of 1000 ms and `stacks: false` (unless the options ask for stacks: the
   * metrics only count), started now on the thread that calls this and closed by `stop()`.
   * A watchdog is a native thread that needs nothing from the loop it watches; unref'd (a
   * dedicated one always is), it never keeps the process alive. To see stalls in metrics and
   * in logs, create one watchdog (with `file`, or a 'stall' listener) and pass it here.
   */
  stallWatchdog?: StallWatchdog | StallWatchdogOptions | false;
  /**
   * The pool whose jobs are counted. Default: the default pool `threadpool`. Statistics are per
   * `ThreadPool` instance; for several pools, call the collector once per pool with its own
   * `prefix` or registry. `resetStats()` on it is handled as for the observer.
   */
  pool?: ThreadPool;
  /**
   * How often, in ms, a no-op probe job measures the pool's queue wait for the saturation
   * gauge (via `monitorSaturation`). Default 1000; `false` turns the probes off.
   */
  saturationIntervalMs?: number | false;
  /**
   * Measure the pool size once, now, with `measureSize()`. It briefly (some 30 ms) holds every
   * pool thread, so other pool work waits meanwhile, and pool work already in flight makes it
   * count too few. Default `true`.
   */
  measurePoolSize?: boolean;
  /**
   * Histogram bucket upper bounds, seconds (`+Inf` is always added): one list for every
   * histogram, or `{ loop, threadpool }` lists (each defaulting). Each: 1 to 100 finite
   * numbers > 0, strictly increasing. Defaults: {@link DEFAULT_LOOP_BUCKETS} (10 µs to 10 s)
   * for the loop, {@link DEFAULT_JOB_BUCKETS} (10 µs to 60 s) for pool jobs. A bucket's count
   * is exact where its bound falls on an edge of the native histogram (every whole number of
   * ns up to 64 ns, then 64 edges per power of two); otherwise it counts the values up to the
   * native edge just below the bound, which is less than 1/64 (1.6%) of it lower.
   */
  buckets?: UvBuckets;
  /**
   * Also export each distribution as a summary `<name>_window_seconds` with quantiles 0.5,
   * 0.9, 0.99 and 0.999 over a sliding window (like prom-client's `maxAgeSeconds` and
   * `ageBuckets`; `true`: 600 s in 5 steps), each within 1/128 of the true value (bucket
   * midpoints of the native histogram); `_sum` and `_count` cumulative. Default `false`:
   * quantiles of several processes cannot be aggregated, histograms can.
   */
  quantiles?: boolean | SlidingWindowOptions;
  /**
   * Also count Node's own thread pool requests (fs, dns.lookup, node:crypto, zlib) by kind,
   * through a dedicated `monitorPoolRequests()` (wrappers of Node's internal request functions, no
   * async_hooks by default; see its cost in the guide, docs/pool-requests.md): `uvscope_threadpool_requests_total{kind, outcome}`,
   * `uvscope_threadpool_request_seconds{kind}` (submission to callback) and
   * `uvscope_threadpool_requests_in_flight`. Default `false`.
   */
  poolRequests?: boolean;
  /**
   * Export the pool threads' CPU time and run-queue wait, read from the kernel (Linux:
   * `/proc/self/task/<tid>/schedstat`), whoever's work they ran (fs, dns.lookup, zlib,
   * node:crypto, other addons, uvscope):
   * `uvscope_threadpool_thread_cpu_seconds_total`,
   * `uvscope_threadpool_thread_run_queue_wait_seconds_total` (counters, summed over the pool's
   * threads, each thread counted from when the exporter first saw it) and
   * `uvscope_threadpool_threads_observed` (gauge). The threads are found once per JavaScript
   * thread by short hold probes (each holds a pool thread at most 20 ms), after the size
   * measurement. Default `true` on the main thread, `false` in worker threads (the pool is the
   * process's: every worker exporting it would count the same threads again). Where the platform
   * has no per-thread figures (not Linux), nothing is registered and nothing throws.
   */
  poolThreads?: boolean;
}

/** What {@link collectDefaultUvMetrics} returns. */
export interface UvPrometheusCollector extends UvMetricsHandle {
  /**
   * Removes the metrics from the registry, stops the saturation probes and closes the dedicated
   * observer and stall watchdog (not ones passed in). Idempotent.
   */
  stop(): void;
}

type PromType = 'counter' | 'gauge' | 'histogram' | 'summary';
type Labels = Record<string, string | number>;
interface PromValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

/**
 * A metric object as prom-client's Registry uses it (`name`, `help`, `type`, `get()`,
 * `reset()`), whose values are read from the sampler when scraped.
 */
class ScrapedMetric {
  // Not readonly: for OpenMetrics output the Registry strips a counter's `_total` in place.
  name: string;
  readonly help: string;
  readonly type: PromType;
  readonly aggregator: string;
  readonly #values: (name: string) => PromValue[];

  constructor(name: string, help: string, type: PromType, aggregator: string, values: (name: string) => PromValue[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.aggregator = aggregator;
    this.#values = values;
  }

  get(): { name: string; help: string; type: PromType; values: PromValue[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: this.#values(this.name), aggregator: this.aggregator };
  }

  /** Nothing to reset: the values live in uvscope's native statistics (`registry.resetMetrics()` is a no-op here). */
  reset(): void {}
}

const QUANTILES: readonly number[] = [0.5, 0.9, 0.99, 0.999];
const LOOP_FIELDS = ['iteration', 'pollWait', 'pollWork', 'outsidePoll'] as const;
const JOB_FIELDS = ['queueWait', 'run', 'returnDelay'] as const;

/** A histogram's samples in seconds: cumulative `le` buckets (bounds in s), `_sum`, `_count`. */
function histogramValues(name: string, source: DistributionSample | LogHistogram, boundsS: readonly number[], labels: Labels): PromValue[] {
  const h = bucketCounts(source, boundsS);
  const values: PromValue[] = boundsS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: h.atOrBelow[i] }));
  values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  values.push({ metricName: `${name}_sum`, labels, value: h.sumNs / 1e9 });
  values.push({ metricName: `${name}_count`, labels, value: h.count });
  return values;
}

/** A summary's samples in seconds: window quantiles (none while the window is empty), cumulative `_sum` and `_count`. */
function summaryValues(name: string, sample: DistributionSample, quantilesNs: number[] | undefined, labels: Labels): PromValue[] {
  const values: PromValue[] = [];
  quantilesNs?.forEach((ns, i) => values.push({ labels: { ...labels, quantile: QUANTILES[i] }, value: ns / 1e9 }));
  values.push({ metricName: `${name}_sum`, labels, value: sample.sumNs / 1e9 });
  values.push({ metricName: `${name}_count`, labels, value: sample.count });
  return values;
}

const RESERVED_LABELS = new Set(['quantile', 'kernel', 'kind', 'outcome', 'state', 'le']);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function validateLabels(labels: unknown): Labels {
  validateObject('options.labels', labels);
  const result: Labels = {};
  for (const [name, value] of Object.entries(labels ?? {})) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw invalidArgValue(`options.labels.${name}`, 'must have a valid Prometheus label name', name);
    }
    if (RESERVED_LABELS.has(name)) {
      throw invalidArgValue(`options.labels.${name}`, 'is a label uvscope sets itself', name);
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw invalidArgType(`options.labels.${name}`, 'of type string or number', value);
    }
    result[name] = value;
  }
  return result;
}

/**
 * Registers uvscope's event loop and thread pool metrics on a prom-client registry. Values are
 * read from the native statistics when the registry is scraped (`registry.metrics()`), one
 * snapshot per scrape; nothing runs per loop iteration or per job in JavaScript.
 *
 * Metrics (names with the default prefix `uvscope_`; durations in seconds, sizes in bytes):
 *
 * - `uvscope_eventloop_iterations_total`, `uvscope_eventloop_long_iterations_total` (counters)
 * - `uvscope_eventloop_time_seconds_total{state="active"|"idle"}` (counter): time the loop was
 *   busy, or waiting for I/O in poll
 * - `uvscope_eventloop_utilization_ratio` (gauge, 0..1): busy share since the previous scrape
 * - histograms `uvscope_eventloop_iteration_seconds`, `_poll_wait_seconds`, `_poll_work_seconds`,
 *   `_outside_poll_seconds`
 * - `uvscope_eventloop_stalls_total` (counter): stalls the watchdog detected (the loop busy
 *   without turning for longer than its threshold), counted when detected, so one still going on
 *   counts; `uvscope_eventloop_stall_seconds_total` (counter): time spent in the stalls that
 *   ended; `uvscope_eventloop_stall_longest_seconds` (gauge): the longest of them, 0 before the
 *   first. The watchdog keeps only these totals, no distribution, hence no histogram. Counts are
 *   the watchdog's since its creation (a dedicated one: since this call). Not registered with
 *   `stallWatchdog: false`; no samples once a given watchdog is closed.
 * - `uvscope_threadpool_jobs_total{kernel, outcome="completed"|"failed"|"cancelled"}`,
 *   `uvscope_threadpool_processed_bytes_total{kernel}` (counters)
 * - histograms `uvscope_threadpool_job_queue_wait_seconds{kernel}`, `_job_run_seconds{kernel}`,
 *   `_job_return_delay_seconds{kernel}` (only jobs that ran: a job cancelled while queued counts
 *   in `jobs_total` only)
 * - gauges `uvscope_threadpool_jobs_in_flight`, `_jobs_queued`, `_jobs_running`,
 *   `uvscope_threadpool_size_configured` (threads, from UV_THREADPOOL_SIZE),
 *   `uvscope_threadpool_size_measured` (threads; no sample until measured),
 *   `uvscope_threadpool_saturation_seconds` (queue wait of the latest probe; no sample before it)
 * - `uvscope_threadpool_thread_cpu_seconds_total`, `uvscope_threadpool_thread_run_queue_wait_seconds_total`
 *   (counters): the pool threads' time on a CPU and runnable but waiting for one, summed over
 *   the threads, each since the exporter first saw it; `uvscope_threadpool_threads_observed`
 *   (gauge): the threads summed (`poolThreads`, Linux; no samples before the first is seen)
 *
 * Histograms are cumulative since the collector started (the collector never resets its
 * sources; their resets keep every series monotonic, losing only what was recorded between the
 * previous scrape and the reset). With `quantiles`, each histogram `<name>_seconds` also has a
 * summary `<name>_window_seconds` over the sliding window.
 *
 * @param options See {@link UvPrometheusOptions}.
 * @returns A handle whose `stop()` unregisters the metrics and stops the probes.
 * @throws TypeError `ERR_INVALID_ARG_TYPE` / `ERR_INVALID_ARG_VALUE` for bad options;
 *   Error when a metric of the same name is already registered (nothing is registered then).
 */
export function collectDefaultUvMetrics(options: UvPrometheusOptions = {}): UvPrometheusCollector {
  validateObject('options', options);
  const { register = promClient.register, prefix = 'uvscope_' } = options ?? {};
  if (
    register === null ||
    typeof register !== 'object' ||
    typeof (register as Registry).registerMetric !== 'function' ||
    typeof (register as Registry).getSingleMetric !== 'function'
  ) {
    throw invalidArgType('options.register', 'a prom-client Registry', register);
  }
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix);
  const labels = validateLabels(options?.labels);
  const buckets = validateBuckets(options?.buckets);
  const window = validateQuantiles(options?.quantiles);
  const samplerOptions = validateSamplerOptions(options ?? {});
  const poolRequests = options?.poolRequests ?? false;
  validateBoolean('options.poolRequests', poolRequests);

  const sampler = new UvSampler(samplerOptions);
  const read = () => sampler.read();
  // Window quantiles of every distribution, computed once per read-out (snapshots must see all).
  const sliding = window && new SlidingQuantiles(window);
  const windowQuantiles = new WeakMap<UvSample, Map<string, number[] | undefined>>();
  const quantilesOf = (sample: UvSample, key: string): number[] | undefined => {
    if (!sliding) return undefined;
    let byKey = windowQuantiles.get(sample);
    if (!byKey) {
      byKey = new Map();
      sliding.begin();
      const loop = sample.loop;
      if (loop) for (const field of LOOP_FIELDS) byKey.set(field, sliding.quantiles(field, loop[field].buckets, QUANTILES));
      for (const k of sample.kernels) {
        for (const field of JOB_FIELDS) byKey.set(`${k.kernel}.${field}`, sliding.quantiles(`${k.kernel}.${field}`, k[field].buckets, QUANTILES));
      }
      sliding.end();
      windowQuantiles.set(sample, byKey);
    }
    return byKey.get(key);
  };
  const metrics: ScrapedMetric[] = [];
  const add = (suffix: string, help: string, type: PromType, aggregator: string, values: (name: string) => PromValue[]) => {
    metrics.push(new ScrapedMetric(prefix + suffix, help, type, aggregator, values));
  };
  const fromLoop = (pick: (loop: LoopSample, name: string) => PromValue[]) => (name: string) => {
    const loop = read().loop;
    return loop ? pick(loop, name) : [];
  };

  add('eventloop_iterations_total', 'Event loop iterations (prepare to prepare) completed.', 'counter', 'sum',
    fromLoop((l) => [{ labels, value: l.iterations }]));
  add('eventloop_long_iterations_total',
    `Event loop iterations longer than ${sampler.longThresholdNs / 1e6} ms (the observer's blockThresholdMs).`,
    'counter', 'sum', fromLoop((l) => [{ labels, value: l.longIterations }]));
  add('eventloop_time_seconds_total',
    'Time the event loop was busy (state="active") and waiting for I/O in poll (state="idle"), seconds.',
    'counter', 'sum', fromLoop((l) => [
      { labels: { state: 'active', ...labels }, value: l.activeNs / 1e9 },
      { labels: { state: 'idle', ...labels }, value: l.idleNs / 1e9 },
    ]));
  add('eventloop_utilization_ratio',
    'Share of the time since the previous scrape the event loop was busy (as performance.eventLoopUtilization), 0 to 1.',
    'gauge', 'average', fromLoop((l) => [{ labels, value: l.utilization }]));
  const loopSummaries: [string, 'iteration' | 'pollWait' | 'pollWork' | 'outsidePoll', string][] = [
    ['eventloop_iteration', 'iteration', 'Duration of one event loop iteration, prepare to prepare'],
    ['eventloop_poll_wait', 'pollWait', 'Time each poll phase was blocked waiting for I/O'],
    ['eventloop_poll_work', 'pollWork', 'Rest of each poll phase: running I/O callbacks'],
    ['eventloop_outside_poll', 'outsidePoll',
      'Time from check to the next prepare: setImmediate, close callbacks, timers, pending callbacks'],
  ];
  for (const [suffix, field, help] of loopSummaries) {
    add(`${suffix}_seconds`, `${help}, seconds.`, 'histogram', 'sum',
      fromLoop((l, name) => histogramValues(name, l[field], buckets.loop, labels)));
    if (window) {
      add(`${suffix}_window_seconds`, `${help}, seconds: quantiles over the last ${window.maxAgeSeconds} s; _sum and _count cumulative.`,
        'summary', 'sum', fromLoop((l, name) => summaryValues(name, l[field], quantilesOf(read(), field), labels)));
    }
  }

  if (sampler.stallWatchdog) {
    const threshold = `${sampler.stallThresholdMs} ms`;
    const fromStalls = (pick: (s: NonNullable<ReturnType<typeof read>['stall']>) => number) => () => {
      const stall = read().stall;
      return stall ? [{ labels, value: pick(stall) }] : [];
    };
    add('eventloop_stalls_total',
      `Event loop stalls: the loop busy without turning for longer than ${threshold}, counted when detected.`,
      'counter', 'sum', fromStalls((s) => s.stalls));
    add('eventloop_stall_seconds_total', 'Time the event loop spent in stalls that ended, seconds.', 'counter', 'sum',
      fromStalls((s) => s.totalNs / 1e9));
    add('eventloop_stall_longest_seconds', 'Duration of the longest event loop stall that ended (0 before the first), seconds.',
      'gauge', 'max', fromStalls((s) => s.longestNs / 1e9));
  }
  add('threadpool_jobs_total', 'Thread pool jobs settled, by kernel and outcome (completed, failed, cancelled).',
    'counter', 'sum', () =>
      read().kernels.flatMap((k) =>
        OUTCOMES.map((outcome) => ({ labels: { kernel: k.kernel, outcome, ...labels }, value: k.outcomes[outcome] })),
      ));
  add('threadpool_processed_bytes_total', 'Input bytes processed by thread pool jobs, by kernel.', 'counter', 'sum',
    () => read().kernels.map((k) => ({ labels: { kernel: k.kernel, ...labels }, value: k.bytes })));
  const poolSummaries: [string, 'queueWait' | 'run' | 'returnDelay', string][] = [
    ['threadpool_job_queue_wait', 'queueWait', 'Time a job waited from submission until a pool thread started it'],
    ['threadpool_job_run', 'run', 'Time a job ran on its pool thread'],
    ['threadpool_job_return_delay', 'returnDelay',
      'Time from a job finishing on its pool thread until the loop settled its promise'],
  ];
  for (const [suffix, field, help] of poolSummaries) {
    add(`${suffix}_seconds`, `${help}, seconds, by kernel.`, 'histogram', 'sum',
      (name) => read().kernels.flatMap((k) => histogramValues(name, k[field], buckets.threadpool, { kernel: k.kernel, ...labels })));
    if (window) {
      add(`${suffix}_window_seconds`,
        `${help}, seconds, by kernel: quantiles over the last ${window.maxAgeSeconds} s; _sum and _count cumulative.`, 'summary', 'sum',
        (name) => read().kernels.flatMap((k) =>
          summaryValues(name, k[field], quantilesOf(read(), `${k.kernel}.${field}`), { kernel: k.kernel, ...labels })));
    }
  }
  add('threadpool_jobs_in_flight', 'Thread pool jobs submitted and not yet settled.', 'gauge', 'sum',
    () => [{ labels, value: read().inFlight }]);
  add('threadpool_jobs_queued', 'Thread pool jobs waiting for a pool thread.', 'gauge', 'sum',
    () => [{ labels, value: read().queued }]);
  add('threadpool_jobs_running', 'Thread pool jobs running on pool threads.', 'gauge', 'sum',
    () => [{ labels, value: read().running }]);
  add('threadpool_size_configured', 'libuv thread pool size according to UV_THREADPOOL_SIZE, threads.', 'gauge', 'sum',
    () => [{ labels, value: read().sizeConfigured }]);
  add('threadpool_size_measured',
    'libuv thread pool threads measured running at once, measured once at start (no sample until then), threads.',
    'gauge', 'sum', () => {
      const size = read().sizeMeasured;
      return size === undefined ? [] : [{ labels, value: size }];
    });
  add('threadpool_saturation_seconds',
    'Queue wait of the latest no-op probe job: the delay new pool work (fs, dns.lookup, crypto) suffers now, seconds.',
    'gauge', 'max', () => {
      const ns = read().saturationNs;
      return ns === undefined ? [] : [{ labels, value: ns / 1e9 }];
    });

  if (sampler.poolThreads) {
    const fromThreads = (pick: (t: NonNullable<UvSample['poolThreads']>) => number) => () => {
      const threads = read().poolThreads;
      return threads ? [{ labels, value: pick(threads) }] : [];
    };
    add('threadpool_thread_cpu_seconds_total',
      'Time the pool threads spent on a CPU running any work (fs, dns.lookup, zlib, node:crypto, addons, uvscope), ' +
        'summed over the threads, each since the exporter first saw it, seconds.',
      'counter', 'sum', fromThreads((t) => t.cpuNs / 1e9));
    add('threadpool_thread_run_queue_wait_seconds_total',
      'Time the pool threads were runnable but waiting for a CPU (oversubscription), summed over the threads, ' +
        'each since the exporter first saw it, seconds.',
      'counter', 'sum', fromThreads((t) => t.runQueueWaitNs / 1e9));
    add('threadpool_threads_observed',
      'Pool threads found and measured by the thread counters, threads (rate of a counter divided by this is a ratio per thread).',
      'gauge', 'sum', fromThreads((t) => t.threads));
  }

  const requestMonitor = poolRequests ? monitorPoolRequestsLive() : undefined;
  if (requestMonitor) {
    // uvscope's own jobs are in threadpool_jobs_total already.
    const nodeKinds = () => [...requestMonitor.kindCounts()].filter(([kind]) => !kind.startsWith('uvscope.'));
    add('threadpool_requests_total',
      "Node's own thread pool requests settled (fs, dns.lookup, node:crypto, zlib), by kind and outcome (completed, failed).",
      'counter', 'sum', () =>
        nodeKinds().flatMap(([kind, counts]) =>
          (['completed', 'failed'] as const).map((outcome) => ({ labels: { kind, outcome, ...labels }, value: counts[outcome] })),
        ));
    add('threadpool_request_seconds',
      "Latency of Node's own thread pool requests, submission to callback (queue wait, run, return to the loop), seconds, by kind.",
      'histogram', 'sum', (name) =>
        nodeKinds().flatMap(([kind, counts]) => histogramValues(name, counts.latency, buckets.threadpool, { kind, ...labels })));
    add('threadpool_requests_in_flight', "Node's own thread pool requests submitted and not yet settled.", 'gauge', 'sum',
      () => [{ labels, value: requestMonitor.stats().inFlight.now }]);
  }

  const names = metrics.map((metric) => metric.name);
  try {
    for (const name of names) {
      if (!promClient.validateMetricName(name)) {
        throw invalidArgValue('options.prefix', `gives an invalid Prometheus metric name (${name})`, prefix);
      }
      if (register.getSingleMetric(name) !== undefined) {
        throw new Error(`A metric with the name ${name} has already been registered.`);
      }
    }
    for (const metric of metrics) register.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  } catch (error) {
    sampler.close();
    requestMonitor?.stop();
    throw error;
  }
  sampler.start();

  return {
    names,
    observer: sampler.observer,
    stallWatchdog: sampler.stallWatchdog,
    measuredPoolSize: sampler.measuredPoolSize,
    stop(): void {
      if (sampler.closed) return;
      // By the names registered under: OpenMetrics output renames counters in place.
      metrics.forEach((metric, i) => {
        if (register.getSingleMetric(names[i]) === (metric as unknown)) register.removeSingleMetric(names[i]);
      });
      sampler.close();
      requestMonitor?.stop();
    },
  };
}
