/**
 * The hook source: sees Node's pool requests through an async_hooks hook, for monitors that
 * leave Node's fs binding alone (`fsOperations: false`) and where the wrapper source cannot run
 * (Node's bindings unreachable, e.g. under `--pending-deprecation`). Its `init` notes a request
 * of a known type with its time, `before` the time its callback starts, `after` its end; it is
 * created with `trackPromises: false`, so Nodes that have the option (24.22 and 26.12 here,
 * detected at run time) run no promise hook for it, and it returns at once for promises where
 * they do. It costs every async resource of the thread a hook call, and on Node 20 and 22 every
 * promise too (`npm run bench:requests`, configuration `monitor-fs-off`).
 *
 * zlib handles are one resource for many requests: each handle's `write` is wrapped on the
 * instance so each write is timed. Crypto jobs count from their `run()`, wrapped per class for
 * the life of the process: only asynchronous jobs are pool requests (pbkdf2Sync() makes a job
 * too), and webcrypto's (Node 24 and later) fail by rejecting the promise run() returns. The
 * job classes it finds are handed to job-requests.ts too. Failures are read through
 * outcomes.ts. fs requests are named by operation while a monitor wants names, through the fs
 * binding's wrappers in their `name` state (fs-requests.ts). Alive for the life of the thread,
 * enabled while it runs.
 * @internal
 * @module
 */
import { createHook } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

import { currentHttpRequestId } from '../http-request-context';
import { fsOperationNow, nameFsRequests, stopFsRequests } from './fs-requests';
import { registerJobClass } from './job-requests';
import { kindOf } from './kinds';
import { reportedFailure, watchOutcomeOf } from './outcomes';
import type { RequestRecorder } from './recorder';

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
  /** The HTTP request it was submitted for, 0 when none is known (http-request-context.ts). */
  httpRequestId: number;
}

const kZlibWrite = Symbol('uvscope.zlibWrite');
const kPending = Symbol('uvscope.pendingRequest');
const kSubmit = Symbol('uvscope.submitJob');
/** Prototypes of crypto job classes whose `run` is wrapped (see #watchRun). */
const runWrapped = new WeakSet<object>();
type CryptoJob = { [kSubmit]?: (result: unknown) => void };
type ZlibHandle = { write?: (...args: unknown[]) => unknown; [kZlibWrite]?: boolean };

export class HookSource {
  /** Whether Node's promise hooks run while the hook is enabled (no `trackPromises` option on this Node). */
  readonly promiseHooks: boolean;
  /** Whether fs requests are being named by operation. */
  fsOperations = false;
  #enabled = false;
  #live = new Map<number, Pending>();
  /** Requests whose callback is running (innermost last): callbacks can nest. */
  #running: Array<{ id: number; pending: Pending }> = [];
  #hook;

  constructor(private readonly recorder: RequestRecorder) {
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

  get enabled(): boolean {
    return this.#enabled;
  }

  start(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#hook.enable();
  }

  stop(): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    this.#hook.disable();
    this.nameFsOperations(false);
    this.#live.clear();
    this.#running = [];
  }

  /** Names fs requests by operation (or stops). */
  nameFsOperations(on: boolean): void {
    if (on === this.fsOperations) return;
    if (on) {
      this.fsOperations = nameFsRequests(this.#relabel);
    } else {
      stopFsRequests();
      this.fsOperations = false;
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
      seq: this.recorder.takeSeq(),
      startMs: performance.now(),
      endMs: 0,
      failed: false,
      byPromise: false,
      resource,
      httpRequestId: currentHttpRequestId(),
    };
    watchOutcomeOf(resource as Record<symbol, never>);
    // fs callbacks: the request exists before the binding call that names it (see #relabel).
    if (type === 'FSREQCALLBACK') (resource as { [kPending]?: Pending })[kPending] = pending;
    // Crypto jobs go to the pool when run() is called, and only the asynchronous ones:
    // pbkdf2Sync(), sign() without a callback and the like make a job too and run it here.
    if (kind.startsWith('crypto.') && this.#watchRun(resource, type)) {
      (resource as CryptoJob)[kSubmit] = (result: unknown) => this.#submitted(id, pending, result);
      return;
    }
    // fs/promises requests settle a promise, not a callback: its rejection is the failure.
    this.#submitted(id, pending, type === 'FSREQPROMISE' ? (resource as { promise?: unknown }).promise : undefined);
    // A dns request whose submission fails at once never calls back (see dns-requests.ts).
    if (type === 'GETADDRINFOREQWRAP' || type === 'GETNAMEINFOREQWRAP') queueMicrotask(() => this.#confirm(id, pending, resource));
  }

  /** After a dns request's submission: without a native request behind its object, it was not submitted. */
  #confirm(id: number, pending: Pending, resource: object): void {
    if (this.#live.get(id) !== pending) return;
    let asyncId: unknown;
    try {
      asyncId = (resource as { getAsyncId?: () => number }).getAsyncId?.();
    } catch {
      return;
    }
    if (asyncId !== -1) return;
    this.#live.delete(id);
    const nowMs = performance.now();
    for (const sink of this.recorder.sinksNow()) sink.withdrawn(pending.kind, pending.seq, nowMs);
  }

  /** `pending` (async id `id`) is on its way to the pool; `promise`, if it is one, settles it. */
  #submitted(id: number, pending: Pending, promise: unknown): void {
    this.#live.set(id, pending);
    for (const sink of this.recorder.sinksNow()) sink.submitted(pending.kind, pending.startMs);
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
  #watchRun(job: object, type: string): boolean {
    const proto = Object.getPrototypeOf(job) as { run?: (...args: unknown[]) => unknown } | null;
    if (proto === null) return false;
    if (runWrapped.has(proto)) return true;
    if (typeof proto.run !== 'function') return false;
    registerJobClass(job, type);
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
    const source = this;
    handle.write = function (this: ZlibHandle, ...args: unknown[]) {
      if (source.#enabled && source.recorder.active) {
        const pending: Pending = { kind: 'zlib', seq: source.recorder.takeSeq(), startMs: performance.now(), endMs: 0, failed: false, byPromise: false, resource: this, httpRequestId: currentHttpRequestId() };
        live.set(id, pending);
        for (const sink of source.recorder.sinksNow()) sink.submitted(pending.kind, pending.startMs);
      }
      return Reflect.apply(original, this, args);
    };
  }

  #before(id: number): void {
    const pending = this.#live.get(id);
    if (pending === undefined) return;
    pending.endMs = performance.now();
    this.#running.push({ id, pending });
    for (const sink of this.recorder.sinksNow()) sink.returned(pending.kind, pending.seq, pending.endMs);
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
    for (const sink of this.recorder.sinksNow()) sink.relabeled('fs', pending.kind);
  };

  #settle(pending: Pending, failed: boolean): void {
    // A promise request in flight when the source stopped: its monitors are gone.
    if (!this.#enabled) return;
    const returned = pending.endMs !== 0;
    if (!returned) pending.endMs = performance.now();
    const latencyNs = (pending.endMs - pending.startMs) * 1e6;
    const outcome = failed ? 'failed' : 'completed';
    for (const sink of this.recorder.sinksNow()) sink.settled(pending.kind, pending.seq, outcome, latencyNs, pending.endMs, returned);
    this.recorder.publish(pending.kind, outcome, pending.startMs, latencyNs, pending.httpRequestId);
  }
}
