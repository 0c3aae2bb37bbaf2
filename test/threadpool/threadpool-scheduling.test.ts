/**
 * Thread pool scheduling: cancellation (queued and running), settle-exactly-once counts,
 * maxConcurrency/maxQueue, the loop staying responsive while the pool works, statistics and
 * diagnostics_channel records, and saturation monitoring.
 *
 * The jest process has the default libuv pool (threadpool.size().size threads, 4 unless the
 * environment says otherwise). Tests that need every pool thread busy submit that many
 * blocking sleep jobs first: libuv's queue is FIFO, so anything submitted afterwards cannot
 * start before one of them ends. Waiting for a condition polls stats() between event loop
 * turns (there is no event for "a pool thread picked a job up"); fixed sleeps are not used
 * as synchronisation.
 */
import crypto from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { JOB_CHANNEL, JobRecord, SATURATION_CHANNEL, ThreadPool, threadpool } from '../../src';
import { rejection, SLOWDOWN } from '../helpers';

const POOL_SIZE = threadpool.size().size;
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Resolves once `condition()` holds, checking between event loop turns; rejects after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs * SLOWDOWN;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Collects JOB_CHANNEL records while subscribed. */
function recordJobs(): { records: JobRecord[]; stop: () => void } {
  const records: JobRecord[] = [];
  const onMessage = (message: unknown) => records.push(message as JobRecord);
  diagnosticsChannel.subscribe(JOB_CHANNEL, onMessage);
  return { records, stop: () => diagnosticsChannel.unsubscribe(JOB_CHANNEL, onMessage) };
}

/** Occupies every libuv pool thread with a sleep job of `ms` on `pool`; resolves when they all run. */
async function blockPool(pool: ThreadPool, ms: number): Promise<Promise<void>[]> {
  const blockers = Array.from({ length: POOL_SIZE }, () => pool.sleep(ms));
  await until(() => pool.stats().running >= POOL_SIZE, 10_000, 'the blockers to run');
  return blockers;
}

let recorder: ReturnType<typeof recordJobs> | undefined;
afterEach(() => {
  recorder?.stop();
  recorder = undefined;
});

describe('abort', () => {
  test('a job aborted while queued in libuv never runs and rejects with AbortError (cause = reason)', async () => {
    const pool = new ThreadPool();
    recorder = recordJobs();
    const blockers = await blockPool(pool, 300);
    const controller = new AbortController();
    const reason = new Error('changed my mind');
    const job = pool.hash('sha256', crypto.randomBytes(1024), { signal: controller.signal });
    // Every thread is busy and libuv's queue is FIFO: the hash is certainly still queued.
    expect(pool.stats().queued).toBe(1);
    controller.abort(reason);
    const error = await rejection(job);
    expect(error.name).toBe('AbortError');
    expect(error.code).toBe('ABORT_ERR');
    expect(error.cause).toBe(reason);
    const stats = pool.stats();
    expect(stats.cancelled).toBe(1);
    expect(stats.kernels.hash).toMatchObject({ submitted: 1, cancelled: 1, completed: 0 });
    expect(stats.kernels.hash!.run.count).toBe(0);
    expect(stats.kernels.hash!.queueWait.count).toBe(0);
    // The abort came back before the blockers ended, so it did not wait for a thread.
    expect(stats.kernels.sleep?.completed ?? 0).toBe(0);
    const hashRecords = recorder.records.filter((r) => r.kernel === 'hash');
    expect(hashRecords).toHaveLength(1);
    expect(hashRecords[0]).toMatchObject({ outcome: 'cancelled', startedAt: 0n, finishedAt: 0n, thread: -1, runNs: 0 });
    await Promise.all(blockers);
    expect(pool.stats()).toMatchObject({ submitted: POOL_SIZE + 1, completed: POOL_SIZE, cancelled: 1, inFlight: 0 });
  });

  test('with maxConcurrency: a job aborted in uvscope\'s own FIFO never runs; the next one does', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1 });
    recorder = recordJobs();
    const first = pool.sleep(100);
    const controller = new AbortController();
    const aborted = pool.hash('sha256', 'x', { signal: controller.signal });
    const after = pool.hash('sha256', 'y');
    expect(pool.stats().queued).toBeGreaterThanOrEqual(2);
    controller.abort('stop');
    const error = await rejection(aborted);
    expect({ name: error.name, code: error.code, cause: error.cause }).toEqual({ name: 'AbortError', code: 'ABORT_ERR', cause: 'stop' });
    await first;
    expect(hex(await after)).toBe(crypto.createHash('sha256').update('y').digest('hex'));
    const stats = pool.stats();
    expect(stats).toMatchObject({ submitted: 3, completed: 2, cancelled: 1, failed: 0, inFlight: 0 });
    expect(stats.kernels.hash!.run.count).toBe(1);
    const cancelled = recorder.records.filter((r) => r.outcome === 'cancelled');
    expect(cancelled).toHaveLength(1);
    expect(cancelled[0]).toMatchObject({ kernel: 'hash', startedAt: 0n, thread: -1 });
  });

  test('an already-aborted signal rejects at once, without queueing', async () => {
    const pool = new ThreadPool();
    const reason = { why: 'already' };
    const signal = AbortSignal.abort(reason);
    const calls: (() => Promise<unknown>)[] = [
      () => pool.hash('sha256', 'x', { signal }),
      () => pool.sleep(1000, { signal }),
      () => pool.pbkdf2('p', 's', 1, 8, 'sha256', { signal }),
      () => pool.scrypt('p', 's', 8, { N: 16, r: 1, p: 1 }, { signal }),
      () => pool.hashFile(__filename, 'sha256', { signal }),
      () => pool.noop({ signal }),
    ];
    for (const call of calls) {
      const t0 = process.hrtime.bigint();
      const error = await rejection(call());
      expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(500);
      expect({ name: error.name, code: error.code, cause: error.cause }).toEqual({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    }
    expect(pool.stats()).toMatchObject({ submitted: 0, inFlight: 0 });
  });

  test('abort during a 2000 ms spin settles in well under 2 s', async () => {
    const pool = new ThreadPool();
    recorder = recordJobs();
    const controller = new AbortController();
    const job = pool.spin(2000, { signal: controller.signal });
    await until(() => pool.stats().running === 1, 10_000, 'the spin to start');
    const t0 = process.hrtime.bigint();
    controller.abort();
    const error = await rejection(job);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(error.name).toBe('AbortError');
    expect((error.cause as Error).name).toBe('AbortError'); // the signal's default reason, a DOMException
    expect(ms).toBeLessThan(1000);
    const [record] = recorder.records;
    expect(record).toMatchObject({ kernel: 'spin', outcome: 'cancelled' });
    expect(record.startedAt).toBeGreaterThan(0n);
    expect(record.thread).toBeGreaterThanOrEqual(0);
    expect(record.runNs).toBeLessThan(1.5e9);
    expect(pool.stats()).toMatchObject({ cancelled: 1, inFlight: 0, running: 0 });
  });

  test('abort during a long pbkdf2 (10^7 iterations) and a 2000 ms sleep stops them early', async () => {
    const pool = new ThreadPool();
    const controller = new AbortController();
    const derive = pool.pbkdf2('password', 'salt', 10_000_000, 32, 'sha256', { signal: controller.signal });
    const sleep = pool.sleep(2000, { signal: controller.signal });
    await until(() => pool.stats().running === 2, 10_000, 'both jobs to start');
    const t0 = process.hrtime.bigint();
    controller.abort();
    const errors = await Promise.all([rejection(derive), rejection(sleep)]);
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(1000);
    expect(errors.map((e) => e.name)).toEqual(['AbortError', 'AbortError']);
    expect(pool.stats()).toMatchObject({ cancelled: 2, completed: 0, inFlight: 0 });
    expect(pool.stats().run.count).toBe(2);
  });

  test('aborting after settlement changes nothing', async () => {
    const pool = new ThreadPool();
    const controller = new AbortController();
    const digest = await pool.hash('sha1', 'abc', { signal: controller.signal });
    controller.abort();
    expect(hex(digest)).toBe(crypto.createHash('sha1').update('abc').digest('hex'));
    expect(pool.stats()).toMatchObject({ completed: 1, cancelled: 0 });
  });
});

describe('settle exactly once, concurrency limits', () => {
  test('10,000 noop jobs submitted at once all settle, once each', async () => {
    const pool = new ThreadPool();
    let resolved = 0;
    let rejected = 0;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++) {
      jobs.push(
        pool.noop().then(
          () => void resolved++,
          () => void rejected++,
        ),
      );
    }
    expect(pool.stats().inFlight).toBe(10_000);
    await Promise.all(jobs);
    expect(resolved).toBe(10_000);
    expect(rejected).toBe(0);
    const stats = pool.stats();
    expect(stats).toMatchObject({ submitted: 10_000, completed: 10_000, failed: 0, cancelled: 0, inFlight: 0, queued: 0, running: 0 });
    expect(stats.kernels.noop?.completed).toBe(10_000);
    expect(stats.run.count).toBe(10_000);
  });

  test('3,000 mixed jobs with every 3rd aborted: resolved + rejected = submitted, cancelled counted', async () => {
    const pool = new ThreadPool({ maxConcurrency: 2 });
    let resolved = 0;
    let aborted = 0;
    let other = 0;
    let abortedYetResolved = 0;
    const controllers: AbortController[] = [];
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      const job = i % 2 ? pool.noop({ signal: controller.signal }) : pool.hash('md5', 'x', { signal: controller.signal });
      jobs.push(
        (job as Promise<unknown>).then(
          () => {
            resolved++;
            if (controller.signal.aborted) abortedYetResolved++;
          },
          (e: Error) => void (e.name === 'AbortError' && controller.signal.aborted ? aborted++ : other++),
        ),
      );
    }
    for (let i = 0; i < controllers.length; i += 3) controllers[i].abort();
    await Promise.all(jobs);
    expect(resolved + aborted).toBe(3000);
    expect(other).toBe(0);
    // Aborted in our FIFO (never ran: an AbortError) or while in libuv: cancelled there if
    // still queued, otherwise it ran to the end and resolves (the abort came after the work).
    // At most the 2 jobs libuv held when the aborts came can have finished.
    expect(aborted + abortedYetResolved).toBe(1000);
    expect(abortedYetResolved).toBeLessThanOrEqual(2);
    const stats = pool.stats();
    expect(stats).toMatchObject({ submitted: 3000, completed: resolved, cancelled: aborted, failed: 0, inFlight: 0 });
    expect(stats.maxConcurrencySeen).toBeLessThanOrEqual(2);
  });

  test('new ThreadPool({ maxConcurrency: 1 }) never runs two jobs at once', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1 });
    recorder = recordJobs();
    let done = 0;
    await Promise.all(Array.from({ length: 20 }, () => pool.sleep(5).then(() => void done++)));
    expect(done).toBe(20);
    const stats = pool.stats();
    expect(stats.maxConcurrencySeen).toBe(1);
    expect(stats.completed).toBe(20);
    const intervals = recorder.records.map((r) => [r.startedAt, r.finishedAt] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(intervals).toHaveLength(20);
    for (let i = 1; i < intervals.length; i++) expect(intervals[i][0]).toBeGreaterThanOrEqual(intervals[i - 1][1]);
  });

  test('an unbounded pool does run sleep jobs in parallel (contrast for the test above)', async () => {
    const pool = new ThreadPool();
    recorder = recordJobs();
    await Promise.all([pool.sleep(100), pool.sleep(100)]);
    const [a, b] = recorder.records;
    // Two sleeping jobs on an otherwise idle pool of >= 2 threads overlap.
    if (POOL_SIZE >= 2) {
      expect(pool.stats().maxConcurrencySeen).toBe(2);
      expect(a.startedAt < b.finishedAt && b.startedAt < a.finishedAt).toBe(true);
    }
  });

  test('maxQueue: with maxConcurrency 1 and maxQueue 2 the 4th concurrent job rejects ERR_UVSCOPE_QUEUE_FULL', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1, maxQueue: 2 });
    const outcomes = await Promise.allSettled([pool.sleep(20), pool.sleep(20), pool.hash('sha256', 'q'), pool.sleep(20)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const reason = (outcomes[3] as PromiseRejectedResult).reason as Error & { code: string };
    expect(reason.code).toBe('ERR_UVSCOPE_QUEUE_FULL');
    expect(pool.stats()).toMatchObject({ submitted: 3, completed: 3, inFlight: 0 });
    // Once drained, the pool takes jobs again.
    await expect(pool.noop()).resolves.toBeUndefined();
  });

  test('maxQueue 0: one running, nothing waits', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1, maxQueue: 0 });
    const outcomes = await Promise.allSettled([pool.sleep(10), pool.noop()]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected']);
  });
});

test('the main loop keeps turning while 256 x 1 MiB SHA-256 jobs run', () => {
  // In a child process: its main thread's CPU time is then uvscope's and the test's alone.
  const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'loop-turns-while-hashing.js')], {
    encoding: 'utf8',
    timeout: 60_000 * SLOWDOWN,
  });
  expect({ status: child.status, signal: child.signal, stderr: child.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  const r = JSON.parse(child.stdout);
  expect(r.settled).toBe(256);
  expect(r.digestsMatch).toBe(true);
  expect(r.ms).toBeGreaterThan(20);
  // Hashing on the main thread would let no tick in until every job had settled. (A count of
  // ticks alone depends on how much CPU the rest of the machine leaves this thread.)
  expect(r.ticksMidway).toBeGreaterThanOrEqual(2);
  // The main thread spent a small part of the run on the CPU: 256 MiB of SHA-256 is ~100 ms
  // of one core's time here, and was done elsewhere.
  if (r.mainCpuMs !== null) expect(r.mainCpuMs).toBeLessThan(r.ms / 2);
});

describe('statistics and JOB_CHANNEL records', () => {
  test('counts, per-kernel entries and histograms; records are consistent', async () => {
    const pool = new ThreadPool();
    recorder = recordJobs();
    const data = crypto.randomBytes(300_000);
    const controller = new AbortController();
    const blockers = await blockPool(pool, 150);
    const cancelledJob = pool.noop({ signal: controller.signal });
    controller.abort();
    const results = await Promise.allSettled([
      ...blockers,
      cancelledJob,
      pool.sleep(20),
      pool.sleep(20),
      pool.sleep(20),
      pool.hash('sha256', data),
      pool.hash('sha512', 'abc'),
      pool.hmac('sha256', 'key', data),
      pool.hashFile('/nonexistent/uvscope-file', 'sha256'),
      pool.pbkdf2('p', 's', 10, 16, 'sha1'),
    ]);
    const rejected = results.filter((r) => r.status === 'rejected').length;
    expect(rejected).toBe(2); // the aborted noop and the missing file
    const stats = pool.stats();
    const total = POOL_SIZE + 9;
    expect(stats.submitted).toBe(total);
    expect(stats.completed + stats.failed + stats.cancelled).toBe(stats.submitted);
    expect(stats).toMatchObject({ failed: 1, cancelled: 1, inFlight: 0, queued: 0, running: 0 });
    expect(Object.keys(stats.kernels).sort()).toEqual(['hash', 'hashFile', 'hmac', 'noop', 'pbkdf2', 'sleep']);
    expect(stats.kernels.sleep).toMatchObject({ submitted: POOL_SIZE + 3, completed: POOL_SIZE + 3 });
    expect(stats.kernels.hash).toMatchObject({ submitted: 2, completed: 2, bytes: data.length + 3 });
    expect(stats.kernels.hashFile).toMatchObject({ submitted: 1, failed: 1 });
    expect(stats.kernels.noop).toMatchObject({ submitted: 1, cancelled: 1 });
    const ran = total - 1; // all but the aborted noop reached a pool thread
    for (const h of [stats.queueWait, stats.run, stats.returnDelay]) {
      expect(h.count).toBe(ran);
      expect(h.min).toBeLessThanOrEqual(h.p50);
      expect(h.p50).toBeLessThanOrEqual(h.p99);
      expect(h.p99).toBeLessThanOrEqual(h.max);
    }
    expect(stats.kernels.noop!.run.count).toBe(0);
    expect(stats.kernels.sleep!.run.count).toBe(POOL_SIZE + 3);
    // Every sleep ran for at least its duration (20 ms, 150 ms for the blockers).
    expect(stats.kernels.sleep!.run.min).toBeGreaterThanOrEqual(19e6);
    expect(stats.kernels.sleep!.run.max).toBeGreaterThanOrEqual(149e6);
    // The 20 ms sleeps waited for the 150 ms blockers.
    expect(stats.kernels.sleep!.queueWait.max).toBeGreaterThan(50e6);
    expect(stats.bytes).toBe(
      Object.values(stats.kernels).reduce((n, k) => n + k!.bytes, 0),
    );
    expect(stats.windowNs).toBeGreaterThan(150e6);
    expect(stats.bytesPerSecond).toBeCloseTo((stats.bytes * 1e9) / stats.windowNs, -3);

    // Records: one per settled job, consistent timestamps.
    const records = recorder.records;
    expect(records).toHaveLength(total);
    expect(records.filter((r) => r.outcome === 'completed')).toHaveLength(stats.completed);
    for (const r of records) {
      if (r.outcome === 'cancelled') {
        expect(r).toMatchObject({ kernel: 'noop', startedAt: 0n, finishedAt: 0n, thread: -1 });
        expect(r.settledAt).toBeGreaterThanOrEqual(r.queuedAt);
        continue;
      }
      expect(r.queuedAt).toBeGreaterThan(0n);
      expect(r.queuedAt <= r.startedAt && r.startedAt <= r.finishedAt && r.finishedAt <= r.settledAt).toBe(true);
      expect(r.thread).toBeGreaterThanOrEqual(0);
      expect(r.runNs).toBe(Number(r.finishedAt - r.startedAt));
      expect(r.queueWaitNs).toBe(Number(r.startedAt - r.queuedAt));
      expect(r.returnDelayNs).toBe(Number(r.settledAt - r.finishedAt));
      if (r.kernel === 'sleep') expect(r.runNs).toBeGreaterThanOrEqual(19e6);
    }
    const hashBytes = records.filter((r) => r.kernel === 'hash').map((r) => r.bytes).sort((a, b) => a - b);
    expect(hashBytes).toEqual([3, data.length]);
    expect(records.find((r) => r.kernel === 'hmac')!.bytes).toBe(data.length);
    // The blockers ran at the same time, so on different threads.
    const blockerThreads = new Set(records.filter((r) => r.kernel === 'sleep' && r.runNs > 140e6).map((r) => r.thread));
    expect(blockerThreads.size).toBe(POOL_SIZE);
  });

  test('timestamps use the process.hrtime.bigint() clock', async () => {
    recorder = recordJobs();
    const before = process.hrtime.bigint();
    await threadpool.noop();
    const after = process.hrtime.bigint();
    const [r] = recorder.records;
    expect(r.queuedAt >= before && r.settledAt <= after).toBe(true);
  });

  test('resetStats() starts a new window; jobs in flight still settle and count', async () => {
    const pool = new ThreadPool();
    await pool.noop();
    const inFlight = pool.sleep(30);
    pool.resetStats();
    expect(pool.stats()).toMatchObject({ submitted: 0, completed: 0, inFlight: 1 });
    await inFlight;
    expect(pool.stats()).toMatchObject({ submitted: 0, completed: 1, inFlight: 0 });
    expect(pool.stats().kernels.noop).toBeUndefined();
  });

  test('stats are per pool; a job submitted before anyone subscribed is not published', async () => {
    const a = new ThreadPool();
    const b = new ThreadPool();
    const early = a.sleep(20);
    recorder = recordJobs();
    await Promise.all([early, a.noop(), b.noop()]);
    expect(recorder.records.map((r) => r.kernel).sort()).toEqual(['noop', 'noop']);
    expect(a.stats().submitted).toBe(2);
    expect(b.stats().submitted).toBe(1);
  });
});

describe('monitorSaturation', () => {
  test('samples the queue wait; large while the pool is blocked; stop() stops; probes are not in stats()', async () => {
    const statsBefore = threadpool.stats();
    const samples: number[] = [];
    const onSample = (message: unknown) => samples.push((message as { queueWaitNs: number }).queueWaitNs);
    diagnosticsChannel.subscribe(SATURATION_CHANNEL, onSample);
    const monitor = threadpool.monitorSaturation({ intervalMs: 5 });
    try {
      await until(() => samples.length >= 3, 10_000, 'three samples');
      expect(monitor.stats().queueWait.count).toBeGreaterThan(0);
      expect(monitor.stats().queueWait.count).toBe(samples.length);

      // Every thread sleeping for 200 ms: the next probe waits for one of them.
      const blockers = await blockPool(threadpool, 200);
      await until(() => monitor.stats().lastNs > 20e6, 10_000, 'a sample over 20 ms');
      expect(Math.max(...samples)).toBeGreaterThan(20e6);
      expect(monitor.stats().queueWait.max).toBeGreaterThan(20e6);
      await Promise.all(blockers);
      // Quiet again: samples come back small.
      const n = samples.length;
      await until(() => samples.length >= n + 3, 10_000, 'samples after the blockers');
      expect(Math.min(...samples.slice(n))).toBeLessThan(20e6);
    } finally {
      monitor.stop();
    }
    // At most one probe was in flight at stop(); let it land, then nothing more arrives.
    const atStop = monitor.stats().queueWait.count;
    await until(() => threadpool.stats().inFlight === 0, 10_000, 'the pool to drain');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const settledCount = monitor.stats().queueWait.count;
    expect(settledCount - atStop).toBeLessThanOrEqual(1);
    await new Promise((resolve) => setTimeout(resolve, 60)); // 12 intervals: a live monitor would sample
    expect(monitor.stats().queueWait.count).toBe(settledCount);
    diagnosticsChannel.unsubscribe(SATURATION_CHANNEL, onSample);

    // Probes are excluded from the pool's statistics: only the blockers were counted.
    const statsAfter = threadpool.stats();
    expect(statsAfter.kernels.probe).toBeUndefined();
    expect(statsAfter.submitted - statsBefore.submitted).toBe(POOL_SIZE);
    expect(statsAfter.kernels.sleep!.submitted - (statsBefore.kernels.sleep?.submitted ?? 0)).toBe(POOL_SIZE);
  });

  test('introspection probes (monitorSaturation, measureSize) leave every stats() field alone', async () => {
    // Block the libuv pool from another ThreadPool, so that a probe of the default pool waits.
    const other = new ThreadPool();
    threadpool.resetStats();
    const blockers = await blockPool(other, 200);
    const monitor = threadpool.monitorSaturation({ intervalMs: 5 });
    let during: ReturnType<typeof threadpool.stats>;
    try {
      // A skipped tick means the previous probe is still in flight (waiting for a thread).
      await until(() => monitor.stats().skipped > 0, 10_000, 'a skipped tick');
      during = threadpool.stats();
    } finally {
      monitor.stop();
    }
    await Promise.all(blockers);
    // measureSize() holds every thread with probe jobs at once: not jobs of this pool either.
    await until(() => other.stats().inFlight === 0 && threadpool.stats().running === 0, 10_000, 'a quiet pool');
    threadpool.resetStats();
    expect(await threadpool.measureSize()).toBe(POOL_SIZE);
    const after = threadpool.stats();
    const pick = (s: typeof during) => ({
      submitted: s.submitted,
      inFlight: s.inFlight,
      queued: s.queued,
      running: s.running,
      maxConcurrencySeen: s.maxConcurrencySeen,
      probe: s.kernels.probe,
    });
    const zero = { submitted: 0, inFlight: 0, queued: 0, running: 0, maxConcurrencySeen: 0, probe: undefined };
    expect({ duringMonitor: pick(during), afterMeasureSize: pick(after) }).toEqual({ duringMonitor: zero, afterMeasureSize: zero });
  });

  test('monitorSaturation validates its options', () => {
    for (const options of [{ intervalMs: 0 }, { intervalMs: -5 }, { maxSamples: 0 }, { maxSamples: 1.5 }]) {
      let code: string | undefined;
      try {
        threadpool.monitorSaturation(options).stop();
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(code).toBe('ERR_OUT_OF_RANGE');
    }
  });
});
