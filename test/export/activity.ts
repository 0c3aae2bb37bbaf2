/**
 * What the exporter tests share: real loop and pool activity (a setImmediate chain, fs reads,
 * jobs with three outcomes), a stall of a known length, and hash jobs timed through the job
 * channel with the check of histogram bucket counts against each job's own run time. Used by
 * prometheus.test.ts and opentelemetry.test.ts; holds no state between tests.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { threadpool } from '../../src';
import type { StallEvent, StallWatchdog, ThreadPool } from '../../src';
import { JOB_CHANNEL } from '../../src/channels';
import type { JobRecord } from '../../src/channels';
import { SLOWDOWN } from '../helpers';

export const MISSING_FILE = path.join(os.tmpdir(), `uvscope-exporters-missing-${process.pid}`);

export const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function blockLoop(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a long iteration on purpose
  }
}

// A stall of a known length: the watchdog's threshold, and a block six times as long.
export const STALL_THRESHOLD_MS = 50 * SLOWDOWN;
export const STALL_BLOCK_MS = 300 * SLOWDOWN;

/**
 * Blocks the loop for STALL_BLOCK_MS in a setImmediate callback and resolves with the
 * watchdog's 'stall' event for it (the first one at least as long as the block), and the time
 * from before the block was scheduled to the event: the upper bound of its duration.
 */
export async function knownStall(watchdog: StallWatchdog): Promise<{ event: StallEvent; boundNs: number }> {
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
export async function activity(pool: ThreadPool = threadpool): Promise<void> {
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
export const JOB_BOUNDS_S = [
  2_500, 2 ** 12 + 5 * 2 ** 6 - 1, 10_000, 2 ** 14 + 17 * 2 ** 8 - 1, 50_000, 2 ** 17 - 1, 250_000, 2 ** 19 + 33 * 2 ** 13 - 1, 1_000_000,
  2 ** 21 + 2 ** 15 - 1, 10_000_000,
].map((ns) => ns / 1e9);

/** Hash jobs of 1 KiB to 1 MiB on `pool`; resolves with each one's run time, ns, from the job channel. */
export async function timedJobs(pool: ThreadPool): Promise<number[]> {
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
export function expectBucketCounts(values: number[], boundsS: readonly number[], countAt: (boundS: number) => number): void {
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

/**
 * A known load on the pool threads: spin jobs (a spin burns CPU until its wall-clock duration
 * has passed, so its thread is on a CPU or waiting for one all that time), as many at once as
 * the pool has threads, then half as many. Resolves with the thread time injected, seconds:
 * what the pool threads' CPU time plus run-queue wait must grow by (and a little more for
 * whatever else ran on the pool meanwhile).
 */
export async function spinLoad(threads: number, ms = 120 * SLOWDOWN): Promise<number> {
  await Promise.all(Array.from({ length: threads }, () => threadpool.spin(ms)));
  const half = Math.max(1, threads >> 1);
  await Promise.all(Array.from({ length: half }, () => threadpool.spin(ms)));
  return ((threads + half) * ms) / 1000;
}

/** Polls `read` (a scrape or a collection) until `done(value)`, at most `timeoutMs`; resolves with the last value. */
export async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000 * SLOWDOWN): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(10);
  }
}
