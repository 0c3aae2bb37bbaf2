/**
 * Node's own requests on libuv's pool, seen from JavaScript: `monitorPoolRequests()` counts fs,
 * dns.lookup, node:crypto, zlib and uvscope's own jobs by kind, with their latency (submitted
 * to callback) and how many were in flight. A monitor is a sink of its thread's request
 * tracker (tracker.ts), which runs while at least one monitor does and sees the requests
 * through wrappers of Node's internal functions (wrapper-source.ts) or, for monitors that leave
 * Node's fs binding alone, through an async_hooks hook (hook-source.ts). Every settled request
 * is handed to each running monitor and published on `uvscope:threadpool:request` while it has
 * subscribers (recorder.ts).
 * @module
 */
import { performance } from 'node:perf_hooks';

import { validateBoolean, validateObject } from '../errors';
import type { HistogramSummary } from '../histogram/summary';
import type { PoolRequestRecord } from '../channels';
import { LogHistogram } from '../histogram/log-histogram';
import { EVENT_SIZE, LoggedEvent, type Sink } from './recorder';
import { RequestTracker } from './tracker';

export type { PoolRequestRecord } from '../channels';
export { POOL_REQUEST_CHANNEL } from '../channels';

/** Requests of one kind in a monitor's window. */
export interface PoolRequestKindStats {
  /** Settled with success. */
  completed: number;
  /** Settled with an error (an Error or dns status passed to its callback, or a rejected promise). */
  failed: number;
  /** uvscope's own jobs only: cancelled before they ran. */
  cancelled: number;
  /**
   * Submitted while the monitor ran and not settled yet. Always 0 for uvscope's jobs, whose
   * kernel is told only when they settle (they are in the total `inFlight`, and per pool in
   * `threadpool.stats()`).
   */
  inFlight: number;
  /** Submitted to callback, ns, of the requests settled in the window. */
  latency: HistogramSummary;
}

export interface PoolRequestStats {
  /** Per kind, the kinds seen in the window (or still in flight). */
  requests: Record<string, PoolRequestKindStats>;
  /** Requests of every kind in flight: now, the most at once, and the time-weighted mean over the window. */
  inFlight: { now: number; max: number; mean: number };
  /** Window length, ns (since start or the last reset()). */
  windowNs: number;
  /** Whether fs requests are named by operation (`fs.stat`) rather than all `fs`. */
  fsOperations: boolean;
  /**
   * Whether an async_hooks hook sees the requests (while a monitor with `fsOperations: false`
   * runs on this thread, until no monitor does, or where Node's bindings cannot be reached);
   * false: wrappers of Node's functions do, and no hook runs.
   */
  asyncHooks: boolean;
  /** Whether Node's promise hooks run for it (the hook on Node 20 and 22, which cannot turn them off; detected at run time). */
  promiseHooks: boolean;
}

export interface PoolRequestMonitorOptions {
  /**
   * Name fs requests by operation (`fs.stat`, `fs.read`). `false` leaves Node's fs binding
   * alone and names them all `fs`; the thread's requests are then seen through an async_hooks
   * hook, which costs more (docs/pool-requests.md). Default true.
   */
  fsOperations?: boolean;
}

export interface PoolRequestMonitor {
  stats(): PoolRequestStats;
  /** Clears the counts and starts a new window; requests in flight still settle and count. */
  reset(): void;
  /** Stops monitoring (idempotent); stats() keeps answering with the last window. */
  stop(): void;
}

let tracker: RequestTracker | undefined;

/** @internal */
export class KindCounts {
  completed = 0;
  failed = 0;
  cancelled = 0;
  inFlight = 0;
  latency = new LogHistogram();
}

class Monitor implements PoolRequestMonitor, Sink {
  #kinds = new Map<string, KindCounts>();
  /** What the tracker used, as of stop(). */
  #stoppedWith: { fsOperations: boolean; asyncHooks: boolean; promiseHooks: boolean } | undefined;
  #firstSeq: number;
  #startedAtNs: bigint;
  #windowStartMs: number;
  #stoppedAtMs: number | undefined;
  #now = 0;
  #max = 0;
  #areaMs = 0;
  #lastChangeMs: number;

  constructor(
    private readonly tracker: RequestTracker,
    private readonly fsOperations: boolean,
  ) {
    this.#firstSeq = tracker.recorder.nextSeq();
    this.#startedAtNs = process.hrtime.bigint();
    this.#windowStartMs = this.#lastChangeMs = performance.now();
    tracker.add(this, fsOperations);
  }

  #advance(atMs: number): void {
    if (atMs > this.#lastChangeMs) {
      this.#areaMs += this.#now * (atMs - this.#lastChangeMs);
      this.#lastChangeMs = atMs;
    }
  }

  /** The kind looked up last and its counts (requests come in runs of one kind). */
  #lastKind: string | undefined;
  #lastCounts: KindCounts | undefined;
  /** This monitor's counts by the log's kind ids. */
  #countsById: Array<KindCounts | undefined> = [];

  #countsOf(kind: string): KindCounts {
    if (kind === this.#lastKind) return this.#lastCounts!;
    let counts = this.#kinds.get(kind);
    if (counts === undefined) this.#kinds.set(kind, (counts = new KindCounts()));
    this.#lastKind = kind;
    this.#lastCounts = counts;
    return counts;
  }

  /** Without fsOperations every fs request is `fs` here, even while another monitor names them. */
  #ownKind(kind: string): string {
    return this.fsOperations || !kind.startsWith('fs.') ? kind : 'fs';
  }

  consume(log: Float64Array, length: number, kinds: readonly string[]): void {
    // The in-flight figures in locals for the batch (what #advance does, inline).
    const firstSeq = this.#firstSeq;
    let now = this.#now;
    let max = this.#max;
    let areaMs = this.#areaMs;
    let lastChangeMs = this.#lastChangeMs;
    for (let i = 0; i < length; i += EVENT_SIZE) {
      const code = log[i] | 0;
      const type = code & 3;
      const id = code >> 2;
      let counts = this.#countsById[id];
      if (counts === undefined) this.#countsById[id] = counts = this.#countsOf(this.#ownKind(kinds[id]));
      const atMs = log[i + 2];
      if (type !== LoggedEvent.Submitted && log[i + 1] < firstSeq) continue;
      if (atMs > lastChangeMs) {
        areaMs += now * (atMs - lastChangeMs);
        lastChangeMs = atMs;
      }
      if (type === LoggedEvent.Submitted) {
        if (++now > max) max = now;
        counts.inFlight++;
        continue;
      }
      now--;
      counts.inFlight--;
      if (type === LoggedEvent.Completed) counts.completed++;
      else counts.failed++;
      counts.latency.record(log[i + 3]);
    }
    this.#now = now;
    this.#max = max;
    this.#areaMs = areaMs;
    this.#lastChangeMs = lastChangeMs;
  }

  submitted(kind: string | undefined, atMs: number): void {
    this.#advance(atMs);
    this.#now++;
    if (this.#now > this.#max) this.#max = this.#now;
    if (kind !== undefined) this.#countsOf(this.#ownKind(kind)).inFlight++;
  }

  relabeled(from: string, to: string): void {
    if (this.#ownKind(to) === from) return;
    const counts = this.#kinds.get(from);
    if (counts === undefined || counts.inFlight === 0) return;
    counts.inFlight--;
    this.#countsOf(to).inFlight++;
  }

  returned(kind: string, seq: number, atMs: number): void {
    if (seq < this.#firstSeq) return;
    this.#advance(atMs);
    this.#now--;
    this.#countsOf(this.#ownKind(kind)).inFlight--;
  }

  withdrawn(kind: string, seq: number, atMs: number): void {
    this.returned(kind, seq, atMs);
  }

  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number, counted: boolean): void {
    // Node's requests carry their sequence number; uvscope's jobs the negated time they were queued.
    if (seq >= 0 ? seq < this.#firstSeq : BigInt(-seq) < this.#startedAtNs) return;
    const counts = this.#countsOf(this.#ownKind(kind));
    if (!counted) {
      this.#advance(atMs);
      this.#now--;
      if (seq >= 0) counts.inFlight--;
    }
    if (outcome === 'completed') counts.completed++;
    else if (outcome === 'failed') counts.failed++;
    else counts.cancelled++;
    counts.latency.record(latencyNs);
  }

  stats(): PoolRequestStats {
    if (this.#stoppedAtMs === undefined) this.tracker.recorder.flush();
    const endMs = this.#stoppedAtMs ?? performance.now();
    if (this.#stoppedAtMs === undefined) this.#advance(endMs);
    const windowMs = endMs - this.#windowStartMs;
    const requests: Record<string, PoolRequestKindStats> = {};
    for (const [kind, counts] of [...this.#kinds].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (counts.completed + counts.failed + counts.cancelled + counts.inFlight === 0) continue;
      requests[kind] = {
        completed: counts.completed,
        failed: counts.failed,
        cancelled: counts.cancelled,
        inFlight: counts.inFlight,
        latency: counts.latency.summary(),
      };
    }
    return {
      requests,
      inFlight: { now: this.#now, max: this.#max, mean: windowMs > 0 ? this.#areaMs / windowMs : 0 },
      windowNs: Math.round(windowMs * 1e6),
      ...(this.#stoppedWith ?? this.#trackerState()),
    };
  }

  #trackerState() {
    return {
      fsOperations: this.fsOperations && this.tracker.fsOperations,
      asyncHooks: this.tracker.usesHooks,
      promiseHooks: this.tracker.promiseHooks,
    };
  }

  reset(): void {
    if (this.#stoppedAtMs === undefined) this.tracker.recorder.flush();
    const now = this.#stoppedAtMs ?? performance.now();
    this.#lastKind = this.#lastCounts = undefined;
    this.#countsById = [];
    for (const [kind, counts] of this.#kinds) {
      if (counts.inFlight === 0) this.#kinds.delete(kind);
      else this.#kinds.set(kind, Object.assign(new KindCounts(), { inFlight: counts.inFlight }));
    }
    this.#windowStartMs = this.#lastChangeMs = now;
    this.#areaMs = 0;
    this.#max = this.#now;
  }

  stop(): void {
    if (this.#stoppedAtMs !== undefined) return;
    this.tracker.recorder.flush();
    this.#stoppedAtMs = performance.now();
    this.#advance(this.#stoppedAtMs);
    this.#stoppedWith = this.#trackerState();
    this.tracker.remove(this, this.fsOperations);
  }

  /** @internal Counts and histograms by kind, live (the exporters read them at scrape time). */
  kindCounts(): ReadonlyMap<string, KindCounts> {
    if (this.#stoppedAtMs === undefined) this.tracker.recorder.flush();
    return this.#kinds;
  }
}

/**
 * Starts counting the requests Node itself puts on libuv's pool (fs, dns.lookup, node:crypto,
 * zlib) and uvscope's own jobs, by kind, with their latency. Opt-in: while any monitor runs,
 * functions of Node's internal objects that start and complete pool requests are wrapped (no
 * async_hooks; with `fsOperations: false`, an async_hooks hook sees every async resource this
 * thread creates instead). Costs are measured in `npm run bench:requests`. Only this thread's
 * requests are seen: a worker thread's own requests need a monitor in that worker.
 */
export function monitorPoolRequests(options: PoolRequestMonitorOptions = {}): PoolRequestMonitor {
  return startMonitor(options);
}

/** @internal A monitor whose counts and histograms the exporters read live at scrape time. */
export function monitorPoolRequestsLive(): PoolRequestMonitor & { kindCounts(): ReadonlyMap<string, KindCounts> } {
  return startMonitor({});
}

function startMonitor(options: PoolRequestMonitorOptions): Monitor {
  validateObject('options', options);
  validateBoolean('options.fsOperations', options.fsOperations);
  const fsOperations = options.fsOperations ?? true;
  tracker ??= new RequestTracker();
  return new Monitor(tracker, fsOperations);
}
