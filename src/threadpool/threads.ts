/**
 * The pool's threads measured by the kernel, whoever's work they run (fs, dns, zlib,
 * node:crypto, other addons' `uv_queue_work`, uvscope's jobs): `monitorThreadsOn` finds the
 * pool threads' kernel ids and reads each thread's CPU time and run-queue wait (runnable, waiting
 * for a CPU) from `/proc/self/task/<tid>/schedstat` (Linux); `readPoolThreadTimes` gives the
 * cumulative figures to the exporters and the trace.
 *
 * Discovery: every pool thread registers its id with the addon the first time it runs a uvscope
 * job (libuv does not say which threads are its own, and names them only from 1.50). To reach
 * every thread, discovery submits one hold probe per expected thread; a probe waits for the
 * others at most `maxHoldMs` (so a busy pool is never held long), and rounds repeat every
 * 100 ms (doubling up to 5 s after a round that finds nothing new) until every expected thread
 * is known or `discoveryTimeoutMs` has passed.
 *
 * Lifetime: a monitor reads only when asked (`stats()`); between discovery rounds it holds an
 * unref'd timer, so it never keeps the process alive; `stop()` ends discovery.
 * @module
 */
import { codedError, validateNumber, validateObject } from '../errors';
import { JobFlag, native, NativeWorkQueue } from '../native';
import { parsePoolSize } from './size';

/** One pool thread's figures over a monitor's window. */
export interface PoolThreadTimes {
  /** Kernel thread id (as in /proc/self/task). */
  tid: number;
  /** Time on a CPU in the window, ns: work of any kind (fs, crypto, zlib, addons, uvscope). */
  cpuNs: number;
  /** Time runnable but waiting for a CPU in the window, ns (absent where the platform has no such figure). */
  runQueueWaitNs?: number;
  /** The part of the window this thread was known for, ns (shorter than `windowNs` when found later). */
  windowNs: number;
}

/** What {@link PoolThreadMonitor.stats} returns. */
export interface PoolThreadStats {
  /** Time since the monitor started or was reset, ns. */
  windowNs: number;
  /** The pool threads found so far, in the order they were found. */
  threads: PoolThreadTimes[];
  /** Threads libuv runs, from UV_THREADPOOL_SIZE as libuv reads it. */
  expectedThreads: number;
  /** True until every expected thread is found (or discovery gave up). */
  discovering: boolean;
  /** CPU time of the pool threads over their windows: 1 = every thread on a CPU all the time. 0 with no thread found. */
  busyRatio: number;
  /** Run-queue wait of the pool threads over their windows: threads ready to work but not given a CPU (oversubscription). */
  runQueueRatio?: number;
}

/** A running pool-thread monitor. */
export interface PoolThreadMonitor {
  /**
   * Settles when discovery ends: every expected thread found, or `discoveryTimeoutMs` passed, or
   * stopped. Never rejects. Between discovery rounds nothing keeps the process alive, so a
   * process with nothing else to do may exit before it settles.
   */
  readonly ready: Promise<void>;
  stats(): PoolThreadStats;
  /** Starts a new window now. */
  reset(): void;
  /** Ends discovery; `stats()` keeps working on the threads found. */
  stop(): void;
}

/** Options of `monitorThreads()`. */
export interface PoolThreadMonitorOptions {
  /** Give up looking for threads not found after this long, ms (default 10,000). */
  discoveryTimeoutMs?: number;
  /** How long a discovery probe may hold its thread waiting for the others, ms (default 20). */
  maxHoldMs?: number;
}

/** Cumulative figures of one pool thread since it started. */
export interface PoolThreadTotals {
  tid: number;
  cpuNs: number;
  /** Absent where the platform has no run-queue figure. */
  runQueueWaitNs?: number;
}

const ROUND_INTERVAL_MS = 100;
const MAX_ROUND_INTERVAL_MS = 5_000;

/** Whether this platform gives per-thread CPU and run-queue time (Linux schedstat). */
export const poolThreadTimesSupported = process.platform === 'linux';

/** @internal The registered pool threads' cumulative figures; threads that cannot be read are left out. */
export function readPoolThreadTimes(tids: Int32Array = native.poolThreadIds()): PoolThreadTotals[] {
  const figures = new Float64Array(tids.length * 3);
  if (!native.readThreadTimes(tids, figures)) return [];
  const result: PoolThreadTotals[] = [];
  for (let i = 0; i < tids.length; i++) {
    const cpuNs = figures[i * 3];
    if (Number.isNaN(cpuNs)) continue;
    result.push({ tid: tids[i], cpuNs, runQueueWaitNs: figures[i * 3 + 1] });
  }
  return result;
}

/** @internal Discovery rounds until `expected` pool threads are registered, or `shouldStop()`. */
async function discoverThreads(queue: NativeWorkQueue, expected: number, maxHoldMs: number, shouldStop: () => boolean): Promise<void> {
  let intervalMs = ROUND_INTERVAL_MS;
  while (native.poolThreadIds().length < expected && !shouldStop()) {
    const foundBefore = native.poolThreadIds().length;
    const barrier = new native.NativeBarrier(expected, maxHoldMs);
    const probes: Promise<void>[] = [];
    for (let i = 0; i < expected; i++) probes.push(queue.hold(barrier, JobFlag.ExcludeStats)!);
    await Promise.allSettled(probes);
    const found = native.poolThreadIds().length;
    if (found >= expected || shouldStop()) return;
    // A round that found nothing new: the missing threads are busy for long, or the pool is
    // smaller than UV_THREADPOOL_SIZE says (changed after the pool started). Back off, so that
    // probes holding the free threads cost less and less.
    intervalMs = found > foundBefore ? ROUND_INTERVAL_MS : Math.min(intervalMs * 2, MAX_ROUND_INTERVAL_MS);
    await new Promise<void>((resolve) => setTimeout(resolve, intervalMs).unref());
  }
}

/** @internal `monitorThreads`' work, on `queue`. */
export function monitorThreadsOn(queue: NativeWorkQueue, options: PoolThreadMonitorOptions = {}): PoolThreadMonitor {
  validateObject('options', options);
  const discoveryTimeoutMs = options?.discoveryTimeoutMs ?? 10_000;
  const maxHoldMs = options?.maxHoldMs ?? 20;
  validateNumber('options.discoveryTimeoutMs', discoveryTimeoutMs, { min: 0, max: 3_600_000 });
  validateNumber('options.maxHoldMs', maxHoldMs, { min: 1, max: 10_000 });
  if (!poolThreadTimesSupported) {
    throw codedError(
      `monitorThreads() needs per-thread schedstat, which ${process.platform} does not have (Linux only)`,
      'ERR_UVSCOPE_UNSUPPORTED_PLATFORM',
    );
  }
  const expectedThreads = Math.min(1024, parsePoolSize(process.env.UV_THREADPOOL_SIZE));
  // Per thread: its figures and time when the window began for it.
  let windowStartNs = process.hrtime.bigint();
  let baselines = new Map<number, { cpuNs: number; runQueueWaitNs: number; atNs: bigint }>();
  let stopped = false;
  let discovering = true;
  const deadline = Date.now() + discoveryTimeoutMs;

  const takeBaselines = (): void => {
    const now = process.hrtime.bigint();
    for (const t of readPoolThreadTimes()) {
      if (!baselines.has(t.tid)) baselines.set(t.tid, { cpuNs: t.cpuNs, runQueueWaitNs: t.runQueueWaitNs ?? 0, atNs: now });
    }
  };
  takeBaselines();
  const ready = discoverThreads(queue, expectedThreads, maxHoldMs, () => stopped || Date.now() >= deadline)
    .catch(() => undefined) // a probe cannot fail; a torn-down queue ends discovery
    .then(() => {
      discovering = false;
      takeBaselines();
    });

  return {
    ready,
    stats(): PoolThreadStats {
      takeBaselines(); // threads found since: their window starts now
      const now = process.hrtime.bigint();
      const threads: PoolThreadTimes[] = [];
      let cpuSum = 0;
      let waitSum = 0;
      let windowSum = 0;
      for (const t of readPoolThreadTimes()) {
        const base = baselines.get(t.tid);
        if (!base) continue;
        const windowNs = Number(now - base.atNs);
        let cpuNs = Math.max(0, t.cpuNs - base.cpuNs);
        let runQueueWaitNs = Math.max(0, (t.runQueueWaitNs ?? 0) - base.runQueueWaitNs);
        // The kernel charges a run-queue wait when the thread gets its CPU, and CPU time at ticks:
        // a wait begun before the window can land in it. A thread's time never exceeds its window.
        const overshoot = (cpuNs + runQueueWaitNs) / windowNs;
        if (overshoot > 1) {
          cpuNs /= overshoot;
          runQueueWaitNs /= overshoot;
        }
        threads.push({ tid: t.tid, cpuNs, runQueueWaitNs, windowNs });
        cpuSum += cpuNs;
        waitSum += runQueueWaitNs;
        windowSum += windowNs;
      }
      return {
        windowNs: Number(now - windowStartNs),
        threads,
        expectedThreads,
        discovering,
        busyRatio: windowSum > 0 ? cpuSum / windowSum : 0,
        runQueueRatio: windowSum > 0 ? waitSum / windowSum : 0,
      };
    },
    reset(): void {
      windowStartNs = process.hrtime.bigint();
      baselines = new Map();
      takeBaselines();
    },
    stop(): void {
      stopped = true;
    },
  };
}
