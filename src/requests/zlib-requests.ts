/**
 * zlib requests: each asynchronous `write()` of a zlib, brotli or zstd handle (the classes of
 * Node's zlib binding, behind `zlib.createGzip()`, `zlib.gzip()` and the like) runs on the pool;
 * `writeSync()` does not. A handle calls back through the function its `init()` was given (on
 * success) or its `onerror` (on failure). While requests are tracked, the classes' `init` and
 * `write` are wrapped: init() hands the handle a trampoline in place of that function (kept by
 * the handle for its life; it passes calls on once tracking stops), and write() starts a request
 * and diverts `onerror` until the write completes. Writes of handles initialised while no
 * tracking ran are not seen: their completion could not be. Per thread.
 * @internal
 * @module
 */
import { callInRequest } from '../http-request-context';
import { divertOnerror, restoreOnerror } from './callbacks';
import { nodeBinding } from './node-internals';
import { likeOriginal, Patch, withValue } from './patch';
import { kindId } from './recorder';
import type { RequestRecorder, TrackedRequest } from './recorder';

type AnyFunction = (...args: unknown[]) => unknown;
const kRequest = Symbol('uvscope.zlibRequest');
/** The function the handle's init() was given, called by its trampoline. */
const kCallback = Symbol('uvscope.zlibCallback');
type Holder = { [kRequest]?: TrackedRequest; [kCallback]?: AnyFunction; onerror?: unknown };

const ZLIB_KIND = kindId('zlib');
let active = false;
let recorder: RequestRecorder | undefined;
let patches: Patch[] | undefined;

/** A write completed: the handle calls this in place of the function its init() was given. */
function writeTrampoline(this: Holder): unknown {
  const request = this[kRequest];
  if (request !== undefined) {
    this[kRequest] = undefined;
    restoreOnerror(this, request);
    recorder!.settle(request, false);
    if (request.httpRequestId !== 0) return callInRequest(request.httpRequestId, this[kCallback]!, this, arguments);
  }
  return Reflect.apply(this[kCallback]!, this, arguments);
}

/** A write failed: the handle calls this as its `onerror`. */
function errorTrampoline(this: Holder): unknown {
  const request = this[kRequest];
  if (request === undefined) return undefined;
  this[kRequest] = undefined;
  restoreOnerror(this, request);
  recorder!.settle(request, true);
  if (request.httpRequestId !== 0) return callInRequest(request.httpRequestId, request.callback!, this, arguments);
  return Reflect.apply(request.callback!, this, arguments);
}

function wrapInit(init: AnyFunction): AnyFunction {
  return likeOriginal(function (this: Holder, ...args: unknown[]) {
    if (active && this[kCallback] === undefined) {
      const at = args.findIndex((arg) => typeof arg === 'function');
      if (at >= 0) {
        this[kCallback] = args[at] as AnyFunction;
        args[at] = writeTrampoline;
      }
    }
    return Reflect.apply(init, this, args);
  }, init);
}

function wrapWrite(write: AnyFunction): AnyFunction {
  return likeOriginal(function (this: Holder) {
    if (!active || this[kCallback] === undefined || this[kRequest] !== undefined) return Reflect.apply(write, this, arguments);
    const rec = recorder!;
    const request = rec.create('zlib', ZLIB_KIND);
    // Without an onerror a failure could not be seen, nor the request settled.
    if (!divertOnerror(this, errorTrampoline, request)) return Reflect.apply(write, this, arguments);
    this[kRequest] = request;
    let result: unknown;
    try {
      result = Reflect.apply(write, this, arguments);
    } catch (error) {
      if (this[kRequest] === request) {
        this[kRequest] = undefined;
        restoreOnerror(this, request);
      }
      rec.withdraw(request);
      throw error;
    }
    rec.submit(request);
    return result;
  }, write);
}

function buildPatches(): Patch[] {
  const binding = nodeBinding('zlib');
  const result: Patch[] = [];
  if (binding === undefined) return result;
  for (const value of Object.values(binding)) {
    const prototype = (value as { prototype?: { init?: unknown; write?: unknown } } | undefined)?.prototype;
    if (typeof value !== 'function' || typeof prototype?.init !== 'function' || typeof prototype.write !== 'function') continue;
    result.push(new Patch(prototype, 'init', (original) => withValue(original, wrapInit(original?.value as AnyFunction))));
    result.push(new Patch(prototype, 'write', (original) => withValue(original, wrapWrite(original?.value as AnyFunction))));
  }
  return result;
}

/** Whether zlib requests can be seen (the zlib binding can be reached). */
export function zlibBindingReachable(): boolean {
  patches ??= buildPatches();
  return patches.length > 0;
}

export function trackZlibRequests(into: RequestRecorder): boolean {
  if (!zlibBindingReachable()) return false;
  recorder = into;
  active = true;
  for (const patch of patches!) patch.install();
  return true;
}

export function stopZlibRequests(): void {
  active = false;
  for (const patch of patches ?? []) patch.uninstall();
}
