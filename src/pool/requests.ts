/**
 * Node's own requests on libuv's pool, seen from JavaScript: `monitorPoolRequests()` counts fs,
 * dns.lookup, node:crypto, zlib and uvscope's own jobs by kind, with their latency (submitted
 * to callback) and how many were in flight.
 *
 * One tracker per thread (async_hooks are per thread) runs while at least one monitor does: an
 * async_hooks hook whose `init` notes a request of a known type with its time, `before` the
 * time its callback starts, `after` its end; promise hooks are left off where Node allows it
 * (`trackPromises: false`, Node 24.9+ and 26), and promises are ignored where it does not. zlib
 * handles are one resource for many requests: each handle's `write` is wrapped on the instance
 * so each write is timed. uvscope's own jobs come from its job channel. Every settled request is
 * handed to each running monitor and published on `uvscope:threadpool:request` while it has
 * subscribers.
 * @module
 */
import { createHook } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

import { validateBoolean, validateObject } from '../errors';
import type { HistogramSummary } from '../histogram';
import { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, JobRecord } from '../threadpool';
import { LogHistogram } from './log-histogram';
import { acquireFsOperationNames, fsOperationNow, kindOf, releaseFsOperationNames } from './request-kinds';
import { startWatchingOutcomes, stopWatchingOutcomes, watchOutcomeOf } from './request-outcomes';

/** One settled pool request, as published on {@link POOL_REQUEST_CHANNEL}. */
export interface PoolRequestRecord {
  /** `fs.stat`, `fs` (operation unknown), `dns.lookup`, `crypto.pbkdf2`, `zlib`, `uvscope.sha256`... */
  kind: string;
  outcome: 'completed' | 'failed' | 'cancelled';
  /** When it was submitted, on uvscope's clock (`nowNs()`, process.hrtime.bigint()), ns. */
  submittedAtNs: number;
  /** Submitted to the start of its callback, ns: queue wait, run time and the return to the loop. */
  latencyNs: number;
}

/** The channel each settled request of Node's own is published on (not uvscope's jobs: see JOB_CHANNEL). */
export const POOL_REQUEST_CHANNEL = 'uvscope:threadpool:request';
const requestChannel = diagnosticsChannel.channel(POOL_REQUEST_CHANNEL);

/** Requests of one kind in a monitor's window. */
export interface PoolRequestKindStats {
  /** Settled with success. */
  completed: number;
  /** Settled with an error (for zlib and requests in flight when the monitor started: never told). */
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
  /** Whether Node's promise hooks run while monitoring (Node before 24.9 cannot turn them off). */
  promiseHooks: boolean;
}

export interface PoolRequestMonitorOptions {
  /**
   * Name fs requests by operation (`fs.stat`, `fs.read`), by wrapping the functions of Node's fs
   * binding while monitoring. `false` leaves Node's objects alone and names them all `fs`.
   * Default true.
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

interface Pending {
  kind: string;
  seq: number;
  startMs: number;
  endMs: number;
  failed: boolean;
  /** Settled by its promise (fs/promises), not at the end of its callback. */
  byPromise: boolean;
}

interface Sink {
  /** `kind` is undefined for uvscope's jobs, whose kernel is told when they settle. */
  submitted(kind: string | undefined, atMs: number): void;
  /** A request in flight turned out to be of kind `to`, not `from`. */
  relabeled(from: string, to: string): void;
  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number): void;
}

/** performance.now() (ms) to uvscope's ns clock. */
const clockOffsetNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
const toClockNs = (ms: number) => ms * 1e6 + clockOffsetNs;
const kZlibWrite = Symbol('uvscope.zlibWrite');
const kPending = Symbol('uvscope.pendingRequest');

class RequestTracker {
  readonly sinks = new Set<Sink>();
  readonly promiseHooks: boolean;
  fsOperations = false;
  #fsNameUsers = 0;
  #seq = 0;
  #live = new Map<number, Pending>();
  /** Requests whose callback is running (innermost last): callbacks can nest. */
  #running: Array<{ id: number; pending: Pending }> = [];
  #hook;

  constructor() {
    let promiseInits = 0;
    const probe = createHook({ trackPromises: false, init: (_id: number, type: string) => void (type === 'PROMISE' && promiseInits++) } as Parameters<typeof createHook>[0]);
    probe.enable();
    void Promise.resolve();
    probe.disable();
    this.promiseHooks = promiseInits > 0;
    this.#hook = createHook({
      trackPromises: false,
      init: (id: number, type: string, _trigger: number, resource: object) => this.#init(id, type, resource),
      before: (id: number) => this.#before(id),
      after: (id: number) => this.#after(id),
    } as Parameters<typeof createHook>[0]);
  }

  nextSeq(): number {
    return this.#seq;
  }

  add(sink: Sink, fsOperations: boolean): void {
    if (this.sinks.size === 0) {
      this.#hook.enable();
      startWatchingOutcomes((failed) => {
        const innermost = this.#running[this.#running.length - 1];
        if (innermost !== undefined && failed) innermost.pending.failed = true;
      });
      diagnosticsChannel.subscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.subscribe(JOB_CHANNEL, this.#onJob);
    }
    this.sinks.add(sink);
    if (fsOperations && this.#fsNameUsers++ === 0) this.fsOperations = acquireFsOperationNames(this.#relabel);
  }

  remove(sink: Sink, fsOperations: boolean): void {
    if (!this.sinks.delete(sink)) return;
    if (fsOperations && --this.#fsNameUsers === 0) {
      releaseFsOperationNames();
      this.fsOperations = false;
    }
    if (this.sinks.size === 0) {
      this.#hook.disable();
      stopWatchingOutcomes();
      diagnosticsChannel.unsubscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, this.#onJob);
      this.#live.clear();
      this.#running = [];
    }
  }

  #init(id: number, type: string, resource: object): void {
    // Node 20 and 22 call init for every promise (no trackPromises there): leave at once.
    if (type === 'PROMISE') return;
    const kind = kindOf(type, resource);
    if (kind === undefined) return;
    if (type === 'ZLIB') {
      watchOutcomeOf(resource as Record<symbol, never>);
      return this.#watchZlib(id, resource as ZlibHandle);
    }
    const operation = kind === 'fs' ? fsOperationNow() : undefined;
    const pending: Pending = {
      kind: operation === undefined ? kind : `fs.${operation}`,
      seq: this.#seq++,
      startMs: performance.now(),
      endMs: 0,
      failed: false,
      byPromise: false,
    };
    watchOutcomeOf(resource as Record<symbol, never>);
    // fs callbacks: the request exists before the binding call that names it (see #relabel).
    if (type === 'FSREQCALLBACK') (resource as { [kPending]?: Pending })[kPending] = pending;
    this.#live.set(id, pending);
    for (const sink of this.sinks) sink.submitted(pending.kind, pending.startMs);
    // fs/promises requests settle a promise, not a callback: its rejection is the failure.
    const promise = type === 'FSREQPROMISE' ? (resource as { promise?: PromiseLike<unknown> }).promise : undefined;
    if (typeof promise?.then === 'function') {
      pending.byPromise = true;
      promise.then(
        () => this.#settle(pending, false),
        () => this.#settle(pending, true),
      );
    }
  }

  /** zlib: one handle, one write in flight at a time; each write is a pool request. */
  #watchZlib(id: number, handle: ZlibHandle): void {
    const original = handle.write;
    if (typeof original !== 'function' || handle[kZlibWrite]) return;
    handle[kZlibWrite] = true;
    const live = this.#live;
    const tracker = this;
    handle.write = function (this: ZlibHandle, ...args: unknown[]) {
      if (tracker.sinks.size > 0) {
        const pending: Pending = { kind: 'zlib', seq: tracker.#seq++, startMs: performance.now(), endMs: 0, failed: false, byPromise: false };
        live.set(id, pending);
        for (const sink of tracker.sinks) sink.submitted(pending.kind, pending.startMs);
      }
      return Reflect.apply(original, this, args);
    };
  }

  #before(id: number): void {
    const pending = this.#live.get(id);
    if (pending === undefined) return;
    pending.endMs = performance.now();
    this.#running.push({ id, pending });
  }

  #after(id: number): void {
    const innermost = this.#running[this.#running.length - 1];
    if (innermost === undefined || innermost.id !== id) return;
    this.#running.pop();
    const { pending } = innermost;
    // A zlib callback may already have issued the handle's next write under the same id.
    if (this.#live.get(id) === pending) this.#live.delete(id);
    if (!pending.byPromise) this.#settle(pending, pending.failed);
  }

  /** The fs binding function `operation` was called with `request` (a request object or not). */
  #relabel = (request: object, operation: string) => {
    const pending = (request as { [kPending]?: Pending })[kPending];
    if (pending === undefined || pending.kind !== 'fs' || pending.endMs !== 0) return;
    pending.kind = `fs.${operation}`;
    for (const sink of this.sinks) sink.relabeled('fs', pending.kind);
  };

  #settle(pending: Pending, failed: boolean): void {
    if (pending.endMs === 0) pending.endMs = performance.now();
    const latencyNs = (pending.endMs - pending.startMs) * 1e6;
    const outcome = failed ? 'failed' : 'completed';
    for (const sink of this.sinks) sink.settled(pending.kind, pending.seq, outcome, latencyNs, pending.endMs);
    if (requestChannel.hasSubscribers) {
      requestChannel.publish({ kind: pending.kind, outcome, submittedAtNs: toClockNs(pending.startMs), latencyNs } satisfies PoolRequestRecord);
    }
  }

  #onJobSubmitted = () => {
    const now = performance.now();
    for (const sink of this.sinks) sink.submitted(undefined, now);
  };

  #onJob = (message: unknown) => {
    const job = message as JobRecord;
    const now = performance.now();
    const kind = `uvscope.${job.kernel}`;
    const latencyNs = Number(job.settledAt - job.queuedAt);
    // Jobs submitted before a monitor started were not counted in by it: the sink tells by time.
    for (const sink of this.sinks) sink.settled(kind, -Number(job.queuedAt), job.outcome, latencyNs, now);
  };
}

type ZlibHandle = { write?: (...args: unknown[]) => unknown; [kZlibWrite]?: boolean };

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
    this.#firstSeq = tracker.nextSeq();
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

  #countsOf(kind: string): KindCounts {
    let counts = this.#kinds.get(kind);
    if (counts === undefined) this.#kinds.set(kind, (counts = new KindCounts()));
    return counts;
  }

  submitted(kind: string | undefined, atMs: number): void {
    this.#advance(atMs);
    this.#now++;
    if (this.#now > this.#max) this.#max = this.#now;
    if (kind !== undefined) this.#countsOf(kind).inFlight++;
  }

  relabeled(from: string, to: string): void {
    const counts = this.#kinds.get(from);
    if (counts === undefined || counts.inFlight === 0) return;
    counts.inFlight--;
    this.#countsOf(to).inFlight++;
  }

  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number): void {
    // Node's requests carry their sequence number; uvscope's jobs the negated time they were queued.
    if (seq >= 0 ? seq < this.#firstSeq : BigInt(-seq) < this.#startedAtNs) return;
    this.#advance(atMs);
    this.#now--;
    const counts = this.#countsOf(kind);
    counts[outcome]++;
    if (seq >= 0) counts.inFlight--;
    counts.latency.record(latencyNs);
  }

  stats(): PoolRequestStats {
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
      fsOperations: this.fsOperations && this.tracker.fsOperations,
      promiseHooks: this.tracker.promiseHooks,
    };
  }

  reset(): void {
    const now = this.#stoppedAtMs ?? performance.now();
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
    this.#stoppedAtMs = performance.now();
    this.#advance(this.#stoppedAtMs);
    this.tracker.remove(this, this.fsOperations);
  }

  /** @internal Counts and histograms by kind, live (the exporters read them at scrape time). */
  kindCounts(): ReadonlyMap<string, KindCounts> {
    return this.#kinds;
  }
}

/**
 * Starts counting the requests Node itself puts on libuv's pool (fs, dns.lookup, node:crypto,
 * zlib) and uvscope's own jobs, by kind, with their latency. Opt-in: while any monitor runs,
 * an async_hooks hook sees every async resource this thread creates (its cost is measured in
 * `npm run bench:requests`). Only this thread's requests are seen: a worker thread's own
 * requests need a monitor in that worker.
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
  const fsOperations = options.fsOperations ?? true;
  validateBoolean('options.fsOperations', fsOperations);
  tracker ??= new RequestTracker();
  return new Monitor(tracker, fsOperations);
}
