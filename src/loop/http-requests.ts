/**
 * The HTTP requests this thread's servers are handling, for stall attribution. Node's
 * diagnostics channel `http.server.request.start` (node:http and node:https, so express,
 * fastify, koa, Next) and, from Node 22, `http2.server.stream.start` say when a request starts.
 * A node:http request ends when node:http detaches its answered response from the connection:
 * a `detachSocket` of uvscope's on `ServerResponse.prototype`, installed at the first request
 * the tracker sees and removed when it stops (`installDetachSocket`: so uvscope never loads
 * node:http itself). One left unanswered (the client went away) ends when a sweep finds its
 * response or connection destroyed: before the table grows, and before a listing or a count.
 * An HTTP/2 stream, a response still in flight when the tracker stops, and every request while
 * a trace records get a 'close' listener, which ends them as they close. Measured on Node 24,
 * instructions a request: a 'close' listener per response ~900, a subscriber to
 * `http.server.response.finish` ~1,200, an `emit` wrapper seeing 'close' ~150 more than this.
 *
 * Each request gets an id and a slot in the request table the addon reads (./request-slots.ts:
 * whether it is in flight, when it started), where the stall watchdog finds it without running
 * JavaScript on the blocked thread. Where Node keeps AsyncLocalStorage in async context frames
 * (Node 24 and later, 22 with `--experimental-async-context-frame`), the request (its id, method
 * and URL: a RequestInContext) is entered into a storage of uvscope's, which follows it through
 * `await`s, timers and callbacks, and the stack addon reads it from the frame: no text is
 * written per request (the method and URL written into the table cost ~200-300 instructions
 * a request more, measured on Node 24 and 26). Without frames (Node 20, 22), the table holds the
 * method and URL and the async id the request started in, by which it is found (the request's
 * synchronous handling and its socket's callbacks). The same ids link the pool work a request
 * submits to it (../http-request-context.ts). A request's body events ('data', 'end': where
 * body parsers run the route) come from its socket's callbacks, in the socket's context; there,
 * their listeners run with the request entered too (see `emitInRequest`), for requests with a
 * body (`mayHaveBody`) and HTTP/2 streams. Finished requests are published on
 * `uvscope:http:request` while it has subscribers (the trace draws them).
 *
 * The requests in flight can be listed (`httpRequestsInFlight()`: a trace draws those still in
 * flight when it ends) from a registry of the tracked requests indexed by their slot in the
 * request table (so bounded as it is: a request the table has no slot for is not listed), an
 * array store per start and per end.
 *
 * Lifetime: one tracker per thread, subscribed while at least one user holds it
 * (`acquireHttpRequests`/`releaseHttpRequests`); a request that started before is not tracked.
 * @internal
 * @module
 */
import { executionAsyncId } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';

import { HTTP_REQUEST_CHANNEL, HttpRequestRecord } from '../channels';
import { leaveRequest, mapRequest, RequestInContext, requestStorage, setRequestsTracked } from '../http-request-context';
import { requestSlotFinished, requestSlotRequest, requestSlotsFree, requestSlotStarted, requestSlotStartedWithText, requestSlotStats } from './request-slots';

export { asyncContextFramesInUse, requestStorage } from '../http-request-context';

const requestChannel = diagnosticsChannel.channel(HTTP_REQUEST_CHANNEL);
const kRequest = Symbol('uvscope.httpRequest');
const kInContext = Symbol('uvscope.httpRequestInContext');
const kEmit = Symbol('uvscope.emit');

/** The incoming side of a request (IncomingMessage, Http2Stream): an emitter whose own events are run in the request's context. */
interface InRequest {
  [kInContext]: RequestInContext;
  [kEmit]: (event: string | symbol, ...args: unknown[]) => boolean;
  /** node:http's request header names and values as received, alternating (an HTTP/2 stream: none here). */
  rawHeaders?: string[];
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
  const request = this[kInContext];
  if (requestStorage!.getStore() === request) return Reflect.apply(this[kEmit], this, arguments);
  return requestStorage!.run(request, Reflect.apply, this[kEmit], this, arguments);
}

/**
 * node:http's own 'end' listener, which drops the parser's reference to a request whose response
 * finished before its body was read (only a request with a body is wrapped, so only such a one
 * meets it here); learned from its name at first sight, so that its 'end' is emitted without a
 * new frame.
 */
let nodeClearIncoming: unknown;

/** Whether `listeners` are node:http's `clearIncoming` alone, the one listener that needs no request context. */
function isNodeClearIncoming(event: string | symbol, listeners: unknown): boolean {
  if (listeners === nodeClearIncoming) return true;
  if (nodeClearIncoming !== undefined || event !== 'end' || typeof listeners !== 'function' || listeners.name !== 'clearIncoming') return false;
  nodeClearIncoming = listeners;
  return true;
}

/**
 * Whether a node:http request may have a body, as node:http decides it: a Content-Length or a
 * Transfer-Encoding header. Read from `rawHeaders`, the names as received: `headers` is an
 * object node:http builds at its first read, which Node 26 no longer does for a request
 * nobody asks (~700 instructions a request there). One without a body has no events from its
 * socket's callbacks: its 'end' and 'close' follow from what its handler did (a read, a
 * `resume()`), in the handler's context already, so it is not wrapped (~400 instructions a
 * GET on Node 24).
 */
function mayHaveBody(incoming: InRequest): boolean {
  const raw = incoming.rawHeaders;
  // Anything else than node:http's array of strings (a request made up by a test library) has no body.
  if (!Array.isArray(raw)) return false;
  for (let i = 0; i < raw.length; i += 2) {
    const name: unknown = raw[i];
    if (typeof name !== 'string') continue;
    if (name.length === 14 ? isNameIgnoringCase(name, 'content-length') : name.length === 17 && isNameIgnoringCase(name, 'transfer-encoding')) return true;
  }
  return false;
}

/**
 * Whether the header name `name` is `lower` (lower-case letters and '-', of the same length) in
 * any case. A character ORed with 0x20 is a lower-case letter only if it was that letter in
 * either case, and '-' only if it was '-' or a CR, which no header name holds.
 */
function isNameIgnoringCase(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

function runEventsInRequest(incoming: InRequest, request: RequestInContext): void {
  incoming[kInContext] = request;
  // Wrapped once: an object started again (a request object reused) only changes its request.
  if (incoming.emit === emitInRequest) return;
  incoming[kEmit] = incoming.emit;
  incoming.emit = emitInRequest;
}

/**
 * A request tracked in full: an HTTP/2 stream, one that started while a trace records, one that
 * `leaveRequest` must be told of, one the table had no slot for (or none free at once). The
 * others (a node:http request while only a watchdog tracks them: every request of a production
 * server) are held on their response (`kRequest`: their slot, or with frames the HeldRequest
 * their frame holds) and the response in `responseBySlot`, no listener: ~600 instructions a
 * request less, measured on Node 24. With frames, what is entered into the request storage.
 */
interface Tracked extends RequestInContext {
  /** Its slot in the request table; -1: not tracked there (full). */
  slot: number;
  /** The async id it started in. */
  asyncId: number;
  protocol: HttpRequestRecord['protocol'];
  /** Only while the channel has subscribers at the start. */
  startedAtNs: bigint;
  /** Its response (stream), until it ends (at its 'close': a listener of its own). */
  owner: Closing | undefined;
}

/** A request not tracked in full, with frames: what its frame holds, and its slot in the table. */
class HeldRequest implements RequestInContext {
  // Declared only: fields emitted as such are defined (as by Object.defineProperty) before the
  // constructor assigns them, two stores a field.
  declare readonly id: number;
  declare readonly method: string;
  declare readonly url: string;
  declare readonly slot: number;
  constructor(id: number, method: string, url: string, slot: number) {
    this.id = id;
    this.method = method;
    this.url = url;
    this.slot = slot;
  }
}

interface Closing {
  /** Its request: one not tracked in full (its slot; with frames, a HeldRequest), or the one that is. */
  [kRequest]?: number | HeldRequest | Tracked;
  destroyed?: boolean;
  /** A node:http response's request, whose connection's end (the client went away) ends one left unanswered. */
  req?: { socket?: { destroyed?: boolean } | null };
  statusCode?: number;
  writableFinished?: boolean;
  sentHeaders?: Record<string, unknown>;
  rstCode?: number;
  on(event: 'close', fn: () => void): unknown;
}

let nextId = 1;
let users = 0;
/** The requests tracked in full in flight by their slot in the request table (undefined: none there). */
const bySlot: (Tracked | undefined)[] = [];
/** The responses of the other requests in flight, by their slot. */
const responseBySlot: (Closing | undefined)[] = [];

/**
 * A node:http request ends when node:http detaches its answered response from the connection
 * (`detachSocketObserved`) or, left unanswered, when a sweep finds it or its connection destroyed
 * (`sweep`); while a trace records (`uvscope:http:request` has subscribers), also at its 'close',
 * so that the record ends when the request does. An HTTP/2 stream ends at its 'close'.
 */
function started(method: string, url: string, protocol: Tracked['protocol'], owner: Closing, incoming: InRequest): void {
  const id = nextId++;
  const asyncId = executionAsyncId();
  // Before the table grows, the requests left unanswered leave it.
  if (requestSlotsFree() === 0) sweep(responseBySlot.length);
  const http2 = protocol === 'http2';
  const timed = requestChannel.hasSubscribers;
  const startedAtNs = timed ? process.hrtime.bigint() : 0n;
  if (requestStorage === undefined) {
    // No frames: the table holds the method and URL, and the async id the request is found by.
    const slot = requestSlotStartedWithText(id, asyncId, method, url);
    const mapped = mapRequest(id, asyncId);
    if (!http2 && !timed && !mapped && slot >= 0) return heldInSlot(owner, slot, slot);
    return track({ id, slot, asyncId, method, url, protocol, startedAtNs, owner });
  }
  const tracked: Tracked = { id, slot: requestSlotStarted(id), asyncId, method, url, protocol, startedAtNs, owner };
  requestStorage.enterWith(tracked);
  // HTTP/2 streams, and node:http requests with a body (see mayHaveBody).
  if (http2 || mayHaveBody(incoming)) runEventsInRequest(incoming, tracked);
  track(tracked);
}

/** `tracked` ends at its owner's 'close' (a listener of its own). */
function track(tracked: Tracked): void {
  tracked.owner![kRequest] = tracked;
  if (tracked.slot >= 0) bySlot[tracked.slot] = tracked;
  tracked.owner!.on('close', onClose);
}

/** The next slot `sweep` looks at. */
let sweepAt = 0;

/**
 * Looks at `count` slots of `responseBySlot` (every one, for a count of its length), in turn from
 * where the last sweep stopped: a node:http request whose response or connection was destroyed
 * unanswered (the client went away) ends. The table is swept when full (before it grows), and
 * before a listing or a count. A sweep of two slots at every start cost ~1,100 instructions a
 * request on Node 24 (measured; the reason not found), so an unanswered request stays in the
 * table until then: a stall in its connection's last callbacks may still name it.
 */
function sweep(count: number): void {
  for (let n = 0; n < count && n < responseBySlot.length; n++) {
    if (sweepAt >= responseBySlot.length) sweepAt = 0;
    const owner = responseBySlot[sweepAt++];
    if (owner !== undefined && (owner.destroyed === true || owner.req?.socket?.destroyed === true)) ended(owner);
  }
}

function onClose(this: Closing): void {
  ended(this);
}

/** `owner`'s request, not tracked in full, is `request`, in `slot` (see Tracked). */
function heldInSlot(owner: Closing, request: number | HeldRequest, slot: number): void {
  owner[kRequest] = request;
  responseBySlot[slot] = owner;
}

/** The request `owner` holds the slot of (not tracked in full) ended. */
function endedInSlot(owner: Closing, slot: number): void {
  owner[kRequest] = undefined;
  responseBySlot[slot] = undefined;
  requestSlotFinished(slot);
}

/** `owner`'s request ended (answered or not); a second call does nothing. */
function ended(owner: Closing): void {
  const tracked = owner[kRequest];
  if (tracked === undefined) return;
  // Held in a slot alone (see Tracked).
  if (typeof tracked === 'number') return endedInSlot(owner, tracked);
  if (tracked instanceof HeldRequest) return endedInSlot(owner, tracked.slot);
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
  const { request: incoming, response } = message as { request: InRequest & { method?: string; url?: string }; response: Closing };
  if (installed === undefined) installDetachSocket();
  const method = incoming.method ?? '';
  const url = incoming.url ?? '';
  // Every request of a production server (frames, no trace, room in the table) takes the short
  // way: a slot, the request entered, held on its response. Written apart from `started`, so
  // that V8 makes it one small function (measured on Node 24: ~500 instructions a request less
  // than the same steps through `started`).
  if (requestStorage === undefined || requestChannel.hasSubscribers || requestSlotsFree() === 0) {
    started(method, url, 'http', response, incoming);
    return;
  }
  const id = nextId++;
  const request = new HeldRequest(id, method, url, requestSlotStarted(id));
  requestStorage.enterWith(request);
  if (mayHaveBody(incoming)) runEventsInRequest(incoming, request);
  heldInSlot(response, request, request.slot);
}

type DetachSocket = (this: unknown, socket: unknown) => void;

/** The `detachSocket` `installDetachSocket` installed, and whether the prototype had one of its own before. */
let installed: { detachSocket: DetachSocket; replacedOwn: DetachSocket | undefined } | undefined;

/**
 * A `detachSocket` for `ServerResponse.prototype` while the tracker runs. node:http calls it
 * once per response, when the response has finished (its 'finish', before its 'close'): a
 * tracked one's request ends there, then `base` detaches it as before. Measured on Node 24, an
 * `emit` wrapper that saw 'close' cost ~150 instructions a request more: every event of every
 * response went through it, and `emit` was no longer inlined where node:http calls it. Made per
 * install: one left in place under another library's wrapper (see below) keeps its own `base`.
 */
function detachObserving(base: DetachSocket): DetachSocket {
  // One parameter, as node:http calls it: forwarding `arguments` made V8 allocate them (~50
  // instructions a request on Node 26).
  return function detachSocketObserved(this: unknown, socket: unknown): void {
    if ((this as Closing)[kRequest] !== undefined) ended(this as Closing);
    base.call(this, socket);
  };
}

/** node:http's `ServerResponse.prototype`; node:http is loaded by then (a server of its published a request). */
function responsePrototype(): { detachSocket: DetachSocket } {
  return (require('node:http') as typeof import('node:http')).ServerResponse.prototype as unknown as { detachSocket: DetachSocket };
}

/** Installs the observing `detachSocket` (at the first request the tracker sees). */
function installDetachSocket(): void {
  const prototype = responsePrototype();
  const replacedOwn = Object.hasOwn(prototype, 'detachSocket') ? prototype.detachSocket : undefined;
  installed = { detachSocket: detachObserving(prototype.detachSocket), replacedOwn };
  prototype.detachSocket = installed.detachSocket;
}

/**
 * Removes the observing `detachSocket`, when installed. One that another library has wrapped
 * since stays where it is (its wrapper calls it): it still ends the requests it sees.
 */
function removeDetachSocket(): void {
  if (installed === undefined) return;
  const prototype = responsePrototype();
  if (prototype.detachSocket === installed.detachSocket) {
    if (installed.replacedOwn !== undefined) prototype.detachSocket = installed.replacedOwn;
    else delete (prototype as { detachSocket?: DetachSocket }).detachSocket;
  }
  installed = undefined;
}

function onHttp2Start(message: unknown): void {
  const { stream, headers } = message as { stream: InRequest & Closing; headers: Record<string, unknown> };
  const method = headers[':method'];
  const path = headers[':path'];
  started(typeof method === 'string' ? method : '', typeof path === 'string' ? path : '', 'http2', stream, stream);
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
  removeDetachSocket();
  // The responses in flight end at a 'close' listener of their own now (those tracked in full
  // have one already).
  sweep(responseBySlot.length);
  for (const owner of responseBySlot) owner?.on('close', onClose);
}

/** Requests in the table now (those left unanswered swept first), and those not kept because it was full. */
export function httpRequestTableStats(): ReturnType<typeof requestSlotStats> {
  sweep(responseBySlot.length);
  return requestSlotStats();
}

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
  sweep(responseBySlot.length);
  const out: InFlightRequest[] = [];
  for (const t of bySlot) if (t !== undefined) out.push({ id: t.id, method: t.method, url: t.url, protocol: t.protocol, startedAtNs: t.startedAtNs });
  // The others: as their frame holds them, or read back from the table.
  responseBySlot.forEach((owner, slot) => {
    if (owner === undefined) return;
    const held = owner[kRequest];
    const { id, method, url } = held instanceof HeldRequest ? held : requestSlotRequest(slot);
    out.push({ id, method, url, protocol: 'http', startedAtNs: 0n });
  });
  return out;
}
