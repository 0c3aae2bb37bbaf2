/**
 * monitorThreads(): pool threads found and measured from the kernel. Pool size and load are
 * process-wide, so each case runs in a child (fixtures/pool-threads-child.js) with its own
 * UV_THREADPOOL_SIZE. Loads are checked against independent figures: the thread names libuv
 * 1.50+ gives its workers, the durations of a real addon's (bcrypt's) jobs, and that a thread
 * spinning on a CPU-starved machine is either on a CPU or waiting for one.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { threadpool } from '../../src';
import { thrown, SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const CHILD = path.join(__dirname, 'fixtures', 'pool-threads-child.js');
const run = promisify(execFile);

async function child<T>(mode: string, poolSize: number): Promise<T> {
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(poolSize) };
  const { stdout } = await run(process.execPath, [CHILD, LIB, mode], { env, timeout: 30_000 * SLOWDOWN });
  return JSON.parse(stdout) as T;
}

const [uvMajor, uvMinor] = process.versions.uv.split('.').map(Number);
const libuvNamesWorkers = uvMajor > 1 || uvMinor >= 50;

describe('monitorThreads() finds the pool threads', () => {
  test.each([1, 4, 8])('UV_THREADPOOL_SIZE=%i: that many distinct threads of this process, not the main thread', async (size) => {
    const result = await child<{ tids: number[]; expected: number; discovering: boolean; again: number[]; tasks: Record<string, string>; mainTid: number }>('discover', size);
    expect(result.expected).toBe(size);
    expect(result.discovering).toBe(false);
    expect(new Set(result.tids).size).toBe(size);
    for (const tid of result.tids) expect(result.tasks[tid]).toBeDefined();
    expect(result.tids).not.toContain(result.mainTid);
    expect(result.again.sort()).toEqual([...result.tids].sort()); // the registry is process-wide
    if (libuvNamesWorkers) {
      // libuv 1.50+ names its workers: an independent list of the same threads.
      const named = Object.entries(result.tasks).filter(([, comm]) => comm === 'libuv-worker').map(([tid]) => Number(tid));
      expect([...result.tids].sort()).toEqual(named.sort());
    }
  }, 40_000 * SLOWDOWN);

  test('a thread busy with work of another addon when discovery starts is found once it is free', async () => {
    const result = await child<{ tids: number[]; discovering: boolean; hashDone: boolean }>('busy-thread', 4);
    expect(new Set(result.tids).size).toBe(4);
    expect(result.discovering).toBe(false);
    expect(result.hashDone).toBe(true); // the fourth thread could only be found after the hash
  }, 40_000 * SLOWDOWN);

  test('a pool smaller than UV_THREADPOOL_SIZE says (raised after the pool started): the threads there are, then discovery gives up', async () => {
    const result = await child<{ tids: number[]; expected: number; discovering: boolean }>('smaller-pool', 2);
    expect(result.expected).toBe(8);
    expect(new Set(result.tids).size).toBe(2);
    expect(result.discovering).toBe(false);
  }, 40_000 * SLOWDOWN);
});

describe('monitorThreads() measures work it never submitted', () => {
  test("a real addon's pool jobs (bcrypt): busy + waiting within 0.1 of the load injected", async () => {
    const result = await child<{ busyRatio: number; runQueueRatio: number; injected: number; threads: number; uvscopeJobs: number }>('bcrypt', 4);
    expect(result.threads).toBe(4);
    expect(result.uvscopeJobs).toBe(0); // none of this load went through uvscope
    // Two hashes always in flight on four threads: about half the pool.
    expect(result.injected).toBeGreaterThan(0.4);
    expect(Math.abs(result.busyRatio + result.runQueueRatio - result.injected)).toBeLessThan(0.1);
    expect(result.busyRatio).toBeGreaterThan(0.1);
  }, 40_000 * SLOWDOWN);

  test('oversubscription: 8 threads spinning are each on a CPU or waiting for one; with few CPUs mostly waiting', async () => {
    const result = await child<{ busyRatio: number; runQueueRatio: number; threads: number; cpus: number }>('oversubscribed', 8);
    expect(result.threads).toBe(8);
    expect(Math.abs(result.busyRatio + result.runQueueRatio - 1)).toBeLessThan(0.15);
    // At most `cpus` of the 8 threads run at a time.
    expect(result.busyRatio).toBeLessThanOrEqual(Math.min(1, result.cpus / 8) + 0.05);
    if (result.cpus <= 4) expect(result.runQueueRatio).toBeGreaterThan(result.busyRatio);
  }, 40_000 * SLOWDOWN);
});

describe('monitorThreads() options', () => {
  test.each([
    [{ discoveryTimeoutMs: -1 }, 'options.discoveryTimeoutMs'],
    [{ maxHoldMs: 0 }, 'options.maxHoldMs'],
    [{ maxHoldMs: 'x' }, 'options.maxHoldMs'],
  ])('%j is refused naming %s', (options, name) => {
    const error = thrown(() => threadpool.monitorThreads(options as never));
    expect(error.message).toContain(name);
    expect(['ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE']).toContain((error as { code?: string }).code);
  });

  test('stats() before discovery ends, reset() and stop() never throw; the window restarts at reset()', async () => {
    const monitor = threadpool.monitorThreads();
    const early = monitor.stats();
    expect(early.expectedThreads).toBeGreaterThan(0);
    await monitor.ready;
    const before = monitor.stats();
    monitor.reset();
    const after = monitor.stats();
    expect(after.windowNs).toBeLessThan(before.windowNs);
    for (const t of after.threads) expect(t.windowNs).toBeLessThanOrEqual(after.windowNs);
    monitor.stop();
    monitor.stop();
    expect(monitor.stats().threads.length).toBe(before.threads.length);
  });
});
