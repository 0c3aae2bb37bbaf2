/**
 * The HTTP requests this thread's servers are handling, for stall attribution. Node's
 * diagnostics channel `http.server.request.start` (node:http and node:https, so express,
 * fastify, koa, Next) and, from Node 22, `http2.server.stream.start` say when a request starts;
 * its response's (or stream's) 'close' when it ends, answered or not. node:http's responses are
 * seen closing by an `emit` of uvscope's on `ServerResponse.prototype`, installed at the first
 * request the tracker sees and removed when it stops (`installResponseEmit`: so uvscope never
 * loads node:http itself): measured on Node 24, a 'close' listener per response
 * cost ~900 instructions a request, and a subscriber to `http.server.response.finish` ~1,200.
 * An HTTP/2 stream, and a response still in flight when the tracker stops, get a 'close'
 * listener. Each request gets an id
 * and a slot in the request table the addon reads (./request-slots.ts) with the async id it
 * started in, where the stall watchdog finds it without running JavaScript on the blocked
 * thread: by that async id (the request's synchronous handling and its socket's callbacks, every
 * Node) and, where Node keeps AsyncLocalStorage in async context frames (Node 24 and later, 22
 * with `--experimental-async-context-frame`), by the id entered into a storage of uvscope's, which
 * follows the request through `await`s, timers and callbacks. The same ids link the pool work a
 * request submits to it (../http-request-context.ts). The request's (or stream's) own events
 * ('data', 'end': where body parsers run the route) come from its socket's callbacks, in the
 * socket's context; there, their listeners run with the id entered too (see `emitInRequest`),
 * but for node:http's own 'end' listener (`clearIncoming`), which every request has.
 * Finished requests are published on `uvscope:http:request` while it has subscribers (the trace
 * draws them).
 *
 * The requests in flight can be listed (`httpRequestsInFlight()`: a trace draws those still in
 * flight when it ends) from a registry of the tracked requests indexed by their slot in the
 * request table (so bounded as it is: a request the table has no slot for is not listed), an
 * array store per start and per end, no allocation.
 *
 * Lifetime: one tracker per thread, subscribed while at least one user holds it
 * (`acquireHttpRequests`/`releaseHttpRequests`); a request that started before is not tracked.
 * @internal
 * @module
 */
import { executionAsyncId } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';

import { HTTP_REQUEST_CHANNEL, HttpRequestRecord } from '../channels';
import { enterRequest, leaveRequest, requestStorage, setRequestsTracked } from '../http-request-context';
import { requestSlotFinished, requestSlotStarted, requestSlotStats } from './request-slots';

export { asyncContextFramesInUse, requestStorage } from '../http-request-context';

const requestChannel = diagnosticsChannel.channel(HTTP_REQUEST_CHANNEL);
const kRequest = Symbol('uvscope.httpRequest');
const kRequestId = Symbol('uvscope.httpRequestId');
const kEmit = Symbol('uvscope.emit');

/** The incoming side of a request (IncomingMessage, Http2Stream): an emitter whose own events are run in the request's context. */
interface InRequest {
  [kRequestId]: number;
  [kEmit]: (event: string | symbol, ...args: unknown[]) => boolean;
  /** EventEmitter's listener table (what `listenerCount` reads), read without a call. */
  _events?: Record<string | symbol, unknown>;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/**
 * The request's emit (frames only): an event with listeners, emitted outside the request's
 * context (the socket's callbacks: 'data', 'end', 'close'), runs them with the request's id
 * entered, so that a route run from the body's 'end' (express's body-parser, fastify) is still
 * found after its `await`s. Within the request's context, or without listeners, a plain emit.
 * Costs ~0.3 µs an event that needs it (a new frame), measured on Node 24.
 */
function emitInRequest(this: InRequest, event: string | symbol): boolean {
  const listeners = this._events?.[event];
  // `arguments`, forwarded as they came: a rest parameter would copy them at every event.
  if (listeners === undefined || isNodeClearIncoming(event, listeners)) return Reflect.apply(this[kEmit], this, arguments);
  const id = this[kRequestId];
  if (requestStorage!.getStore() === id) return Reflect.apply(this[kEmit], this, arguments);
  return requestStorage!.run(id, Reflect.apply, this[kEmit], this, arguments);
}

/**
 * node:http's own 'end' listener, which drops the parser's reference to a request (every request
 * whose response finishes before its body was read: each GET); learned from its name at first
 * sight, so that its 'end' is emitted without a new frame (~400 instructions a request).
 */
let nodeClearIncoming: unknown;

/** Whether `listeners` are node:http's `clearIncoming` alone, the one listener that needs no request context. */
function isNodeClearIncoming(event: string | symbol, listeners: unknown): boolean {
  if (listeners === nodeClearIncoming) return true;
  if (nodeClearIncoming !== undefined || event !== 'end' || typeof listeners !== 'function' || listeners.name !== 'clearIncoming') return false;
  nodeClearIncoming = listeners;
  return true;
}

function runEventsInRequest(incoming: InRequest, id: number): void {
  incoming[kRequestId] = id;
  // Wrapped once: an object started again (a request object reused) only changes its id.
  if (incoming.emit === emitInRequest) return;
  incoming[kEmit] = incoming.emit;
  incoming.emit = emitInRequest;
}

interface Tracked {
  id: number;
  /** Its slot in the request table; -1: not tracked there (full). */
  slot: number;
  /** The async id it started in. */
  asyncId: number;
  method: string;
  url: string;
  protocol: HttpRequestRecord['protocol'];
  /** Only while the channel has subscribers at the start. */
  startedAtNs: bigint;
  /** Its response (stream), until it ends. */
  owner: Closing | undefined;
  /** Whether a 'close' listener of its own ends it (else `emitObserved`). */
  closeListener: boolean;
}

interface Closing {
  [kRequest]?: Tracked;
  statusCode?: number;
  writableFinished?: boolean;
  sentHeaders?: Record<string, unknown>;
  rstCode?: number;
  on(event: 'close', fn: () => void): unknown;
}

let nextId = 1;
let users = 0;
/** The tracked requests in flight by their slot in the request table (undefined: a free slot). */
const bySlot: (Tracked | undefined)[] = [];

/**
 * `closeListener`: whether the owner needs a 'close' listener (an HTTP/2 stream); a node:http
 * response's 'close' is seen by `emitObserved`.
 */
function started(method: string, url: string, protocol: Tracked['protocol'], owner: Closing, incoming: InRequest, closeListener: boolean): void {
  const id = nextId++;
  const asyncId = executionAsyncId();
  const slot = requestSlotStarted(id, asyncId, method, url);
  enterRequest(id, asyncId);
  if (requestStorage !== undefined) runEventsInRequest(incoming, id);
  const tracked: Tracked = { id, slot, asyncId, method, url, protocol, startedAtNs: requestChannel.hasSubscribers ? process.hrtime.bigint() : 0n, owner, closeListener };
  owner[kRequest] = tracked;
  if (slot >= 0) bySlot[slot] = tracked;
  if (closeListener) owner.on('close', onClose);
}

function onClose(this: Closing): void {
  ended(this);
}

/** `owner`'s request ended (answered or not); a second call does nothing. */
function ended(owner: Closing): void {
  const tracked = owner[kRequest];
  if (tracked === undefined) return;
  owner[kRequest] = undefined;
  tracked.owner = undefined;
  if (tracked.slot >= 0) bySlot[tracked.slot] = undefined;
  requestSlotFinished(tracked.slot);
  leaveRequest(tracked.id, tracked.asyncId);
  if (!requestChannel.hasSubscribers || tracked.startedAtNs === 0n) return;
  const http2Status = owner.sentHeaders?.[':status'];
  const record: HttpRequestRecord = {
    id: tracked.id,
    method: tracked.method,
    url: tracked.url,
    protocol: tracked.protocol,
    statusCode: typeof http2Status === 'number' ? http2Status : (owner.statusCode ?? 0),
    completed: tracked.protocol === 'http2' ? owner.rstCode === undefined || owner.rstCode === 0 : owner.writableFinished === true,
    startedAtNs: tracked.startedAtNs,
    endedAtNs: process.hrtime.bigint(),
  };
  requestChannel.publish(record);
}

function onHttpStart(message: unknown): void {
  const { request, response } = message as { request: InRequest & { method?: string; url?: string }; response: Closing };
  if (installed === undefined) installResponseEmit();
  started(request.method ?? '', request.url ?? '', 'http', response, request, false);
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/** The emit `installResponseEmit` installed, and whether the prototype had one of its own before. */
let installed: { emit: Emit; replacedOwn: Emit | undefined } | undefined;

/**
 * An emit for `ServerResponse.prototype` while the tracker runs: a tracked response's 'close'
 * ends its request (before its listeners run, as a listener added at its start would), then
 * `base` emits as before. Costs a comparison per event of every node:http response. Made per
 * install: one left in place under another library's wrapper (see below) keeps its own `base`.
 */
function emitObserving(base: Emit): Emit {
  return function emitObserved(this: unknown, event: string | symbol): boolean {
    if (event === 'close' && (this as Closing)[kRequest] !== undefined) ended(this as Closing);
    // `arguments`, forwarded as they came, without a copy.
    return Reflect.apply(base, this, arguments);
  };
}

/** node:http's `ServerResponse.prototype`; node:http is loaded by then (a server of its published a request). */
function responsePrototype(): { emit: Emit } {
  return (require('node:http') as typeof import('node:http')).ServerResponse.prototype as unknown as { emit: Emit };
}

/** Installs the observing emit (at the first request the tracker sees). */
function installResponseEmit(): void {
  const prototype = responsePrototype();
  const replacedOwn = Object.hasOwn(prototype, 'emit') ? prototype.emit : undefined;
  installed = { emit: emitObserving(prototype.emit), replacedOwn };
  prototype.emit = installed.emit;
}

/**
 * Removes the observing emit, when installed. One that another library has wrapped since stays
 * where it is (its wrapper calls it): it still ends the requests it sees.
 */
function removeResponseEmit(): void {
  if (installed === undefined) return;
  const prototype = responsePrototype();
  if (prototype.emit === installed.emit) {
    if (installed.replacedOwn !== undefined) prototype.emit = installed.replacedOwn;
    else delete (prototype as { emit?: Emit }).emit;
  }
  installed = undefined;
}

function onHttp2Start(message: unknown): void {
  const { stream, headers } = message as { stream: InRequest & Closing; headers: Record<string, unknown> };
  const method = headers[':method'];
  const path = headers[':path'];
  started(typeof method === 'string' ? method : '', typeof path === 'string' ? path : '', 'http2', stream, stream, true);
}

/** Starts tracking (first user) and counts a user. */
export function acquireHttpRequests(): void {
  if (users++ > 0) return;
  setRequestsTracked(true);
  diagnosticsChannel.subscribe('http.server.request.start', onHttpStart);
  diagnosticsChannel.subscribe('http2.server.stream.start', onHttp2Start); // Node 22+; never published on 20
}

/** Drops a user; the last one stops tracking (requests in flight leave the table as they close). */
export function releaseHttpRequests(): void {
  if (users === 0 || --users > 0) return;
  setRequestsTracked(false);
  diagnosticsChannel.unsubscribe('http.server.request.start', onHttpStart);
  diagnosticsChannel.unsubscribe('http2.server.stream.start', onHttp2Start);
  removeResponseEmit();
  // The responses in flight end at a 'close' listener of their own now (those the table had no
  // slot for are not listed here: their end goes unseen, and an entry of theirs in the pool
  // records' map, kept while a trace records, stays until a request in the same async id).
  for (const tracked of bySlot) {
    if (tracked === undefined || tracked.closeListener || tracked.owner === undefined) continue;
    tracked.closeListener = true;
    tracked.owner.on('close', onClose);
  }
}

/** Requests in the table now, and those not kept because it was full. */
export const httpRequestTableStats = requestSlotStats;

/** A request in flight now, as `httpRequestsInFlight()` lists it. */
export interface InFlightRequest {
  id: number;
  method: string;
  url: string;
  protocol: HttpRequestRecord['protocol'];
  /** Monotonic ns; 0n when `uvscope:http:request` had no subscribers when it started (no trace was recording). */
  startedAtNs: bigint;
}

/**
 * The requests this thread's servers are handling now (those the request table holds), in no
 * particular order: copies, the requests themselves are not touched. Empty while not tracking
 * (a request tracked before the last user let go is listed until it closes).
 */
export function httpRequestsInFlight(): InFlightRequest[] {
  const out: InFlightRequest[] = [];
  for (const t of bySlot) if (t !== undefined) out.push({ id: t.id, method: t.method, url: t.url, protocol: t.protocol, startedAtNs: t.startedAtNs });
  return out;
}
