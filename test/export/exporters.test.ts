/**
 * The metrics exporters, against the real libraries: `uvscope/prometheus` on a prom-client
 * Registry (the scraped text is parsed and checked), `uvscope/opentelemetry` on an SDK
 * MeterProvider collected by a MetricReader (instruments, and UvMetricProducer through the
 * reader's metricProducers), after real loop activity (a setImmediate chain, a blocking turn, fs
 * reads) and real pool jobs (hash, a failing hashFile, an aborted sleep). Histogram buckets are
 * checked one by one against every job's own run time from the job channel. The
 * missing-peer errors are checked in child processes run from a temporary project that has a
 * copy of uvscope but no prom-client / @opentelemetry/api (test/export/fixtures/exporter-peer.js).
 */
import { spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { AggregatorRegistry, Registry } from 'prom-client';
import type { RegistryContentType } from 'prom-client';

import { LoopObserver, poolSize, StallWatchdog, ThreadPool, threadpool } from '../../src';
import type { StallEvent } from '../../src';
import { registerUvMetrics, UvMetricProducer } from '../../src/opentelemetry';
import { collectDefaultUvMetrics, DEFAULT_JOB_BUCKETS, DEFAULT_LOOP_BUCKETS } from '../../src/prometheus';
import { JOB_CHANNEL } from '../../src/channels';
import type { JobRecord } from '../../src/channels';
import { BUCKETS, bucketOf } from '../../src/histogram/native-buckets';
import { SlidingQuantiles } from '../../src/export/sliding-quantiles';
import { SLOWDOWN } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const MISSING_FILE = path.join(os.tmpdir(), `uvscope-exporters-missing-${process.pid}`);

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

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function blockLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a long iteration on purpose
  }
}

// A stall of a known length: the watchdog's threshold, and a block six times as long.
const STALL_THRESHOLD_MS = 50 * SLOWDOWN;
const STALL_BLOCK_MS = 300 * SLOWDOWN;

/**
 * Blocks the loop for STALL_BLOCK_MS in a setImmediate callback and resolves with the
 * watchdog's 'stall' event for it (the first one at least as long as the block), and the time
 * from before the block was scheduled to the event: the upper bound of its duration.
 */
async function knownStall(watchdog: StallWatchdog): Promise<{ event: StallEvent; boundNs: number }> {
  const t0 = process.hrtime.bigint();
  const stalled = new Promise<StallEvent>((resolve) => {
    const onStall = (event: StallEvent) => {
      if (event.durationNs < STALL_BLOCK_MS * 1e6) return;
      watchdog.off('stall', onStall);
      resolve(event);
    };
    watchdog.on('stall', onStall);
  });
  setImmediate(() => blockLoop(STALL_BLOCK_MS));
  const event = await stalled;
  return { event, boundNs: Number(process.hrtime.bigint() - t0) };
}

/** Real work: 200 setImmediate turns, fs reads, and three jobs on `pool` with three outcomes. */
async function activity(pool: ThreadPool = threadpool): Promise<void> {
  for (let i = 0; i < 200; i++) await immediate();
  for (let i = 0; i < 5; i++) await fs.promises.readFile(__filename);
  const digest = await pool.hash('sha256', Buffer.alloc(65536, 1));
  expect(digest).toHaveLength(32);
  await expect(pool.hashFile(MISSING_FILE, 'sha256')).rejects.toMatchObject({ code: 'ENOENT' });
  const ac = new AbortController();
  const aborted = pool.sleep(5000, { signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await expect(aborted).rejects.toMatchObject({ name: 'AbortError' });
  for (let i = 0; i < 3; i++) await immediate(); // let the loop finish the turn that settled them
}

/**
 * Job bounds for the precision tests, seconds: native bucket edges (2^e + k * 2^(e-6) - 1 ns:
 * the highest value of a native bucket) mixed with bounds that are not (2.5 µs, 10 µs, ...).
 */
const JOB_BOUNDS_S = [
  2_500, 2 ** 12 + 5 * 2 ** 6 - 1, 10_000, 2 ** 14 + 17 * 2 ** 8 - 1, 50_000, 2 ** 17 - 1, 250_000, 2 ** 19 + 33 * 2 ** 13 - 1, 1_000_000,
  2 ** 21 + 2 ** 15 - 1, 10_000_000,
].map((ns) => ns / 1e9);

/** Hash jobs of 1 KiB to 1 MiB on `pool`; resolves with each one's run time, ns, from the job channel. */
async function timedJobs(pool: ThreadPool): Promise<number[]> {
  const runs: number[] = [];
  const onJob = (message: unknown) => {
    const job = message as JobRecord;
    if (job.kernel === 'hash') runs.push(job.runNs);
  };
  diagnosticsChannel.subscribe(JOB_CHANNEL, onJob);
  try {
    for (let i = 0; i < 120; i++) await pool.hash('sha256', Buffer.alloc(1024 << i % 11, i));
  } finally {
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, onJob);
  }
  expect(runs).toHaveLength(120);
  return runs;
}

/**
 * Checks each bucket count against the exact values: at a bound b that is a native edge, the
 * number of values <= b; elsewhere between the number of values <= b * 63/64 and <= b.
 */
function expectBucketCounts(values: number[], boundsS: readonly number[], countAt: (boundS: number) => number): void {
  const atOrBelow = (ns: number) => values.filter((v) => v <= ns).length;
  for (const bound of boundsS) {
    const ns = Math.round(bound * 1e9);
    const exponent = Math.floor(Math.log2(ns + 1));
    const edge = ns < 64 || (ns + 1) % 2 ** (exponent - 6) === 0;
    const count = countAt(bound);
    if (edge) {
      expect({ bound, edge, count }).toEqual({ bound, edge, count: atOrBelow(ns) });
    } else {
      expect({ bound, count, low: count >= atOrBelow(Math.floor((ns * 63) / 64)), high: count <= atOrBelow(ns) }).toEqual({
        bound, count, low: true, high: true,
      });
    }
  }
  // The spread of the workload makes the check meaningful: values on both sides of most bounds.
  expect(boundsS.filter((b) => atOrBelow(b * 1e9) > 0 && atOrBelow(b * 1e9) < values.length).length).toBeGreaterThanOrEqual(4);
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

  test('the sliding window: quantiles forget what is older than maxAgeSeconds', () => {
    const window = new SlidingQuantiles({ maxAgeSeconds: 10, ageBuckets: 2 }, 0);
    const cumulative = new Float64Array(BUCKETS);
    const record = (ns: number, n: number) => (cumulative[bucketOf(ns)] += n);
    const p50At = (nowMs: number) => {
      window.begin(nowMs);
      const [p50] = window.quantiles('k', cumulative, [0.5]) ?? [NaN];
      window.end();
      return p50;
    };
    record(1000, 100);
    expect(Math.abs(p50At(1000) - 1000)).toBeLessThanOrEqual(1000 / 128);
    record(1_000_000, 300);
    expect(p50At(6000)).toBeCloseTo(1_000_000, -4); // both in the window: 300 of 400 at 1 ms
    record(5000, 1000);
    // At 12 s the snapshot of 0 s is older than 10 s: the window starts at 6 s, after the 1 µs and 1 ms values.
    expect(p50At(12_000)).toBeCloseTo(5000, -2);
    // Nothing new for a whole window: no quantiles.
    expect(p50At(30_000)).toBeNaN();
    expect(p50At(31_000)).toBeNaN();
  });
});

// --- OpenTelemetry -------------------------------------------------------------------------

/** A reader collected by hand. */
class ManualReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

async function collect(reader: MetricReader): Promise<Map<string, MetricData>> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return byName(resourceMetrics);
}

function byName(resourceMetrics: ResourceMetrics): Map<string, MetricData> {
  const map = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) map.set(metric.descriptor.name, metric);
  return map;
}

function point(metrics: Map<string, MetricData>, name: string, attributes: Record<string, unknown> = {}): number {
  const metric = metrics.get(name);
  if (!metric) throw new Error(`no ${name}`);
  const points = metric.dataPoints.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  if (points.length !== 1) throw new Error(`${points.length} points of ${name} ${JSON.stringify(attributes)}`);
  return points[0].value as number;
}

const STATS = ['min', 'p50', 'p90', 'p99', 'p999', 'max'];

function expectOrderedStats(metrics: Map<string, MetricData>, base: string, attributes: Record<string, unknown> = {}): void {
  const values = STATS.map((stat) => point(metrics, `${base}.${stat}`, attributes));
  for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  const mean = point(metrics, `${base}.mean`, attributes);
  expect(mean).toBeGreaterThanOrEqual(values[0]);
  expect(mean).toBeLessThanOrEqual(values[values.length - 1]);
  expect(metrics.get(`${base}.p99`)?.descriptor.unit).toBe('s');
}

describe('uvscope/opentelemetry', () => {
  test('every instrument, with sane values, through the SDK', async () => {
    const reader = new ManualReader();
    const provider = new MeterProvider({ readers: [reader] });
    const attributes = { 'deployment.environment.name': 'test' };
    const handle = registerUvMetrics(provider.getMeter('exporters-test'), { attributes, saturationIntervalMs: 10 });
    try {
      expect(await handle.measuredPoolSize).toBe(poolSize().size);
      const before = await collect(reader);
      await activity();
      await sleep(15);
      const after = await collect(reader);

      // Every instrument reported, every point carries the attributes.
      for (const name of handle.names) {
        const metric = after.get(name);
        expect([name, metric?.dataPoints.length ?? 0]).not.toEqual([name, 0]);
        for (const p of metric!.dataPoints) {
          expect(p.attributes['deployment.environment.name']).toBe('test');
          expect(Number.isFinite(p.value)).toBe(true);
        }
      }
      expect(handle.names).toEqual(expect.arrayContaining(['nodejs.eventloop.utilization', 'nodejs.eventloop.time']));

      // Semantic conventions: types and units.
      const time = after.get('nodejs.eventloop.time')!;
      expect(time.dataPointType).toBe(DataPointType.SUM);
      expect(time.descriptor.unit).toBe('s');
      expect(time.dataPointType === DataPointType.SUM && time.isMonotonic).toBe(true);
      expect(after.get('nodejs.eventloop.utilization')!.dataPointType).toBe(DataPointType.GAUGE);
      expect(after.get('nodejs.eventloop.utilization')!.descriptor.unit).toBe('1');
      expect(after.get('uvscope.eventloop.iterations')!.descriptor.unit).toBe('{iteration}');
      expect(after.get('uvscope.threadpool.jobs')!.descriptor.unit).toBe('{job}');
      expect(after.get('uvscope.threadpool.processed')!.descriptor.unit).toBe('By');
      expect(after.get('uvscope.threadpool.size.configured')!.descriptor.unit).toBe('{thread}');
      expect(after.get('uvscope.threadpool.in_flight')!.dataPointType).toBe(DataPointType.SUM);

      const utilization = point(after, 'nodejs.eventloop.utilization');
      expect(utilization).toBeGreaterThan(0);
      expect(utilization).toBeLessThanOrEqual(1);
      const active = point(after, 'nodejs.eventloop.time', { 'nodejs.eventloop.state': 'active' });
      const idle = point(after, 'nodejs.eventloop.time', { 'nodejs.eventloop.state': 'idle' });
      expect(active).toBeGreaterThan(0);
      expect(idle).toBeGreaterThan(0);
      expect(point(after, 'uvscope.eventloop.iterations') - point(before, 'uvscope.eventloop.iterations')).toBeGreaterThanOrEqual(200);
      for (const base of ['iteration.duration', 'poll_wait', 'poll_work', 'outside_poll']) {
        expectOrderedStats(after, `uvscope.eventloop.${base}`);
      }

      const jobs = (m: Map<string, MetricData>, kernel: string, outcome: string) =>
        m.get('uvscope.threadpool.jobs')?.dataPoints.some((p) => p.attributes['uvscope.threadpool.kernel'] === kernel)
          ? point(m, 'uvscope.threadpool.jobs', { 'uvscope.threadpool.kernel': kernel, 'uvscope.threadpool.job.outcome': outcome })
          : 0;
      expect(jobs(after, 'hash', 'completed') - jobs(before, 'hash', 'completed')).toBe(1);
      expect(jobs(after, 'hashFile', 'failed') - jobs(before, 'hashFile', 'failed')).toBe(1);
      expect(jobs(after, 'sleep', 'cancelled') - jobs(before, 'sleep', 'cancelled')).toBe(1);
      expect(point(after, 'uvscope.threadpool.processed', { 'uvscope.threadpool.kernel': 'hash' })).toBeGreaterThanOrEqual(65536);
      for (const base of ['queue_wait', 'run_time', 'return_delay']) {
        expectOrderedStats(after, `uvscope.threadpool.job.${base}`, { 'uvscope.threadpool.kernel': 'hash' });
      }
      expect(point(after, 'uvscope.threadpool.in_flight')).toBe(0);
      expect(point(after, 'uvscope.threadpool.queued')).toBe(0);
      expect(point(after, 'uvscope.threadpool.running')).toBe(0);
      expect(point(after, 'uvscope.threadpool.size.configured')).toBe(poolSize().size);
      expect(point(after, 'uvscope.threadpool.size.measured')).toBe(poolSize().size);
      const saturation = point(after, 'uvscope.threadpool.saturation');
      expect(saturation).toBeGreaterThanOrEqual(0);
      expect(saturation).toBeLessThan(1);

      // Cumulative counters grow between collections.
      await activity();
      const again = await collect(reader);
      expect(point(again, 'uvscope.eventloop.iterations')).toBeGreaterThan(point(after, 'uvscope.eventloop.iterations'));
      expect(jobs(again, 'hash', 'completed')).toBe(jobs(after, 'hash', 'completed') + 1);
    } finally {
      handle.stop();
    }
    expect(handle.observer.closed).toBe(true);
    // No more observations: whatever the SDK still exports (cumulative temporality keeps the
    // last values of asynchronous instruments) no longer changes.
    const stopped = await collect(reader);
    for (let i = 0; i < 20; i++) await immediate();
    await threadpool.hash('sha256', 'after stop');
    const later = await collect(reader);
    for (const name of handle.names) {
      const points = (m: Map<string, MetricData>) => m.get(name)?.dataPoints.map((p) => [p.attributes, p.value]) ?? [];
      expect([name, points(later)]).toEqual([name, points(stopped)]);
    }
    handle.stop(); // idempotent
    await provider.shutdown();
  });

  test('a real stall, from a watchdog the caller gives: counted once, its duration within the known bounds', async () => {
    const reader = new ManualReader();
    const provider = new MeterProvider({ readers: [reader] });
    const watchdog = new StallWatchdog({ thresholdMs: STALL_THRESHOLD_MS, stacks: false }).start();
    const handle = registerUvMetrics(provider.getMeter('stall-test'), {
      stallWatchdog: watchdog,
      saturationIntervalMs: false,
      measurePoolSize: false,
    });
    try {
      expect(handle.stallWatchdog).toBe(watchdog);
      const events: StallEvent[] = [];
      watchdog.on('stall', (event) => events.push(event));
      const before = await collect(reader);
      const { event, boundNs } = await knownStall(watchdog);
      const after = await collect(reader);

      const stalls = after.get('uvscope.eventloop.stalls')!;
      expect(stalls.dataPointType === DataPointType.SUM && stalls.isMonotonic).toBe(true);
      expect(stalls.descriptor.unit).toBe('{stall}');
      expect(after.get('uvscope.eventloop.stall.time')!.descriptor.unit).toBe('s');
      expect(after.get('uvscope.eventloop.stall.duration.max')!.dataPointType).toBe(DataPointType.GAUGE);

      expect(events).toEqual([event]);
      const diff = (name: string) => point(after, name) - point(before, name);
      expect(diff('uvscope.eventloop.stalls')).toBe(1);
      expect(event.durationNs).toBeGreaterThanOrEqual(STALL_BLOCK_MS * 1e6);
      expect(event.durationNs).toBeLessThanOrEqual(boundNs);
      expect(diff('uvscope.eventloop.stall.time')).toBeCloseTo(event.durationNs / 1e9, 6);
      expect(point(after, 'uvscope.eventloop.stall.duration.max')).toBeCloseTo(event.durationNs / 1e9, 6);
    } finally {
      handle.stop();
      await provider.shutdown();
    }
    // The caller's watchdog: still watching.
    expect(watchdog.running).toBe(true);
    watchdog.close();
  });

  test("UvMetricProducer with poolRequests: Node's own requests by kind and outcome, their latency as a histogram", async () => {
    const producer = new UvMetricProducer({ stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false, poolRequests: true });
    const reader = new ManualReader({ metricProducers: [producer] });
    const provider = new MeterProvider({ readers: [reader] });
    try {
      for (let i = 0; i < 3; i++) await new Promise((resolve) => require('node:crypto').pbkdf2('pw', 'salt', 1000, 32, 'sha256', resolve));
      await new Promise((resolve) => fs.stat(MISSING_FILE, resolve));
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const metrics = byName(resourceMetrics);
      const requests = metrics.get('uvscope.threadpool.requests')!;
      const count = (kind: string, outcome: string) =>
        requests.dataPoints.find((p) => p.attributes['uvscope.threadpool.request.kind'] === kind && p.attributes['uvscope.threadpool.request.outcome'] === outcome)?.value;
      expect(count('crypto.pbkdf2', 'completed')).toBe(3);
      expect(count('fs.stat', 'failed')).toBe(1);
      const duration = metrics.get('uvscope.threadpool.request.duration')!;
      expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM);
      const pbkdf2 = duration.dataPoints.find((p) => p.attributes['uvscope.threadpool.request.kind'] === 'crypto.pbkdf2')!.value as Histogram;
      expect(pbkdf2.count).toBe(3);
      expect(pbkdf2.buckets.counts.reduce((a, b) => a + b, 0)).toBe(3);
      expect(pbkdf2.sum).toBeGreaterThan(0);
      expect(metrics.get('uvscope.threadpool.requests.in_flight')!.dataPoints[0].value).toBe(0);
    } finally {
      await provider.shutdown();
      await producer.shutdown();
    }
  });

  test('UvMetricProducer: every metric through a reader, the distributions as histograms checked against each job\'s run time', async () => {
    const pool = new ThreadPool();
    const attributes = { 'service.instance.id': 'a' };
    const producer = new UvMetricProducer({ pool, attributes, buckets: { threadpool: JOB_BOUNDS_S }, saturationIntervalMs: 10 });
    const reader = new ManualReader({ metricProducers: [producer] });
    const provider = new MeterProvider({ readers: [reader] });
    try {
      expect(await producer.measuredPoolSize).toBe(poolSize().size);
      const runs = await timedJobs(pool);
      await activity(); // loop activity (its jobs run on the default pool, not read here)
      await sleep(15);
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      // The SDK's resource is kept; the producer's metrics come under the scope 'uvscope'.
      expect(resourceMetrics.resource.attributes['service.name']).toBeDefined();
      const scope = resourceMetrics.scopeMetrics.find((sm) => sm.scope.name === 'uvscope')!;
      const metrics = byName(resourceMetrics);
      for (const metric of scope.metrics) {
        expect(metric.aggregationTemporality).toBe(AggregationTemporality.CUMULATIVE);
        for (const p of metric.dataPoints) expect(p.attributes['service.instance.id']).toBe('a');
      }
      const histograms = ['uvscope.eventloop.iteration.duration', 'uvscope.eventloop.poll_wait', 'uvscope.eventloop.poll_work',
        'uvscope.eventloop.outside_poll', 'uvscope.threadpool.job.queue_wait', 'uvscope.threadpool.job.run_time', 'uvscope.threadpool.job.return_delay'];
      for (const name of histograms) {
        const metric = metrics.get(name)!;
        expect([name, metric.dataPointType]).toEqual([name, DataPointType.HISTOGRAM]);
        expect(metric.descriptor.unit).toBe('s');
        for (const p of metric.dataPoints) {
          const h = p.value as Histogram;
          expect(h.buckets.counts).toHaveLength(h.buckets.boundaries.length + 1);
          expect(h.buckets.counts.reduce((a, b) => a + b, 0)).toBe(h.count);
          expect(h.buckets.boundaries).toEqual(name.startsWith('uvscope.eventloop') ? DEFAULT_LOOP_BUCKETS : JOB_BOUNDS_S);
        }
      }
      expect(metrics.get('uvscope.eventloop.iterations')!.dataPointType).toBe(DataPointType.SUM);
      expect(metrics.get('nodejs.eventloop.utilization')!.dataPointType).toBe(DataPointType.GAUGE);
      const iterations = point(metrics, 'uvscope.eventloop.iterations');
      const iteration = metrics.get('uvscope.eventloop.iteration.duration')!.dataPoints[0].value as Histogram;
      expect(iteration.count).toBe(iterations);
      // The hash jobs' run times: explicit buckets (upper bound inclusive), against the job channel.
      const run = metrics.get('uvscope.threadpool.job.run_time')!.dataPoints.find((p) => p.attributes['uvscope.threadpool.kernel'] === 'hash')!;
      const h = run.value as Histogram;
      expect(h.count).toBe(runs.length);
      expect(h.sum).toBeCloseTo(runs.reduce((a, b) => a + b, 0) / 1e9, 9);
      const cumulative = h.buckets.counts.map((_, i) => h.buckets.counts.slice(0, i + 1).reduce((a, b) => a + b, 0));
      expectBucketCounts(runs, JOB_BOUNDS_S, (bound) => cumulative[JOB_BOUNDS_S.indexOf(bound)]);
      expect(point(metrics, 'uvscope.threadpool.jobs', { 'uvscope.threadpool.kernel': 'hash', 'uvscope.threadpool.job.outcome': 'completed' })).toBe(runs.length);
      expect(point(metrics, 'uvscope.threadpool.size.measured')).toBe(poolSize().size);
      // No histograms among the registerUvMetrics gauges' names, and no gauges here.
      expect([...metrics.keys()].filter((n) => /\.(p50|p99|min|mean)$/.test(n))).toEqual([]);

      // A closed observer leaves the loop metrics out; after shutdown(), nothing, never an error.
      producer.observer.close();
      const closed = byName((await reader.collect()).resourceMetrics);
      expect(closed.has('uvscope.eventloop.iteration.duration')).toBe(false);
      expect(closed.has('uvscope.threadpool.job.run_time')).toBe(true);
      await producer.shutdown();
      expect(producer.closed).toBe(true);
      const after = await reader.collect();
      expect(after.errors).toEqual([]);
      expect(byName(after.resourceMetrics).has('uvscope.threadpool.jobs')).toBe(false);
    } finally {
      await producer.shutdown();
      await provider.shutdown();
    }
    expect(() => new UvMetricProducer({ buckets: [] })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new UvMetricProducer({ attributes: { bad: {} as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  test('argument validation', () => {
    const provider = new MeterProvider();
    const meter = provider.getMeter('validation');
    expect(() => registerUvMetrics({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => registerUvMetrics(meter, { attributes: { bad: {} as never } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => registerUvMetrics(meter, { pool: {} as ThreadPool })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => registerUvMetrics(meter, { stallWatchdog: { repeatMs: 5 } })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', message: expect.stringContaining('"options.stallWatchdog.repeatMs"') }),
    );
    const without = registerUvMetrics(meter, { stallWatchdog: false, measurePoolSize: false, saturationIntervalMs: false });
    expect(without.names.filter((n) => n.includes('stall'))).toEqual([]);
    without.stop();
  });
});

// --- process lifetime ----------------------------------------------------------------------

test('exporters left running (their dedicated watchdogs too) never keep the process alive', () => {
  const script = `
    const { collectDefaultUvMetrics } = require(${JSON.stringify(path.join(ROOT, 'lib', 'prometheus.js'))});
    const { registerUvMetrics } = require(${JSON.stringify(path.join(ROOT, 'lib', 'opentelemetry.js'))});
    const prom = collectDefaultUvMetrics({ stallWatchdog: { thresholdMs: 10 } });
    const otel = registerUvMetrics(undefined, {});
    if (!prom.stallWatchdog.running || !otel.stallWatchdog.running) throw new Error('not running');
    process.stdout.write('started');`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 * SLOWDOWN });
  expect(result.stderr).toBe('');
  expect({ status: result.status, signal: result.signal, stdout: result.stdout }).toEqual({ status: 0, signal: null, stdout: 'started' });
});

// --- optional peers ------------------------------------------------------------------------

describe('optional peer dependencies', () => {
  let project: string;

  beforeAll(() => {
    // A project with uvscope installed (its lib/ and a package.json carrying the exporter
    // subpaths) and nothing else: resolution from there cannot reach this checkout's
    // node_modules (a temporary directory is not inside it).
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-exporters-'));
    const pkg = path.join(project, 'node_modules', 'uvscope');
    fs.mkdirSync(pkg, { recursive: true });
    fs.cpSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'), { recursive: true });
    // The real package.json (its `exports` map is what is under test), without the install script.
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    delete manifest.scripts;
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify(manifest));
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'exporter-peer.js'), path.join(project, 'exporter-peer.js'));
  });

  afterAll(() => {
    fs.rmSync(project, { recursive: true, force: true });
  });

  function run(): Record<string, unknown> {
    // This checkout's addon (the copied package has no build), unless a sanitizer run chose one.
    const addon = process.env.UVSCOPE_ADDON ?? path.join(ROOT, 'build', 'Release', 'uvscope.node');
    const env: NodeJS.ProcessEnv = { ...process.env, UVSCOPE_ADDON: addon };
    delete env.NODE_PATH;
    const result = spawnSync(process.execPath, ['exporter-peer.js'], { cwd: project, env, encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    return JSON.parse(result.stdout);
  }

  test('lib/ is built from the current sources', () => {
    const sources = ['prometheus.ts', 'opentelemetry.ts', ...fs.readdirSync(path.join(ROOT, 'src', 'export')).map((f) => `export/${f}`)];
    for (const name of sources) {
      const compiled = path.join(ROOT, 'lib', name.replace(/\.ts$/, '.js'));
      expect(fs.existsSync(compiled)).toBe(true);
      expect(fs.statSync(compiled).mtimeMs).toBeGreaterThanOrEqual(fs.statSync(path.join(ROOT, 'src', name)).mtimeMs - 1000);
    }
  });

  test('without them: the core loads, each exporter throws an Error naming its package', () => {
    const result = run();
    expect(result.peers).toEqual({ 'prom-client': false, '@opentelemetry/api': false });
    expect(result.core).toBe(true);
    const prometheus = {
      message: 'uvscope/prometheus needs the optional peer dependency prom-client: npm install prom-client',
      code: 'MODULE_NOT_FOUND',
    };
    const opentelemetry = {
      message: 'uvscope/opentelemetry needs the optional peer dependency @opentelemetry/api: npm install @opentelemetry/api',
      code: 'MODULE_NOT_FOUND',
    };
    expect(result.prometheus).toEqual(prometheus);
    expect(result.prometheusEsm).toEqual(prometheus);
    expect(result.opentelemetry).toEqual(opentelemetry);
    expect(result.opentelemetryEsm).toEqual(opentelemetry);
  });

  test('with them installed: both load, from CommonJS and ES modules', () => {
    const modules = path.join(project, 'node_modules');
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'prom-client'), path.join(modules, 'prom-client'), 'dir');
    fs.mkdirSync(path.join(modules, '@opentelemetry'));
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@opentelemetry', 'api'), path.join(modules, '@opentelemetry', 'api'), 'dir');
    const result = run();
    expect(result.peers).toEqual({ 'prom-client': true, '@opentelemetry/api': true });
    const buckets = ['DEFAULT_JOB_BUCKETS', 'DEFAULT_LOOP_BUCKETS'];
    expect(result.prometheus).toEqual({ ok: [...buckets, 'collectDefaultUvMetrics'] });
    expect(result.prometheusEsm).toEqual({ ok: [...buckets, 'collectDefaultUvMetrics'] });
    // UvMetricProducer loads without @opentelemetry/sdk-metrics (it uses only its types).
    expect(result.opentelemetry).toEqual({ ok: [...buckets, 'UvMetricProducer', 'registerUvMetrics'] });
    expect(result.opentelemetryEsm).toEqual({ ok: [...buckets, 'UvMetricProducer', 'registerUvMetrics'] });
  });
});
