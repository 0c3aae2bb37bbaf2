/**
 * The HTTP requests this thread's servers are handling, for stall attribution. Node's
 * diagnostics channel `http.server.request.start` (node:http and node:https, so express,
 * fastify, koa, Next) and, from Node 22, `http2.server.stream.start` say when a request starts;
 * its response's (or stream's) 'close' when it ends, answered or not. Each request gets an id
 * and a slot in the request table the addon reads (./request-slots.ts) with the async id it
 * started in, where the stall watchdog finds it without running JavaScript on the blocked
 * thread: by that async id (the request's synchronous handling and its socket's callbacks, every
 * Node) and, where Node keeps AsyncLocalStorage in async context frames (Node 24 and later, 22
 * with `--experimental-async-context-frame`), by the id entered into a storage of uvscope's, which
 * follows the request through `await`s, timers and callbacks. The same ids link the pool work a
 * request submits to it (../http-request-context.ts). Finished requests are published on
 * `uvscope:http:request` while it has subscribers (the trace draws them).
 *
 * Lifetime: one tracker per thread, subscribed while at least one user holds it
 * (`acquireHttpRequests`/`releaseHttpRequests`); a request that started before is not tracked.
 * @internal
 * @module
 */
import { executionAsyncId } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';

import { HTTP_REQUEST_CHANNEL, HttpRequestRecord } from '../channels';
import { enterRequest, leaveRequest, setRequestsTracked } from '../http-request-context';
import { requestSlotFinished, requestSlotStarted, requestSlotStats } from './request-slots';

export { asyncContextFramesInUse, requestStorage } from '../http-request-context';

const requestChannel = diagnosticsChannel.channel(HTTP_REQUEST_CHANNEL);
const kRequest = Symbol('uvscope.httpRequest');

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
}

interface Closing {
  [kRequest]?: Tracked;
  statusCode?: number;
  writableFinished?: boolean;
  sentHeaders?: Record<string, unknown>;
  rstCode?: number;
}

let nextId = 1;
let users = 0;

function started(method: string, url: string, protocol: Tracked['protocol'], owner: Closing & { on(event: 'close', fn: () => void): unknown }): void {
  const id = nextId++;
  const asyncId = executionAsyncId();
  const slot = requestSlotStarted(id, asyncId, method, url);
  enterRequest(id, asyncId);
  owner[kRequest] = { id, slot, asyncId, method, url, protocol, startedAtNs: requestChannel.hasSubscribers ? process.hrtime.bigint() : 0n };
  owner.on('close', onClose);
}

function onClose(this: Closing): void {
  const tracked = this[kRequest];
  if (tracked === undefined) return;
  this[kRequest] = undefined;
  requestSlotFinished(tracked.slot);
  leaveRequest(tracked.id, tracked.asyncId);
  if (!requestChannel.hasSubscribers || tracked.startedAtNs === 0n) return;
  const http2Status = this.sentHeaders?.[':status'];
  const record: HttpRequestRecord = {
    id: tracked.id,
    method: tracked.method,
    url: tracked.url,
    protocol: tracked.protocol,
    statusCode: typeof http2Status === 'number' ? http2Status : (this.statusCode ?? 0),
    completed: tracked.protocol === 'http2' ? this.rstCode === undefined || this.rstCode === 0 : this.writableFinished === true,
    startedAtNs: tracked.startedAtNs,
    endedAtNs: process.hrtime.bigint(),
  };
  requestChannel.publish(record);
}

function onHttpStart(message: unknown): void {
  const { request, response } = message as { request: { method?: string; url?: string }; response: Closing & { on(e: 'close', f: () => void): unknown } };
  started(request.method ?? '', request.url ?? '', 'http', response);
}

function onHttp2Start(message: unknown): void {
  const { stream, headers } = message as { stream: Closing & { on(e: 'close', f: () => void): unknown }; headers: Record<string, unknown> };
  const method = headers[':method'];
  const path = headers[':path'];
  started(typeof method === 'string' ? method : '', typeof path === 'string' ? path : '', 'http2', stream);
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
}

/** Requests in the table now, and those not kept because it was full. */
export const httpRequestTableStats = requestSlotStats;
