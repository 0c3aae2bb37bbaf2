/**
 * The traced process's pool threads, read at the trace's cadence: `sample()` (called by the main
 * thread's 100 ms tick in register.ts) returns every known pool thread's cumulative CPU time and
 * run-queue wait (`readPoolThreadTimes`, Linux schedstat), whoever's work the threads ran. The
 * threads are found by `threadpool.monitorThreads()`, started by the first `sample()` that may
 * start it: the first tick, after the entry module ran (a UV_THREADPOOL_SIZE it sets still
 * applies; its discovery probes start the pool if nothing did). A process that ends before its
 * first tick has no pool-thread figures and never had its pool started by the trace.
 *
 * Discovery probes queue behind the work already in libuv's queue, so a busy pool's threads are
 * found late; their totals count from their start all the same, and the time each thread started
 * (`/proc/self/task/<tid>/stat` against `/proc/uptime`, both boot-time clocks in 10 ms ticks) is
 * read once when it is found, so that its figures cover the whole run (startsNs).
 * Lifetime: from construction to `stop()`, which ends discovery; nothing keeps the process alive.
 * @internal
 * @module
 */
import fs from 'node:fs';

import { monitorThreads } from '../threadpool/threadpool';
import { PoolThreadMonitor, poolThreadTimesSupported, readPoolThreadTimes } from '../threadpool/threads';
import type { PoolThreadSample } from './format';

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux architecture Node runs on; checked against this process's age). */
const USER_HZ = 100;

/** Seconds since boot (boot-time clock), from /proc/uptime. */
function uptimeS(): number {
  return Number(fs.readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
}

/** A task's start, s since boot: field 22 of its stat (after the command name, which may hold spaces and parentheses). */
function startedS(statPath: string): number {
  const stat = fs.readFileSync(statPath, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) / USER_HZ;
}

/**
 * How long ago each thread started, ns (NaN where it cannot be told: the files are unreadable,
 * or this process's own age by /proc disagrees with Node's by more than a second, so the tick
 * unit is not what it seems).
 */
function threadAgesNs(tids: readonly number[]): number[] {
  try {
    const now = uptimeS();
    if (Math.abs(now - startedS('/proc/self/stat') - process.uptime()) > 1) return tids.map(() => NaN);
    return tids.map((tid) => {
      try {
        return Math.max(0, (now - startedS(`/proc/self/task/${tid}/stat`)) * 1e9);
      } catch {
        return NaN;
      }
    });
  } catch {
    return tids.map(() => NaN);
  }
}

export class PoolThreadSampler {
  #monitor?: PoolThreadMonitor;
  /** When each thread found started (hrtime ns), -1n where it cannot be told. */
  readonly #starts = new Map<number, bigint>();
  #expectedThreads = 0;
  #stopped = false;
  #unavailable?: string = poolThreadTimesSupported
    ? undefined
    : `per-thread CPU and run-queue times come from /proc/self/task/<tid>/schedstat: Linux only, this is ${process.platform}`;

  /** Why there are no pool-thread figures (unsupported platform, or the monitor failed to start). */
  get unavailable(): string | undefined {
    return this.#unavailable;
  }

  /**
   * The known pool threads' totals now; undefined when none is known (yet). `discover`: start
   * the thread discovery if it has not started (false for the last sample, taken at exit).
   */
  sample(discover = true): PoolThreadSample | undefined {
    if (this.#stopped || this.#unavailable !== undefined) return undefined;
    if (!this.#monitor) {
      if (!discover) return undefined;
      try {
        this.#monitor = monitorThreads();
        this.#expectedThreads = this.#monitor.stats().expectedThreads;
      } catch (error) {
        this.#unavailable = String((error as Error).message).split('\n')[0];
        return undefined;
      }
    }
    let totals;
    const beforeNs = process.hrtime.bigint();
    try {
      totals = readPoolThreadTimes();
    } catch (error) {
      // Never the host's problem: the figures stop here, and the summary says why.
      this.#unavailable = String((error as Error).message).split('\n')[0];
      this.stop();
      return undefined;
    }
    if (!totals.length) return undefined;
    // The figures were read between the two clock reads.
    const timeNs = beforeNs + (process.hrtime.bigint() - beforeNs) / 2n;
    const found = totals.filter((t) => !this.#starts.has(t.tid));
    if (found.length) {
      const ages = threadAgesNs(found.map((t) => t.tid));
      found.forEach((t, i) => {
        // Its CPU and waiting time fit in its life: a rounded age never says otherwise.
        const ageNs = Math.max(ages[i], t.cpuNs + (t.runQueueWaitNs ?? 0));
        this.#starts.set(t.tid, Number.isNaN(ages[i]) ? -1n : timeNs - BigInt(Math.round(ageNs)));
      });
    }
    const tids = new Int32Array(totals.length);
    const figures = new Float64Array(totals.length * 2);
    const startsNs = new BigInt64Array(totals.length);
    totals.forEach((t, i) => {
      tids[i] = t.tid;
      figures[i * 2] = t.cpuNs;
      figures[i * 2 + 1] = t.runQueueWaitNs ?? NaN;
      startsNs[i] = this.#starts.get(t.tid)!;
    });
    return { timeNs, expectedThreads: this.#expectedThreads, tids, figures, startsNs };
  }

  stop(): void {
    this.#stopped = true;
    this.#monitor?.stop();
  }
}
