/**
 * `uvscope/prometheus`: the event loop and thread pool metrics of uvscope on a prom-client
 * `Registry`, read from uvscope's native snapshots at scrape time (nothing is recorded per event
 * in JavaScript).
 *
 * prom-client is an optional peer dependency: `require('uvscope')` never loads it, and requiring
 * `uvscope/prometheus` without it installed throws an Error that says so.
 *
 * The native histograms report summaries (count, min, max, mean, p50, p90, p99, p999), not
 * bucket counts, so the distributions are exported as Prometheus **summaries**: `quantile`
 * labels 0 (the exact minimum), 0.5, 0.9, 0.99, 0.999 and 1 (the exact maximum), plus `_sum` and
 * `_count`. `_sum` and `_count` are cumulative since the collector started; the quantiles cover
 * the source's current window (since the observer's `start()`/`reset()`, since the pool's
 * creation/`resetStats()`), which the collector never resets.
 * @module
 */
import type { Registry, RegistryContentType } from 'prom-client';

import { requirePeer, UvSampler, validateSamplerOptions } from './exporter-sampler';
import type { DistributionSample, LoopSample } from './exporter-sampler';
import { invalidArgType, invalidArgValue, validateObject } from './errors';
import type { HistogramSummary } from './histogram';
import { LoopObserver } from './loop-observer';
import type { StallWatchdog, StallWatchdogOptions } from './loop/stall-watchdog';
import { measureSize, monitorSaturation, OUTCOMES, ThreadPool, threadpool } from './threadpool';

// Loaded here, not by the core: `require('uvscope')` never needs it.
const promClient = requirePeer<typeof import('prom-client')>('prom-client', 'uvscope/prometheus');

/** Options of {@link collectDefaultUvMetrics}. */
export interface UvPrometheusOptions {
  /** The registry to register the metrics on (either content type). Default: prom-client's global `register`. */
  register?: Registry<RegistryContentType>;
  /** Prepended to every metric name. Default `'uvscope_'`. */
  prefix?: string;
  /**
   * Labels added to every sample (`{ worker: '3' }`). Names `quantile`, `kernel`, `outcome` and
   * `state` are taken. With prom-client's cluster `AggregatorRegistry`, give each worker its own
   * label value: aggregation sums samples with equal labels, which is meaningless for quantiles
   * and utilization.
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
}

/** What {@link collectDefaultUvMetrics} returns. */
export interface UvPrometheusCollector {
  /** Names of the metrics registered, prefix included. */
  readonly names: readonly string[];
  /** The loop observer read at each scrape (the dedicated one, or the one given). */
  readonly observer: LoopObserver;
  /** The stall watchdog read at each scrape (the dedicated one, or the one given); undefined with `stallWatchdog: false`. */
  readonly stallWatchdog: StallWatchdog | undefined;
  /**
   * Resolves once the pool size was measured, with the number of threads, or undefined when
   * `measurePoolSize` is false or the measurement failed. Until then the measured-size gauge
   * has no sample.
   */
  readonly measuredPoolSize: Promise<number | undefined>;
  /**
   * Removes the metrics from the registry, stops the saturation probes and closes the dedicated
   * observer and stall watchdog (not ones passed in). Idempotent.
   */
  stop(): void;
}

type PromType = 'counter' | 'gauge' | 'summary';
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

const QUANTILES: readonly [number, keyof HistogramSummary][] = [
  [0, 'min'],
  [0.5, 'p50'],
  [0.9, 'p90'],
  [0.99, 'p99'],
  [0.999, 'p999'],
  [1, 'max'],
];

/** A summary's samples in seconds; no quantile samples while the source's window is empty. */
function summaryValues(name: string, sample: DistributionSample, labels: Labels): PromValue[] {
  const values: PromValue[] = [];
  if (sample.window.count > 0) {
    for (const [quantile, field] of QUANTILES) {
      values.push({ labels: { ...labels, quantile }, value: sample.window[field] / 1e9 });
    }
  }
  values.push({ metricName: `${name}_sum`, labels, value: sample.sumNs / 1e9 });
  values.push({ metricName: `${name}_count`, labels, value: sample.count });
  return values;
}

const RESERVED_LABELS = new Set(['quantile', 'kernel', 'outcome', 'state', 'le']);
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
 * - summaries `uvscope_eventloop_iteration_seconds`, `_poll_wait_seconds`, `_poll_work_seconds`,
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
 * - summaries `uvscope_threadpool_job_queue_wait_seconds{kernel}`, `_job_run_seconds{kernel}`,
 *   `_job_return_delay_seconds{kernel}` (only jobs that ran: a job cancelled while queued counts
 *   in `jobs_total` only)
 * - gauges `uvscope_threadpool_jobs_in_flight`, `_jobs_queued`, `_jobs_running`,
 *   `uvscope_threadpool_size_configured` (threads, from UV_THREADPOOL_SIZE),
 *   `uvscope_threadpool_size_measured` (threads; no sample until measured),
 *   `uvscope_threadpool_saturation_seconds` (queue wait of the latest probe; no sample before it)
 *
 * Summary quantiles 0 and 1 are the exact minimum and maximum; the others are within 1.6% of
 * the true value. They cover the source's current window (the collector never resets it), while
 * `_sum` and `_count` are cumulative since the collector started.
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
  const samplerOptions = validateSamplerOptions(options ?? {});

  const sampler = new UvSampler(samplerOptions);
  const read = () => sampler.read();
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
    ['eventloop_iteration_seconds', 'iteration', 'Duration of one event loop iteration, prepare to prepare'],
    ['eventloop_poll_wait_seconds', 'pollWait', 'Time each poll phase was blocked waiting for I/O'],
    ['eventloop_poll_work_seconds', 'pollWork', 'Rest of each poll phase: running I/O callbacks'],
    ['eventloop_outside_poll_seconds', 'outsidePoll',
      'Time from check to the next prepare: setImmediate, close callbacks, timers, pending callbacks'],
  ];
  for (const [suffix, field, help] of loopSummaries) {
    add(suffix, `${help}, seconds. Quantiles over the observer's window; _sum and _count cumulative.`, 'summary', 'sum',
      fromLoop((l, name) => summaryValues(name, l[field], labels)));
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
    ['threadpool_job_queue_wait_seconds', 'queueWait', 'Time a job waited from submission until a pool thread started it'],
    ['threadpool_job_run_seconds', 'run', 'Time a job ran on its pool thread'],
    ['threadpool_job_return_delay_seconds', 'returnDelay',
      'Time from a job finishing on its pool thread until the loop settled its promise'],
  ];
  for (const [suffix, field, help] of poolSummaries) {
    add(suffix, `${help}, seconds, by kernel. Quantiles over the pool's statistics window; _sum and _count cumulative.`,
      'summary', 'sum', (name) => read().kernels.flatMap((k) => summaryValues(name, k[field], { kernel: k.kernel, ...labels })));
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
    },
  };
}
