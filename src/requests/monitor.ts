/**
 * Node's own requests on libuv's pool, seen from JavaScript: `monitorPoolRequests()` counts fs,
 * dns.lookup, node:crypto, zlib and uvscope's own jobs by kind, with their latency (submitted
 * to callback) and how many were in flight.
 *
 * One tracker per thread (async_hooks are per thread) runs while at least one monitor does: an
 * async_hooks hook whose `init` notes a request of a known type with its time, `before` the
 * time its callback starts, `after` its end; promise hooks are left off where Node allows it
 * (`trackPromises: false`, where Node has it: 24.22 and 26.12 here, detected at run time), and promises are ignored where it does not. zlib
 * handles are one resource for many requests: each handle's `write` is wrapped on the instance
 * so each write is timed. Crypto jobs count from their `run()`, wrapped per class: only
 * asynchronous jobs are pool requests (pbkdf2Sync() makes a job too), and webcrypto's (Node 24
 * and later) fail by rejecting the promise run() returns. uvscope's own jobs come from its job
 * channel. Every settled request is handed to each running monitor and published on
 * `uvscope:threadpool:request` while it has subscribers.
 * @module
 */
import { createHook } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

import { validateBoolean, validateObject } from '../errors';
import type { HistogramSummary } from '../histogram/summary';
import { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, JobRecord, POOL_REQUEST_CHANNEL, PoolRequestRecord } from '../channels';
import { LogHistogram } from '../histogram/log-histogram';
import { acquireFsOperationNames, fsOperationNow, kindOf, releaseFsOperationNames } from './kinds';
import { reportedFailure, watchOutcomeOf } from './outcomes';

export type { PoolRequestRecord } from '../channels';
export { POOL_REQUEST_CHANNEL } from '../channels';

const requestChannel = diagnosticsChannel.channel(POOL_REQUEST_CHANNEL);

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
  /** Whether Node's promise hooks run while monitoring (true where Node cannot turn them off: 20 and 22 here; detected at run time). */
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
  /** The request object (a zlib stream's handle for its writes): its callback marks a failure on it. */
  resource: object;
}

interface Sink {
  /** `kind` is undefined for uvscope's jobs, whose kernel is told when they settle. */
  submitted(kind: string | undefined, atMs: number): void;
  /** A request in flight turned out to be of kind `to`, not `from`. */
  relabeled(from: string, to: string): void;
  /** A request's callback is starting: it is no longer in flight (what its callback submits is new). */
  returned(kind: string, seq: number, atMs: number): void;
  /** `returned` was told already unless `counted` is false (uvscope's jobs, a promise settled without a callback). */
  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number, counted: boolean): void;
}

/**
 * performance.now() (ms) to uvscope's ns clock. Both read the same monotonic clock; the offset
 * comes from the tightest of a few hrtime-bracketed reads, since the first performance.now()
 * call of a process is slow (~50 µs here, by which a single pair of reads was off).
 */
const clockOffsetNs = (() => {
  let tightestNs = Infinity;
  let offsetNs = 0;
  for (let i = 0; i < 5; i++) {
    const before = process.hrtime.bigint();
    const nowMs = performance.now();
    const gapNs = Number(process.hrtime.bigint() - before);
    if (gapNs < tightestNs) {
      tightestNs = gapNs;
      offsetNs = Number(before) + gapNs / 2 - nowMs * 1e6;
    }
  }
  return offsetNs;
})();
const toClockNs = (ms: number) => ms * 1e6 + clockOffsetNs;
const kZlibWrite = Symbol('uvscope.zlibWrite');
const kPending = Symbol('uvscope.pendingRequest');
const kSubmit = Symbol('uvscope.submitJob');
/** Prototypes of crypto job classes whose `run` is wrapped (see #watchRun). */
const runWrapped = new WeakSet<object>();
type CryptoJob = { [kSubmit]?: (result: unknown) => void };

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
      resource,
    };
    watchOutcomeOf(resource as Record<symbol, never>);
    // fs callbacks: the request exists before the binding call that names it (see #relabel).
    if (type === 'FSREQCALLBACK') (resource as { [kPending]?: Pending })[kPending] = pending;
    // Crypto jobs go to the pool when run() is called, and only the asynchronous ones:
    // pbkdf2Sync(), sign() without a callback and the like make a job too and run it here.
    if (kind.startsWith('crypto.') && this.#watchRun(resource)) {
      (resource as CryptoJob)[kSubmit] = (result: unknown) => this.#submitted(id, pending, result);
      return;
    }
    // fs/promises requests settle a promise, not a callback: its rejection is the failure.
    this.#submitted(id, pending, type === 'FSREQPROMISE' ? (resource as { promise?: unknown }).promise : undefined);
  }

  /** `pending` (async id `id`) is on its way to the pool; `promise`, if it is one, settles it. */
  #submitted(id: number, pending: Pending, promise: unknown): void {
    this.#live.set(id, pending);
    for (const sink of this.sinks) sink.submitted(pending.kind, pending.startMs);
    if (typeof (promise as PromiseLike<unknown> | undefined)?.then !== 'function') return;
    pending.byPromise = true;
    (promise as PromiseLike<unknown>).then(
      () => this.#settle(pending, false),
      () => this.#settle(pending, true),
    );
  }

  /**
   * Crypto jobs: `run()` returns [error, result] for a synchronous job (no pool request),
   * undefined for an asynchronous one (which calls `ondone`), or a promise whose rejection is
   * the failure (webcrypto on Node 24 and later). Each job class's `run` is wrapped once, for
   * the life of the process, to hand what it returned to the job's tracker. Returns whether
   * `job`'s class has the wrapper.
   */
  #watchRun(job: object): boolean {
    const proto = Object.getPrototypeOf(job) as { run?: (...args: unknown[]) => unknown } | null;
    if (proto === null) return false;
    if (runWrapped.has(proto)) return true;
    if (typeof proto.run !== 'function') return false;
    runWrapped.add(proto);
    const run = proto.run;
    proto.run = function (this: CryptoJob, ...args: unknown[]) {
      const result = Reflect.apply(run, this, args);
      const submit = this[kSubmit];
      if (submit !== undefined) {
        this[kSubmit] = undefined;
        if (!Array.isArray(result)) submit(result);
      }
      return result;
    };
    return true;
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
        const pending: Pending = { kind: 'zlib', seq: tracker.#seq++, startMs: performance.now(), endMs: 0, failed: false, byPromise: false, resource: this };
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
    for (const sink of this.sinks) sink.returned(pending.kind, pending.seq, pending.endMs);
  }

  #after(id: number): void {
    const innermost = this.#running[this.#running.length - 1];
    if (innermost === undefined || innermost.id !== id) return;
    this.#running.pop();
    const { pending } = innermost;
    if (reportedFailure(pending.resource)) pending.failed = true;
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
    const returned = pending.endMs !== 0;
    if (!returned) pending.endMs = performance.now();
    const latencyNs = (pending.endMs - pending.startMs) * 1e6;
    const outcome = failed ? 'failed' : 'completed';
    for (const sink of this.sinks) sink.settled(pending.kind, pending.seq, outcome, latencyNs, pending.endMs, returned);
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
    for (const sink of this.sinks) sink.settled(kind, -Number(job.queuedAt), job.outcome, latencyNs, now, false);
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

  /** Without fsOperations every fs request is `fs` here, even while another monitor names them. */
  #ownKind(kind: string): string {
    return this.fsOperations || !kind.startsWith('fs.') ? kind : 'fs';
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

  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number, counted: boolean): void {
    // Node's requests carry their sequence number; uvscope's jobs the negated time they were queued.
    if (seq >= 0 ? seq < this.#firstSeq : BigInt(-seq) < this.#startedAtNs) return;
    const counts = this.#countsOf(this.#ownKind(kind));
    if (!counted) {
      this.#advance(atMs);
      this.#now--;
      if (seq >= 0) counts.inFlight--;
    }
    counts[outcome]++;
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
  validateBoolean('options.fsOperations', options.fsOperations);
  const fsOperations = options.fsOperations ?? true;
  tracker ??= new RequestTracker();
  return new Monitor(tracker, fsOperations);
}
