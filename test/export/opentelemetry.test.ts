/**
 * `uvscope/opentelemetry` against the real SDK: registerUvMetrics on a MeterProvider collected
 * by a MetricReader (every instrument after real loop activity and real pool jobs, a real stall
 * from a given watchdog, argument validation), and UvMetricProducer through a reader's
 * metricProducers (distributions as histograms checked against each job's own run time from
 * the job channel, Node's own pool requests), and the pool threads' CPU and run-queue counters
 * of both against a known spin load.
 */
import fs from 'node:fs';

import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';

import { poolSize, StallWatchdog, ThreadPool, threadpool } from '../../src';
import { SLOWDOWN } from '../helpers';
import type { StallEvent } from '../../src';
import { DEFAULT_LOOP_BUCKETS, registerUvMetrics, UvMetricProducer } from '../../src/opentelemetry';
import {
  activity, expectBucketCounts, immediate, JOB_BOUNDS_S, knownStall, MISSING_FILE, sleep, spinLoad, STALL_BLOCK_MS, STALL_THRESHOLD_MS, timedJobs, until,
} from './activity';

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
      // The first collection runs the SDK's code for these instruments for the first time: on a
      // loaded machine that made a stall of its own (65 ms, seen in CI). Not the stall under test.
      await collect(reader);
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

  describe('pool threads: CPU plus run-queue time grows by the spin load injected, each collection at least the previous', () => {
    const QUIET = { stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false } as const;
    const NAMES = ['uvscope.threadpool.thread.cpu.time', 'uvscope.threadpool.thread.run_queue_wait', 'uvscope.threadpool.threads.observed'];

    async function checkLoad(collectOnce: () => Promise<Map<string, MetricData>>): Promise<void> {
      const size = poolSize().size;
      const threads = (m: Map<string, MetricData>) => (m.has(NAMES[2]) ? point(m, NAMES[2]) : 0);
      const busy = (m: Map<string, MetricData>) => point(m, NAMES[0]) + point(m, NAMES[1]);
      // Discovery (once per thread: it may have ended in an earlier test) finds every thread.
      const first = await until(collectOnce, (m) => threads(m) === size);
      expect(threads(first)).toBe(size);
      for (const [name, unit, monotonic] of [[NAMES[0], 's', true], [NAMES[1], 's', true], [NAMES[2], '{thread}', false]] as const) {
        const metric = first.get(name)!;
        expect([name, metric.descriptor.unit, metric.dataPointType, metric.dataPointType === DataPointType.SUM && metric.isMonotonic])
          .toEqual([name, unit, DataPointType.SUM, monotonic]);
      }
      let loaded = false;
      const load = spinLoad(size).finally(() => (loaded = true));
      const collections = [first];
      while (!loaded) {
        collections.push(await collectOnce());
        await sleep(15);
      }
      const injected = await load;
      const last = await collectOnce();
      collections.push(last);
      for (let i = 1; i < collections.length; i++) {
        const grew = NAMES.slice(0, 2).map((name) => point(collections[i], name) >= point(collections[i - 1], name));
        expect([i, ...grew]).toEqual([i, true, true]);
      }
      const grown = busy(last) - busy(first);
      // A spinning thread is on a CPU or runnable; on a machine loaded as CI's Node matrix is, part
      // of its wall time was seen in neither figure once (0.50 s of 0.72 s on Node 26): at least half.
      expect({ injected, grown, atLeast: grown >= injected * 0.5 }).toEqual({ injected, grown, atLeast: true });
      expect(grown).toBeLessThan(injected * 1.05 + 0.05 * SLOWDOWN);
      expect(point(last, NAMES[0])).toBeGreaterThan(point(first, NAMES[0]));
    }

    test('registerUvMetrics (observable counters on a Meter)', async () => {
      const reader = new ManualReader();
      const provider = new MeterProvider({ readers: [reader] });
      const attributes = { 'service.instance.id': 'b' };
      const handle = registerUvMetrics(provider.getMeter('pool-threads'), { ...QUIET, attributes });
      try {
        expect(handle.names).toEqual(expect.arrayContaining(NAMES));
        await checkLoad(() => collect(reader));
        const m = await collect(reader);
        for (const name of NAMES) expect(m.get(name)!.dataPoints[0].attributes).toEqual(attributes);
      } finally {
        handle.stop();
        await provider.shutdown();
      }
      const off = registerUvMetrics(new MeterProvider().getMeter('off'), { ...QUIET, poolThreads: false });
      expect(off.names.filter((n) => NAMES.includes(n))).toEqual([]);
      off.stop();
      expect(() => registerUvMetrics(new MeterProvider().getMeter('bad'), { poolThreads: 1 as never })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', message: expect.stringContaining('"options.poolThreads"') }),
      );
    });

    test('UvMetricProducer (sums through a reader)', async () => {
      const producer = new UvMetricProducer(QUIET);
      const reader = new ManualReader({ metricProducers: [producer] });
      const provider = new MeterProvider({ readers: [reader] });
      try {
        await checkLoad(() => collect(reader));
      } finally {
        await provider.shutdown();
        await producer.shutdown();
      }
      const off = new UvMetricProducer({ ...QUIET, poolThreads: false });
      const m = byName((await off.collect()).resourceMetrics);
      expect(NAMES.filter((n) => m.has(n))).toEqual([]);
      expect(m.has('uvscope.threadpool.jobs')).toBe(true);
      await off.shutdown();
    });
  });
});
