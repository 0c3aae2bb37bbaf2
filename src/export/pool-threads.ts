/**
 * The pool threads' CPU and run-queue time as exporter counters (Linux): `PoolThreadCounters`
 * sums, over libuv's pool threads, what each did since the exporter first saw it (never what it
 * did before, so a thread found late adds no jump a `rate()` would misread), keeping every total
 * monotonic; `acquirePoolThreadDiscovery` finds the threads, once per JavaScript thread however
 * many exporters ask. Lifetime: the counters live as long as their exporter's sampler; a
 * discovery runs until every expected thread is found, 10 s have passed, or its last exporter
 * stopped (then its round in progress ends within the probes' 20 ms hold).
 * @internal
 * @module
 */
import { native } from '../native';
import { parsePoolSize } from '../threadpool/size';
import { ThreadPool } from '../threadpool/threadpool';
import { monitorThreadsOn, poolThreadTimesSupported, readPoolThreadTimes } from '../threadpool/threads';
import type { PoolThreadMonitor } from '../threadpool/threads';

/** The pool threads' figures at one read-out. */
export interface PoolThreadSample {
  /** Pool threads seen so far (each counted from its first sight). */
  threads: number;
  /** Their time on a CPU since first seen, ns; never decreases. */
  cpuNs: number;
  /** Their time runnable but waiting for a CPU since first seen, ns; never decreases. */
  runQueueWaitNs: number;
}

interface ThreadFigures {
  cpuNs: number;
  runQueueWaitNs: number;
}

/** Sums of the pool threads' kernel figures since each was first seen by this instance. */
export class PoolThreadCounters {
  /** Per tid: its cumulative figures when first seen. */
  readonly #first = new Map<number, ThreadFigures>();
  /** Per tid: the most it had done since, at the latest read (kept for a thread that cannot be read). */
  readonly #since = new Map<number, ThreadFigures>();

  /** Takes the first figures of registered threads not seen yet: they count from now. */
  note(): void {
    this.read();
  }

  read(): PoolThreadSample {
    for (const t of readPoolThreadTimes()) {
      const wait = t.runQueueWaitNs ?? 0;
      const first = this.#first.get(t.tid);
      if (!first) {
        this.#first.set(t.tid, { cpuNs: t.cpuNs, runQueueWaitNs: wait });
        this.#since.set(t.tid, { cpuNs: 0, runQueueWaitNs: 0 });
        continue;
      }
      const since = this.#since.get(t.tid)!;
      since.cpuNs = Math.max(since.cpuNs, t.cpuNs - first.cpuNs);
      since.runQueueWaitNs = Math.max(since.runQueueWaitNs, wait - first.runQueueWaitNs);
    }
    let cpuNs = 0;
    let runQueueWaitNs = 0;
    for (const since of this.#since.values()) {
      cpuNs += since.cpuNs;
      runQueueWaitNs += since.runQueueWaitNs;
    }
    return { threads: this.#since.size, cpuNs, runQueueWaitNs };
  }
}

/** A hold on the shared discovery: `ready` settles when it ends (never rejects). */
export interface PoolThreadDiscoveryLease {
  readonly ready: Promise<void>;
  /** Idempotent. The last lease released stops the discovery. */
  release(): void;
}

interface SharedDiscovery {
  users: number;
  monitor: PoolThreadMonitor;
  ready: Promise<void>;
}

// One discovery per JavaScript thread (globalThis is per thread), shared by its exporters.
const DISCOVERY_KEY = Symbol.for('uvscope.exporters.poolThreadDiscovery');

/**
 * Starts finding the pool threads unless every expected one is registered already or a
 * discovery of this thread is running (then joins it). The probes run on a queue of their own,
 * not the default pool's, so that they leave nothing behind on it; they are excluded from job
 * statistics. Nothing to do where the platform has no per-thread figures.
 */
export function acquirePoolThreadDiscovery(): PoolThreadDiscoveryLease {
  const expected = Math.min(1024, parsePoolSize(process.env.UV_THREADPOOL_SIZE));
  const holder = globalThis as { [DISCOVERY_KEY]?: SharedDiscovery };
  let shared = holder[DISCOVERY_KEY];
  if (!shared) {
    if (!poolThreadTimesSupported || native.poolThreadIds().length >= expected) {
      return { ready: Promise.resolve(), release() {} };
    }
    const monitor = monitorThreadsOn(new ThreadPool().nativeQueue);
    const created: SharedDiscovery = {
      users: 0,
      monitor,
      ready: monitor.ready.then(() => {
        if (holder[DISCOVERY_KEY] === created) delete holder[DISCOVERY_KEY];
      }),
    };
    shared = created;
    holder[DISCOVERY_KEY] = shared;
  }
  const lease = shared;
  lease.users++;
  let released = false;
  return {
    ready: lease.ready,
    release(): void {
      if (released) return;
      released = true;
      if (--lease.users > 0) return;
      lease.monitor.stop();
      if (holder[DISCOVERY_KEY] === lease) delete holder[DISCOVERY_KEY];
    },
  };
}
