/**
 * The HTTP request the running code works for: what the HTTP tracker (loop/http-requests.ts) knows
 * of it, for the records of the pool work that code submits (`httpRequestId` of the records on
 * `uvscope:threadpool:request` and `uvscope:threadpool:job`). Where Node keeps AsyncLocalStorage
 * in async context frames (24 and later, 22 with `--experimental-async-context-frame`), the
 * request entered into uvscope's request storage when it started (its id, method and URL: what
 * the stall watchdog reports of it), which follows it through `await`s, timers and callbacks.
 * Elsewhere (Node 20, 22) the request whose start ran in the current async id (its synchronous
 * handling), the request of the pool request whose callback runs (`callInRequest`: chains of
 * fs, dns, crypto and zlib callbacks), or the request whose start ran in the async id that
 * triggered the current one (a timer the handling set): a Map from async id to request id,
 * kept as requests start (while the pool records have subscribers: a request that started
 * before names none) and close. Work submitted after an `await`, or in callbacks further from
 * the request, is not linked there (docs/cli.md says what was measured).
 *
 * Cost: with nobody tracking requests, asking pays one test. Per HTTP request, without frames,
 * a Map entry only while the pool records have subscribers (a trace). Addon-free; in src/'s
 * shared base, since the tracker (loop/), the pool request monitor (requests/) and the
 * ThreadPool (threadpool/) all use it.
 * Lifetime: module state, per thread.
 * @internal
 * @module
 */
import { AsyncLocalStorage, executionAsyncId, triggerAsyncId } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';

import { JOB_CHANNEL, POOL_REQUEST_CHANNEL } from './channels';

/** Whether AsyncLocalStorage lives in async context frames (V8's continuation-preserved data) here. */
export function asyncContextFramesInUse(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (flags.includes('--no-async-context-frame')) return false;
  if (flags.includes('--experimental-async-context-frame')) return true;
  return Number(process.versions.node.split('.')[0]) >= 24;
}

const framesInUse = asyncContextFramesInUse();

/**
 * What uvscope's request storage holds for a request. The stack addon's interrupt reads these
 * three own data properties of the current frame's value (native/stack/async_context.cc): the
 * request a stall happened in, named with no text written per request.
 */
export interface RequestInContext {
  readonly id: number;
  /** As received. */
  readonly method: string;
  /** As received, path and query. */
  readonly url: string;
}

/** uvscope's request storage, where frames make it cheap (undefined elsewhere: a storage on async_hooks would cost every callback). */
export const requestStorage: AsyncLocalStorage<RequestInContext> | undefined = framesInUse ? new AsyncLocalStorage<RequestInContext>() : undefined;

/** Whether the HTTP tracker runs on this thread (while not, {@link currentHttpRequestId} is 0 at once). */
let requestsTracked = false;

/**
 * Without frames: the requests in flight by the async id each started in (the latest, when two
 * started in one); only those that started while the pool records had subscribers (nobody
 * else asks), so that the tracker alone (a stall watchdog's) pays nothing for it per request.
 */
const requestByAsyncId = new Map<number, number>();
const poolRequestChannel = diagnosticsChannel.channel(POOL_REQUEST_CHANNEL);
const jobChannel = diagnosticsChannel.channel(JOB_CHANNEL);
/** Without frames: the request of the pool request whose callback runs now (callInRequest), 0 outside one. */
let callbackRequestId = 0;

/** The tracker started (`true`, first user) or stopped (last user gone). */
export function setRequestsTracked(tracked: boolean): void {
  requestsTracked = tracked;
}

/**
 * Without frames: request `id` starts now, in async id `asyncId`, and pool work submitted there
 * is linked to it. Returns whether `leaveRequest` must be told when it ends (an entry of the
 * map was made). With frames, the tracker enters the request into `requestStorage` instead:
 * continuations of that execution (the handler's awaits, timers, callbacks) carry it.
 */
export function mapRequest(id: number, asyncId: number): boolean {
  if (!poolRequestChannel.hasSubscribers && !jobChannel.hasSubscribers) return false;
  requestByAsyncId.set(asyncId, id);
  return true;
}

/** Request `id`, started in `asyncId`, ended. */
export function leaveRequest(id: number, asyncId: number): void {
  if (requestByAsyncId.size !== 0 && requestByAsyncId.get(asyncId) === id) requestByAsyncId.delete(asyncId);
}

/**
 * Calls `callback`, the callback of a pool request submitted for HTTP request `id` (not 0),
 * with the request known to the code it runs: work it submits is linked to the request too
 * (without frames; with them the storage carries it already). The request monitor's
 * trampolines call Node's callbacks through this, so that chains of callbacks (fs.readFile's
 * open, fstat, read and close) stay linked.
 */
export function callInRequest(id: number, callback: (...args: unknown[]) => unknown, self: unknown, args: ArrayLike<unknown>): unknown {
  if (requestStorage !== undefined) return Reflect.apply(callback, self, args);
  const outer = callbackRequestId;
  callbackRequestId = id;
  try {
    return Reflect.apply(callback, self, args);
  } finally {
    callbackRequestId = outer;
  }
}

/** The id of the HTTP request the running code works for, 0 when none is known (or nobody tracks requests). */
export function currentHttpRequestId(): number {
  if (!requestsTracked) return 0;
  if (requestStorage !== undefined) return requestStorage.getStore()?.id ?? 0;
  if (requestByAsyncId.size === 0) return 0;
  return requestByAsyncId.get(executionAsyncId()) ?? (callbackRequestId || requestByAsyncId.get(triggerAsyncId()) || 0);
}
