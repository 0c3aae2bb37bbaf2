/**
 * `uvscope/prometheus` against the real prom-client: a Registry scraped after real loop
 * activity and real pool jobs (the text is parsed and checked), OpenMetrics output, a real stall,
 * Node's own pool requests, histogram buckets checked one by one against every job's own run time
 * from the job channel, cluster aggregation, and option validation. The pool threads' CPU and
 * run-queue counters: against a known spin load in this process, and in child processes
 * (fixtures/pool-threads-app.js) for what is process-wide: threads found late, the default in a
 * worker thread, a platform without per-thread figures (both exporters). The sliding quantile
 * window it shares with the OpenTelemetry exporter is in sliding-quantiles.test.ts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

import { AggregatorRegistry, Registry } from 'prom-client';
import type { RegistryContentType } from 'prom-client';

import { LoopObserver, poolSize, StallWatchdog, ThreadPool } from '../../src';
import type { StallEvent } from '../../src';
import { collectDefaultUvMetrics, DEFAULT_JOB_BUCKETS, DEFAULT_LOOP_BUCKETS } from '../../src/prometheus';
import { SLOWDOWN } from '../helpers';
import {
  activity, blockLoop, expectBucketCounts, immediate, JOB_BOUNDS_S, knownStall, MISSING_FILE, sleep, spinLoad, STALL_BLOCK_MS, STALL_THRESHOLD_MS,
  timedJobs, until,
} from './activity';

// --- helpers -------------------------------------------------------------------------------

interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  text: string;
  samples: PromSample[];
  types: Map<string, string>;
  helps: Map<string, string>;
}

/** Parses the text exposition format (the subset prom-client writes). */
function parse(text: string): Scrape {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line === '# EOF') continue;
    let m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      types.set(m[1], m[2]);
      continue;
    }
    m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      helps.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { text, samples, types, helps };
}

async function scrape(register: Registry<RegistryContentType>): Promise<Scrape> {
  return parse(await register.metrics());
}

function find(s: Scrape, name: string, labels: Record<string, string> = {}): PromSample[] {
  return s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
}

/** The one sample of `name` with `labels`; throws unless there is exactly one. */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = find(s, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0].value;
}

/** 0 when there is no such sample yet (a kernel not used so far). */
function valueOr0(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return find(s, name, labels).length === 0 ? 0 : value(s, name, labels);
}

/**
 * Checks a histogram's samples: one `le` bucket per bound and +Inf, cumulative, +Inf equal to
 * `_count`. Returns the bucket counts by bound (seconds; Infinity last).
 */
function expectHistogram(s: Scrape, name: string, labels: Record<string, string> = {}, bounds = DEFAULT_LOOP_BUCKETS): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const le of [...bounds.map(String), '+Inf']) buckets.set(le === '+Inf' ? Infinity : Number(le), value(s, `${name}_bucket`, { ...labels, le }));
  expect(find(s, `${name}_bucket`, labels)).toHaveLength(bounds.length + 1);
  const counts = [...buckets.values()];
  for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]);
  const count = value(s, `${name}_count`, labels);
  expect(count).toBeGreaterThan(0);
  expect(buckets.get(Infinity)).toBe(count);
  expect(value(s, `${name}_sum`, labels)).toBeGreaterThanOrEqual(0);
  return buckets;
}

// --- Prometheus ----------------------------------------------------------------------------

const PROM_TYPES: Record<string, string> = {
  eventloop_iterations_total: 'counter',
  eventloop_long_iterations_total: 'counter',
  eventloop_time_seconds_total: 'counter',
  eventloop_utilization_ratio: 'gauge',
  eventloop_iteration_seconds: 'histogram',
  eventloop_poll_wait_seconds: 'histogram',
  eventloop_poll_work_seconds: 'histogram',
  eventloop_outside_poll_seconds: 'histogram',
  eventloop_stalls_total: 'counter',
  eventloop_stall_seconds_total: 'counter',
  eventloop_stall_longest_seconds: 'gauge',
  threadpool_jobs_total: 'counter',
  threadpool_processed_bytes_total: 'counter',
  threadpool_job_queue_wait_seconds: 'histogram',
  threadpool_job_run_seconds: 'histogram',
  threadpool_job_return_delay_seconds: 'histogram',
  threadpool_jobs_in_flight: 'gauge',
  threadpool_jobs_queued: 'gauge',
  threadpool_jobs_running: 'gauge',
  threadpool_size_configured: 'gauge',
  threadpool_size_measured: 'gauge',
  threadpool_saturation_seconds: 'gauge',
  threadpool_thread_cpu_seconds_total: 'counter',
  threadpool_thread_run_queue_wait_seconds_total: 'counter',
  threadpool_threads_observed: 'gauge',
};

describe('uvscope/prometheus', () => {
  test('every metric, with sane values, after real loop activity and real jobs', async () => {
    const register = new Registry();
    const collector = collectDefaultUvMetrics({ register, labels: { app: 'test' }, saturationIntervalMs: 10 });
    try {
      expect([...collector.names].sort()).toEqual(Object.keys(PROM_TYPES).map((s) => `uvscope_${s}`).sort());
      expect(collector.observer.running).toBe(true);
      // The measured size has no sample until measured (this process's pool is quiet: exact).
      expect(await collector.measuredPoolSize).toBe(poolSize().size);

      const beforeScrape = process.hrtime.bigint();
      const before = await scrape(register);
      const t0 = process.hrtime.bigint();
      await activity();
      await sleep(15); // at least one saturation probe
      const t1 = process.hrtime.bigint();
      const after = await scrape(register);
      const afterScrape = process.hrtime.bigint();

      for (const [suffix, type] of Object.entries(PROM_TYPES)) {
        expect([suffix, after.types.get(`uvscope_${suffix}`)]).toEqual([suffix, type]);
        expect(after.helps.get(`uvscope_${suffix}`)).toBeTruthy();
        expect([suffix, find(after, `uvscope_${suffix}`).length + find(after, `uvscope_${suffix}_count`).length]).not.toEqual([suffix, 0]);
      }
      // Every sample carries the collector's labels, and is a number.
      for (const sample of after.samples) {
        expect(sample.labels.app).toBe('test');
        expect(Number.isFinite(sample.value)).toBe(true);
      }

      // The loop: at least the 200 immediates' turns, time adding up to the wall time.
      const turns = value(after, 'uvscope_eventloop_iterations_total') - value(before, 'uvscope_eventloop_iterations_total');
      expect(turns).toBeGreaterThanOrEqual(200);
      expect(value(after, 'uvscope_eventloop_iteration_seconds_count')).toBe(value(after, 'uvscope_eventloop_iterations_total'));
      const busy = (s: Scrape) => value(s, 'uvscope_eventloop_time_seconds_total', { state: 'active' });
      const idle = (s: Scrape) => value(s, 'uvscope_eventloop_time_seconds_total', { state: 'idle' });
      const observed = busy(after) + idle(after) - busy(before) - idle(before);
      // At least the time between the scrapes, at most the time from the start of the first to
      // the end of the second (scrapes can be slow on a loaded machine), plus the part of the
      // iteration that was running when the first one began.
      const between = Number(t1 - t0) / 1e9;
      const around = Number(afterScrape - beforeScrape) / 1e9;
      expect(observed).toBeGreaterThan(between * 0.8);
      expect(observed).toBeLessThan(around * 1.2 + 0.02 * SLOWDOWN);
      const utilization = value(after, 'uvscope_eventloop_utilization_ratio');
      expect(utilization).toBeGreaterThan(0);
      expect(utilization).toBeLessThanOrEqual(1);
      for (const name of ['iteration', 'poll_wait', 'poll_work', 'outside_poll']) {
        const buckets = expectHistogram(after, `uvscope_eventloop_${name}_seconds`);
        expect(buckets.get(1)! * 2).toBeGreaterThan(buckets.get(Infinity)!); // a median turn is not a second long
      }

      // The jobs: one of each outcome more than before.
      const jobs = (s: Scrape, kernel: string, outcome: string) => valueOr0(s, 'uvscope_threadpool_jobs_total', { kernel, outcome });
      expect(jobs(after, 'hash', 'completed') - jobs(before, 'hash', 'completed')).toBe(1);
      expect(jobs(after, 'hashFile', 'failed') - jobs(before, 'hashFile', 'failed')).toBe(1);
      expect(jobs(after, 'sleep', 'cancelled') - jobs(before, 'sleep', 'cancelled')).toBe(1);
      expect(jobs(after, 'hash', 'failed')).toBe(0);
      const bytes = (s: Scrape) => valueOr0(s, 'uvscope_threadpool_processed_bytes_total', { kernel: 'hash' });
      expect(bytes(after) - bytes(before)).toBe(65536);
      for (const name of ['queue_wait', 'run', 'return_delay']) {
        expectHistogram(after, `uvscope_threadpool_job_${name}_seconds`, { kernel: 'hash' }, DEFAULT_JOB_BUCKETS);
      }
      // The aborted sleep ran for about 20 ms before it stopped.
      const sleepRun = expectHistogram(after, 'uvscope_threadpool_job_run_seconds', { kernel: 'sleep' }, DEFAULT_JOB_BUCKETS);
      expect(sleepRun.get(0.005)).toBe(0);
      expect(sleepRun.get(2.5)).toBe(1);
      // No summaries unless asked for.
      expect(after.text).not.toContain('quantile=');

      expect(value(after, 'uvscope_threadpool_jobs_in_flight')).toBe(0);
      expect(value(after, 'uvscope_threadpool_jobs_queued')).toBe(0);
      expect(value(after, 'uvscope_threadpool_jobs_running')).toBe(0);
      expect(value(after, 'uvscope_threadpool_size_configured')).toBe(poolSize().size);
      expect(value(after, 'uvscope_threadpool_size_measured')).toBe(poolSize().size);
      const saturation = value(after, 'uvscope_threadpool_saturation_seconds');
      expect(saturation).toBeGreaterThanOrEqual(0);
      expect(saturation).toBeLessThan(1);

      // prom-client's own API works on these metrics.
      const json = await register.getMetricsAsJSON();
      expect(json.map((m) => m.name).sort()).toEqual([...collector.names].sort());
      expect(() => register.resetMetrics()).not.toThrow();
      expect(await register.getSingleMetricAsString('uvscope_threadpool_size_configured')).toContain(
        `uvscope_threadpool_size_configured{app="test"} ${poolSize().size}`,
      );
    } finally {
      collector.stop();
    }
    expect(await register.metrics()).not.toContain('uvscope_');
    expect(collector.observer.closed).toBe(true);
    collector.stop(); // idempotent
  });

  test('a given observer and pool: counters stay monotonic across reset(), OpenMetrics output', async () => {
    const register = new Registry<RegistryContentType>();
    const observer = new LoopObserver({ blockThresholdMs: 20 }).start();
    const pool = new ThreadPool();
    const collector = collectDefaultUvMetrics({
      register,
      prefix: 'app_uv_',
      observer,
      pool,
      saturationIntervalMs: false,
      measurePoolSize: false,
    });
    try {
      expect(await collector.measuredPoolSize).toBeUndefined();
      setImmediate(() => blockLoop(30));
      await sleep(5);
      await Promise.all([pool.hash('sha256', 'a'), pool.hash('sha256', 'b'), pool.hash('sha256', 'c')]);
      await immediate();
      const first = await scrape(register);
      expect(first.helps.get('app_uv_eventloop_long_iterations_total')).toContain('20 ms');
      expect(value(first, 'app_uv_eventloop_long_iterations_total')).toBeGreaterThanOrEqual(1);
      expect(value(first, 'app_uv_threadpool_jobs_total', { kernel: 'hash', outcome: 'completed' })).toBe(3);
      expect(value(first, 'app_uv_threadpool_job_run_seconds_count', { kernel: 'hash' })).toBe(3);
      // Off or not measured: the metric is there, without a sample.
      expect(first.types.get('app_uv_threadpool_size_measured')).toBe('gauge');
      expect(find(first, 'app_uv_threadpool_size_measured')).toHaveLength(0);
      expect(find(first, 'app_uv_threadpool_saturation_seconds')).toHaveLength(0);

      // The owner resets both: nothing counted before is lost.
      observer.reset();
      pool.resetStats();
      await pool.hash('sha256', 'd');
      await pool.hash('sha256', 'e');
      for (let i = 0; i < 10; i++) await immediate();
      const second = await scrape(register);
      expect(value(second, 'app_uv_threadpool_jobs_total', { kernel: 'hash', outcome: 'completed' })).toBe(5);
      expect(value(second, 'app_uv_threadpool_job_run_seconds_count', { kernel: 'hash' })).toBe(5);
      expect(value(second, 'app_uv_threadpool_job_run_seconds_sum', { kernel: 'hash' })).toBeGreaterThan(
        value(first, 'app_uv_threadpool_job_run_seconds_sum', { kernel: 'hash' }),
      );
      const long = (s: Scrape) => value(s, 'app_uv_eventloop_long_iterations_total');
      expect(long(second)).toBeGreaterThanOrEqual(long(first));
      expect(value(second, 'app_uv_eventloop_iterations_total')).toBeGreaterThan(value(first, 'app_uv_eventloop_iterations_total'));
      // The quantiles cover the new window only: 2 jobs, while _count says 5.
      expect(pool.stats().kernels.hash?.run.count).toBe(2);

      // A second collector under the same names is refused, and registers nothing.
      expect(() => collectDefaultUvMetrics({ register, prefix: 'app_uv_', observer, pool, measurePoolSize: false })).toThrow(
        /already been registered/,
      );
      expect((await register.getMetricsAsJSON()).length).toBe(collector.names.length);

      register.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      const open = await register.metrics();
      expect(open.endsWith('# EOF\n')).toBe(true);
      expect(open).toContain('# TYPE app_uv_threadpool_jobs counter');
      expect(open).toMatch(/^app_uv_threadpool_jobs_total\{kernel="hash",outcome="completed"\} 5$/m);
      expect(open).toContain('# TYPE app_uv_eventloop_iteration_seconds histogram');
      expect(open).toMatch(/^app_uv_eventloop_iteration_seconds_bucket\{le="0.01"\} \d+$/m);
      // The histogram's buckets stayed monotonic across the reset too.
      const run = (sc: Scrape, le: string) => value(sc, 'app_uv_threadpool_job_run_seconds_bucket', { kernel: 'hash', le });
      expect(run(second, '+Inf')).toBe(5);
      for (const le of DEFAULT_JOB_BUCKETS.map(String)) expect(run(second, le)).toBeGreaterThanOrEqual(run(first, le));
    } finally {
      collector.stop();
    }
    expect(await register.getMetricsAsJSON()).toEqual([]);
    // A given observer is the caller's: still running.
    expect(observer.running).toBe(true);
    observer.close();
  });

  test('a real stall: counted once, its duration within the known bounds, the longest as a gauge', async () => {
    const register = new Registry();
    const collector = collectDefaultUvMetrics({
      register,
      stallWatchdog: { thresholdMs: STALL_THRESHOLD_MS },
      saturationIntervalMs: false,
      measurePoolSize: false,
    });
    const watchdog = collector.stallWatchdog!;
    try {
      expect(watchdog.running).toBe(true);
      const events: StallEvent[] = [];
      watchdog.on('stall', (event) => events.push(event));
      const before = await scrape(register);
      expect(before.helps.get('uvscope_eventloop_stalls_total')).toContain(`${STALL_THRESHOLD_MS} ms`);
      const { event, boundNs } = await knownStall(watchdog);
      const after = await scrape(register);

      // Exactly the one stall, counted, with the duration the event gives.
      expect(events).toEqual([event]);
      const diff = (name: string) => value(after, name) - value(before, name);
      expect(diff('uvscope_eventloop_stalls_total')).toBe(1);
      expect(event.durationNs).toBeGreaterThanOrEqual(STALL_BLOCK_MS * 1e6);
      expect(event.durationNs).toBeLessThanOrEqual(boundNs);
      expect(diff('uvscope_eventloop_stall_seconds_total')).toBeCloseTo(event.durationNs / 1e9, 6);
      expect(value(after, 'uvscope_eventloop_stall_longest_seconds')).toBeCloseTo(event.durationNs / 1e9, 6);
      expect(value(before, 'uvscope_eventloop_stall_longest_seconds')).toBe(0);
    } finally {
      collector.stop();
    }
    // The dedicated watchdog is the collector's: closed with it.
    expect(watchdog.closed).toBe(true);
  });

  test('stallWatchdog: false registers no stall metrics; a given watchdog is read, not closed', async () => {
    const common = { measurePoolSize: false, saturationIntervalMs: false } as const;
    const register = new Registry();
    const without = collectDefaultUvMetrics({ ...common, register, stallWatchdog: false });
    expect(without.stallWatchdog).toBeUndefined();
    expect(without.names.filter((n) => n.includes('stall'))).toEqual([]);
    without.stop();

    const watchdog = new StallWatchdog({ thresholdMs: 100, stacks: false }).start();
    const given = collectDefaultUvMetrics({ ...common, register, stallWatchdog: watchdog });
    try {
      expect(given.stallWatchdog).toBe(watchdog);
      const s = await scrape(register);
      expect(value(s, 'uvscope_eventloop_stalls_total')).toBe(watchdog.stats().stalls);
      expect(s.helps.get('uvscope_eventloop_stalls_total')).toContain('longer than 100 ms');
    } finally {
      given.stop();
    }
    expect(watchdog.running).toBe(true);
    watchdog.close();
  });

  test('option validation', () => {
    const register = new Registry();
    const common = { register, measurePoolSize: false, saturationIntervalMs: false } as const;
    expect(() => collectDefaultUvMetrics({ ...common, prefix: '1bad' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => collectDefaultUvMetrics({ ...common, labels: { quantile: 'x' } })).toThrow(/sets itself/);
    expect(() => collectDefaultUvMetrics({ ...common, labels: { 'bad-name': 'x' } })).toThrow(/label name/);
    expect(() => collectDefaultUvMetrics({ ...common, observer: {} as LoopObserver })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => collectDefaultUvMetrics({ ...common, saturationIntervalMs: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => collectDefaultUvMetrics({ register: {} as Registry })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // The watchdog's options are validated by StallWatchdog, named as options of the exporter.
    expect(() => collectDefaultUvMetrics({ ...common, stallWatchdog: { thresholdMs: 5 } })).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"options.stallWatchdog.thresholdMs"') }),
    );
    expect(() => collectDefaultUvMetrics({ ...common, stallWatchdog: { file: '' } })).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('"options.stallWatchdog.file"') }),
    );
    expect(() => collectDefaultUvMetrics({ ...common, stallWatchdog: true as never })).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('"options.stallWatchdog"') }),
    );
    const closed = new StallWatchdog();
    closed.close();
    expect(() => collectDefaultUvMetrics({ ...common, stallWatchdog: closed })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining('must not be closed') }),
    );
    expect(register.getMetricsAsArray()).toHaveLength(0);
  });

  test('buckets against every job\'s own run time (the job channel): exact at native edges, at most 1/64 of a bound off elsewhere', async () => {
    const register = new Registry();
    const pool = new ThreadPool();
    const collector = collectDefaultUvMetrics({
      register, pool, buckets: { threadpool: JOB_BOUNDS_S }, quantiles: true, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false,
    });
    try {
      const runs = await timedJobs(pool);
      const s = await scrape(register);
      const buckets = expectHistogram(s, 'uvscope_threadpool_job_run_seconds', { kernel: 'hash' }, JOB_BOUNDS_S);
      expect(buckets.get(Infinity)).toBe(runs.length);
      expectBucketCounts(runs, JOB_BOUNDS_S, (bound) => buckets.get(bound)!);
      expect(value(s, 'uvscope_threadpool_job_run_seconds_sum', { kernel: 'hash' })).toBeCloseTo(runs.reduce((a, b) => a + b, 0) / 1e9, 9);
      // The window summary (quantiles: true): each quantile within 1/64 of the exact one (same rank).
      const sorted = [...runs].sort((a, b) => a - b);
      for (const q of [0.5, 0.9, 0.99, 0.999]) {
        const exact = sorted[Math.min(sorted.length, Math.max(1, Math.round(q * sorted.length))) - 1];
        const reported = value(s, 'uvscope_threadpool_job_run_window_seconds', { kernel: 'hash', quantile: String(q) }) * 1e9;
        expect({ q, exact, off: Math.abs(reported - exact) <= exact / 64 + 1 }).toEqual({ q, exact, off: true });
      }
      expect(s.types.get('uvscope_eventloop_iteration_window_seconds')).toBe('summary');
    } finally {
      collector.stop();
    }
  });

  test('a closed observer leaves its series out; the scrape still works', async () => {
    const register = new Registry();
    const observer = new LoopObserver().start();
    const collector = collectDefaultUvMetrics({ register, observer, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false });
    try {
      await immediate();
      expect(find(await scrape(register), 'uvscope_eventloop_iteration_seconds_count')).toHaveLength(1);
      observer.close();
      const s = await scrape(register);
      expect(s.samples.filter((x) => x.name.startsWith('uvscope_eventloop_'))).toEqual([]);
      expect(value(s, 'uvscope_threadpool_size_configured')).toBe(poolSize().size);
    } finally {
      collector.stop();
    }
  });

  test("poolRequests: Node's own requests by kind and outcome, their latency as a histogram against each call's own time", async () => {
    const register = new Registry();
    const collector = collectDefaultUvMetrics({ register, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false, poolRequests: true });
    try {
      // 4 pbkdf2 (timed around each call: the request's latency is within it), 2 fs.stat, 1 failing.
      const timesNs: number[] = [];
      await Promise.all(
        Array.from({ length: 4 }, () => {
          const started = process.hrtime.bigint();
          return new Promise<void>((resolve) =>
            require('node:crypto').pbkdf2('pw', 'salt', 2000, 32, 'sha256', () => {
              timesNs.push(Number(process.hrtime.bigint() - started));
              resolve();
            }),
          );
        }),
      );
      for (const file of [__filename, __filename, MISSING_FILE]) await new Promise((resolve) => fs.stat(file, resolve));
      const s = await scrape(register);
      expect(value(s, 'uvscope_threadpool_requests_total', { kind: 'crypto.pbkdf2', outcome: 'completed' })).toBe(4);
      expect(value(s, 'uvscope_threadpool_requests_total', { kind: 'crypto.pbkdf2', outcome: 'failed' })).toBe(0);
      expect(value(s, 'uvscope_threadpool_requests_total', { kind: 'fs.stat', outcome: 'completed' })).toBe(2);
      expect(value(s, 'uvscope_threadpool_requests_total', { kind: 'fs.stat', outcome: 'failed' })).toBe(1);
      expect(value(s, 'uvscope_threadpool_requests_in_flight')).toBe(0);
      const buckets = expectHistogram(s, 'uvscope_threadpool_request_seconds', { kind: 'crypto.pbkdf2' }, DEFAULT_JOB_BUCKETS);
      expect(buckets.get(Infinity)).toBe(4);
      // Every request lies at or below the bucket of the longest call time (counts are whole buckets, 1.1% wide).
      const longestS = Math.max(...timesNs) / 1e9;
      const above = DEFAULT_JOB_BUCKETS.find((b) => b >= longestS * 1.011)!;
      expect(buckets.get(above)).toBe(4);
      expect(value(s, 'uvscope_threadpool_request_seconds_sum', { kind: 'crypto.pbkdf2' })).toBeLessThanOrEqual(timesNs.reduce((a, b) => a + b, 0) / 1e9);
      // uvscope's own jobs stay in threadpool_jobs_total only.
      expect(s.samples.filter((x) => x.name === 'uvscope_threadpool_requests_total' && x.labels.kind.startsWith('uvscope.'))).toEqual([]);
    } finally {
      collector.stop();
    }
    expect(() => collectDefaultUvMetrics({ register: new Registry(), poolRequests: 'yes' as never })).toThrow(/options\.poolRequests/);
  });

  test('buckets and quantiles options: checked, naming the option', () => {
    const register = new Registry();
    const common = { register, measurePoolSize: false, saturationIntervalMs: false, stallWatchdog: false } as const;
    const fails = (options: Record<string, unknown>, name: string, code: string) =>
      expect(() => collectDefaultUvMetrics({ ...common, ...options })).toThrow(
        expect.objectContaining({ name, code, message: expect.stringContaining(Object.keys(options)[0]) }),
      );
    fails({ buckets: [] }, 'RangeError', 'ERR_OUT_OF_RANGE');
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [0.1, 0.05] })).toThrow(/"options.buckets\[1\]"/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [0.1, 0.1] })).toThrow(/strictly increasing/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [-1] })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [0, 1] })).toThrow(/"options.buckets\[0\]"/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [1, Infinity] })).toThrow(/"options.buckets\[1\]"/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: [1, NaN] })).toThrow(/"options.buckets\[1\]"/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: ['1'] as never })).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"options.buckets[0]"') }),
    );
    expect(() => collectDefaultUvMetrics({ ...common, buckets: 1 as never })).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => collectDefaultUvMetrics({ ...common, buckets: { threadpool: [] } })).toThrow(/"options.buckets.threadpool.length"/);
    expect(() => collectDefaultUvMetrics({ ...common, buckets: { loops: [1] } as never })).toThrow(/options.buckets.loops/);
    expect(() => collectDefaultUvMetrics({ ...common, quantiles: 'yes' as never })).toThrow(expect.objectContaining({ name: 'TypeError' }));
    expect(() => collectDefaultUvMetrics({ ...common, quantiles: { maxAgeSeconds: 0 } })).toThrow(/"options.quantiles.maxAgeSeconds"/);
    expect(() => collectDefaultUvMetrics({ ...common, quantiles: { ageBuckets: 1.5 } })).toThrow(/"options.quantiles.ageBuckets"/);
    expect(register.getMetricsAsArray()).toHaveLength(0);
    // Custom bounds are what the text says.
    const collector = collectDefaultUvMetrics({ ...common, buckets: [0.001, 1] });
    try {
      const names = register.getMetricsAsArray().map((m) => m.name);
      expect(names).toContain('uvscope_eventloop_iteration_seconds');
      expect(names.filter((n) => n.includes('window'))).toEqual([]);
    } finally {
      collector.stop();
    }
  });

  test('prom-client cluster aggregation: two workers\' histograms sum bucket by bucket', async () => {
    // Two "workers" (registries with a collector each, on pools of their own), aggregated as
    // AggregatorRegistry does with what each worker's registry returns.
    const common = { stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false } as const;
    const workers = [new ThreadPool(), new ThreadPool()].map((pool) => {
      const register = new Registry();
      return { pool, register, collector: collectDefaultUvMetrics({ ...common, register, pool, buckets: { threadpool: JOB_BOUNDS_S } }) };
    });
    try {
      for (let i = 0; i < 3; i++) await workers[0].pool.hash('sha256', Buffer.alloc(1024 << (i * 4)));
      for (let i = 0; i < 5; i++) await workers[1].pool.hash('sha256', Buffer.alloc(1024 << (i * 2)));
      const each = await Promise.all(workers.map(async (w) => ({ json: await w.register.getMetricsAsJSON(), text: await scrape(w.register) })));
      const aggregated = parse(await AggregatorRegistry.aggregate(each.map((e) => e.json)).metrics());
      const bucket = (sc: Scrape, le: string) => value(sc, 'uvscope_threadpool_job_run_seconds_bucket', { kernel: 'hash', le });
      expect(bucket(aggregated, '+Inf')).toBe(8);
      for (const le of [...JOB_BOUNDS_S.map(String), '+Inf']) {
        expect([le, bucket(aggregated, le)]).toEqual([le, bucket(each[0].text, le) + bucket(each[1].text, le)]);
      }
      expect(value(aggregated, 'uvscope_threadpool_jobs_total', { kernel: 'hash', outcome: 'completed' })).toBe(8);
    } finally {
      for (const w of workers) w.collector.stop();
    }
  });

  test('pool threads: CPU plus run-queue time grows by the spin load injected, every scrape at least the previous, summed over the pool', async () => {
    const register = new Registry();
    const collector = collectDefaultUvMetrics({ register, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false });
    const size = poolSize().size;
    const threads = (s: Scrape) => valueOr0(s, 'uvscope_threadpool_threads_observed');
    const cpu = (s: Scrape) => value(s, 'uvscope_threadpool_thread_cpu_seconds_total');
    const wait = (s: Scrape) => value(s, 'uvscope_threadpool_thread_run_queue_wait_seconds_total');
    try {
      // Discovery (once per thread: it may have ended in an earlier test) finds every thread.
      const first = await until(() => scrape(register), (s) => threads(s) === size);
      expect(threads(first)).toBe(size);
      expect(first.types.get('uvscope_threadpool_thread_cpu_seconds_total')).toBe('counter');
      expect(first.types.get('uvscope_threadpool_thread_run_queue_wait_seconds_total')).toBe('counter');
      expect(first.types.get('uvscope_threadpool_threads_observed')).toBe('gauge');
      expect(first.helps.get('uvscope_threadpool_thread_cpu_seconds_total')).toContain('since the exporter first saw it');

      const t0 = process.hrtime.bigint();
      let loaded = false;
      const load = spinLoad(size).finally(() => (loaded = true));
      const scrapes = [first];
      while (!loaded) {
        scrapes.push(await scrape(register));
        await sleep(15);
      }
      const injected = await load;
      const last = await scrape(register);
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      scrapes.push(last);
      expect(scrapes.length).toBeGreaterThan(3);
      for (let i = 1; i < scrapes.length; i++) {
        expect([i, cpu(scrapes[i]) >= cpu(scrapes[i - 1]), wait(scrapes[i]) >= wait(scrapes[i - 1])]).toEqual([i, true, true]);
        expect(threads(scrapes[i])).toBe(size);
      }
      // A spin's thread is on a CPU or waiting for one for the spin's whole duration: the sum
      // grows by at least the load (a little more: whatever else ran on the pool meanwhile),
      // and by no more than every thread runnable all the time.
      const grown = cpu(last) + wait(last) - cpu(first) - wait(first);
      // A spinning thread is on a CPU or runnable; on a machine loaded as CI's Node matrix is, part
      // of its wall time was seen in neither figure once (0.50 s of 0.72 s on Node 26): at least half.
      expect({ injected, grown, atLeast: grown >= injected * 0.5 }).toEqual({ injected, grown, atLeast: true });
      expect(grown).toBeLessThan(injected * 1.05 + 0.05 * SLOWDOWN);
      expect(grown).toBeLessThanOrEqual(size * wallS);
      expect(cpu(last)).toBeGreaterThan(cpu(first));
    } finally {
      collector.stop();
    }
    const off = collectDefaultUvMetrics({ register, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false, poolThreads: false });
    try {
      expect(off.names.filter((n) => /thread_|threads_/.test(n))).toEqual([]);
      expect((await register.metrics())).not.toContain('threads_observed');
    } finally {
      off.stop();
    }
    expect(() => collectDefaultUvMetrics({ register, poolThreads: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"options.poolThreads"') }),
    );
    expect(register.getMetricsAsArray()).toHaveLength(0);
  });

  describe('pool threads, process-wide (child processes)', () => {
    const APP = path.join(__dirname, 'fixtures', 'pool-threads-app.js');
    const run = promisify(execFile);
    const child = async <T>(mode: string): Promise<T> => {
      const { stdout } = await run(process.execPath, [APP, mode], {
        env: { ...process.env, UV_THREADPOOL_SIZE: '4' },
        timeout: 30_000 * SLOWDOWN,
      });
      return JSON.parse(stdout) as T;
    };

    test('threads found late count from when they were found: no jump from the work they did before (pbkdf2 holding them)', async () => {
      const result = await child<{
        scrapes: { threads: number; cpuS: number; waitS: number }[];
        earlyThreads: number;
        lateThreads: number;
        lateLifetimeS: number;
        pbkdf2Ms: number[];
      }>('late');
      // Two threads found while pbkdf2 held the other two, those two found after.
      expect([result.earlyThreads, result.lateThreads]).toEqual([2, 2]);
      const { scrapes } = result;
      expect(scrapes.some((s) => s.threads === 2)).toBe(true);
      expect(scrapes[scrapes.length - 1].threads).toBe(4);
      for (let i = 1; i < scrapes.length; i++) {
        expect([i, scrapes[i].cpuS >= scrapes[i - 1].cpuS, scrapes[i].waitS >= scrapes[i - 1].waitS, scrapes[i].threads >= scrapes[i - 1].threads])
          .toEqual([i, true, true, true]);
      }
      // The late threads had done the pbkdf2 work when found; counting their whole lives would
      // have added it at once (a rate() spike of work done before the scrape interval).
      expect(result.lateLifetimeS).toBeGreaterThan(0.2);
      const grown = (s: { cpuS: number; waitS: number }) => s.cpuS + s.waitS;
      const total = grown(scrapes[scrapes.length - 1]) - grown(scrapes[0]);
      expect({ total, lateLifetimeS: result.lateLifetimeS, small: total < result.lateLifetimeS / 4 }).toEqual({
        total, lateLifetimeS: result.lateLifetimeS, small: true,
      });
    }, 40_000 * SLOWDOWN);

    test('in a worker thread: off by default (the pool is the process\'s), on when asked, in both exporters', async () => {
      const result = await child<Record<'prometheus' | 'otel', { byDefault: string[]; asked: string[] }>>('worker');
      expect(result.prometheus).toEqual({
        byDefault: [],
        asked: ['uvscope_threadpool_thread_cpu_seconds_total', 'uvscope_threadpool_thread_run_queue_wait_seconds_total', 'uvscope_threadpool_threads_observed'],
      });
      expect(result.otel).toEqual({
        byDefault: [],
        asked: ['uvscope.threadpool.thread.cpu.time', 'uvscope.threadpool.thread.run_queue_wait', 'uvscope.threadpool.threads.observed'],
      });
    }, 40_000 * SLOWDOWN);

    test('discovery never keeps the process alive, and a worker terminated during its discovery ends cleanly', async () => {
      const result = await child<{ workerDiscovering: boolean; discoveryRunningAtExit: boolean }>('left-running');
      // Still looking for the 8 threads UV_THREADPOOL_SIZE now names, yet the process ended by itself.
      expect(result).toEqual({ workerDiscovering: true, discoveryRunningAtExit: true });
    }, 40_000 * SLOWDOWN);

    test('where the platform has no per-thread figures: no pool-thread metric in either exporter, nothing thrown', async () => {
      const result = await child<{ prometheus: string[]; otel: string[]; producer: string[]; producerMetrics: number; monitorCode: string }>('unsupported');
      expect(result).toEqual({ prometheus: [], otel: [], producer: [], producerMetrics: expect.any(Number), monitorCode: 'ERR_UVSCOPE_UNSUPPORTED_PLATFORM' });
      expect(result.producerMetrics).toBeGreaterThan(5); // the rest is there
    }, 40_000 * SLOWDOWN);
  });
});
