/**
 * dns.lookup and dns.lookupService requests (getaddrinfo and getnameinfo on the pool), seen when
 * Node assigns the request object's `oncomplete`, which it does right before submitting it: both
 * dns.lookup and dns.promises.lookup do, whereas the second calls a reference to the binding's
 * `getaddrinfo` taken when its module loaded. While requests are tracked, the prototypes of
 * `cares_wrap`'s GetAddrInfoReqWrap and GetNameInfoReqWrap have an `oncomplete` accessor whose
 * setter starts a request and stores a trampoline as the object's own `oncomplete` instead (an
 * own data property, as the plain assignment would have made); the trampoline settles the request
 * and puts the callback back. A submission that fails at once (an invalid name under
 * dns.promises.lookup on Node 20) never calls back: a microtask queued by the setter finds the
 * request object without a native request behind it (getAsyncId() is -1) and withdraws it. The
 * accessors go when tracking stops (patch.ts). Per thread.
 * @internal
 * @module
 */
import { callInRequest } from '../http-request-context';
import { isFailure } from './outcomes';
import { nodeBinding } from './node-internals';
import { Patch } from './patch';
import { kindId } from './recorder';
import type { RequestRecorder, TrackedRequest } from './recorder';

type Callback = (...args: unknown[]) => unknown;
const kRequest = Symbol('uvscope.dnsRequest');
/** Set on a request object while its trampoline puts the callback back (the assignment must not start a request). */
const RESTORING = Symbol('uvscope.dnsRestoring');
type Holder = { [kRequest]?: TrackedRequest | typeof RESTORING; oncomplete?: unknown; getAsyncId?: () => number };

const KIND_BY_CLASS: Readonly<Record<string, string>> = {
  GetAddrInfoReqWrap: 'dns.lookup',
  GetNameInfoReqWrap: 'dns.lookupService',
};

let active = false;
let recorder: RequestRecorder | undefined;
let patches: Patch[] | undefined;

function dnsTrampoline(this: Holder, ...args: unknown[]): unknown {
  const request = this[kRequest];
  if (request === undefined || request === RESTORING) return undefined;
  this[kRequest] = RESTORING;
  this.oncomplete = request.callback;
  this[kRequest] = undefined;
  recorder!.settle(request, isFailure(args[0]));
  if (request.httpRequestId !== 0) return callInRequest(request.httpRequestId, request.callback!, this, args);
  return Reflect.apply(request.callback!, this, args);
}

/** After the submission: a request object that has no native request behind it was not submitted. */
function confirm(req: Holder, request: TrackedRequest): void {
  if (req[kRequest] !== request) return;
  let id: unknown;
  try {
    id = req.getAsyncId?.();
  } catch {
    return;
  }
  if (id !== -1) return;
  req[kRequest] = RESTORING;
  req.oncomplete = request.callback;
  req[kRequest] = undefined;
  recorder!.withdraw(request);
}

function accessor(kind: string, original: PropertyDescriptor | undefined): PropertyDescriptor {
  const id = kindId(kind);
  /** What the assignment would have done without this accessor. */
  const assign = (req: Holder, value: unknown) => {
    if (original?.set !== undefined) Reflect.apply(original.set, req, [value]);
    else Object.defineProperty(req, 'oncomplete', { value, writable: true, enumerable: true, configurable: true });
  };
  return {
    configurable: true,
    enumerable: original?.enumerable ?? false,
    get(this: Holder) {
      if (original?.get !== undefined) return Reflect.apply(original.get, this, []);
      return original?.value;
    },
    set(this: Holder, callback: unknown) {
      if (!active || typeof callback !== 'function' || this[kRequest] !== undefined) return assign(this, callback);
      const request = recorder!.create(kind, id);
      request.callback = callback as Callback;
      this[kRequest] = request;
      assign(this, dnsTrampoline);
      recorder!.submit(request);
      queueMicrotask(() => confirm(this, request));
    },
  };
}

function buildPatches(): Patch[] {
  const binding = nodeBinding('cares_wrap');
  const result: Patch[] = [];
  if (binding === undefined) return result;
  for (const [name, kind] of Object.entries(KIND_BY_CLASS)) {
    const prototype = (binding[name] as { prototype?: object } | undefined)?.prototype;
    if (typeof prototype === 'object' && prototype !== null) result.push(new Patch(prototype, 'oncomplete', (original) => accessor(kind, original)));
  }
  return result;
}

/** Whether dns requests can be seen (the cares_wrap binding can be reached). */
export function dnsBindingReachable(): boolean {
  patches ??= buildPatches();
  return patches.length > 0;
}

export function trackDnsRequests(into: RequestRecorder): boolean {
  if (!dnsBindingReachable()) return false;
  recorder = into;
  active = true;
  for (const patch of patches!) patch.install();
  return true;
}

export function stopDnsRequests(): void {
  active = false;
  for (const patch of patches ?? []) patch.uninstall();
}
