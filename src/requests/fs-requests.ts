/**
 * fs requests, seen through the functions of Node's fs binding (the object `lib/fs.js` and
 * `fs/promises` call through, reached with `process.binding('fs')`): while requests are tracked
 * or named, each of its functions is replaced by a wrapper, and the originals are put back when
 * they no longer are (see patch.ts for when someone replaced them meanwhile). One state per
 * thread:
 *
 * - `track` (the wrapper source): a call that makes a pool request is one request of kind
 *   `fs.<operation>`. A callback request passes an FSReqCallback among its arguments: its
 *   `oncomplete` becomes a trampoline until it completes (callbacks.ts). A promise request passes
 *   the binding's `kUsePromises` and gets a promise back, whose settlement is the completion.
 *   `FileHandle.prototype.close` (fs/promises' close) is wrapped the same way. A call that throws
 *   made no request. Synchronous calls pass neither and are only passed on.
 * - `name` (the hook source, which sees each request's start and end itself): the wrapper names
 *   the operation for the synchronous extent of the call (fsOperationNow()) and shows its object
 *   arguments to the hook source, among which a callback request's FSReqCallback.
 * - `off`: nothing replaced (or wrappers left in someone's chain passing calls on).
 *
 * Node's own modules that took references to binding functions before the wrappers were put in
 * place call the originals: on Node 20-24 the read and close of callback `fs.readFile` once
 * `lib/internal/fs/read/context.js` has loaded. Those assign the request's `context` right
 * before the call, after its `oncomplete`: while tracking, FSReqCallback.prototype has a
 * `context` accessor that diverts the callback of such a request, named after its callback
 * (`readFileAfterRead`: `fs.read`; another: kind `fs`) and told to the monitors only when it
 * completes (it cannot be told apart from one never submitted); a wrapper that then sees the
 * request names and submits it. A module that loads while the
 * wrappers are in place keeps them, and they pass its calls on once tracking stops.
 * @internal
 * @module
 */

import { callInRequest } from '../http-request-context';
import { divertOncomplete, restoreOncomplete } from './callbacks';
import { fsOperationOf } from './kinds';
import { isFailure } from './outcomes';
import { nodeBinding } from './node-internals';
import { likeOriginal, Patch, withValue } from './patch';
import { isPromise, kindId } from './recorder';
import type { RequestRecorder, TrackedRequest } from './recorder';

type AnyFunction = (...args: unknown[]) => unknown;
export type FsMode = 'off' | 'track' | 'name';

const kRequest = Symbol('uvscope.fsRequest');
type Holder = { [kRequest]?: TrackedRequest; oncomplete?: unknown };
const promiseThen = Promise.prototype.then;
/**
 * Binding functions that only ever run synchronously (module loading, *Sync calls) on the
 * Nodes seen here: left alone, so that they cost nothing more and their errors' stacks show no
 * frame of uvscope's.
 */
const SYNCHRONOUS_ONLY = /Sync|^(readFileUtf8|writeFileUtf8|internalModuleReadJSON|internalModuleStat|legacyMainResolve|getFormatOfExtensionlessFile)$/;

const FS_KIND = kindId('fs');
/** The operation of a request by its callback, for `fs.readFile`'s steps that call the binding's originals (Node 20-24). */
const READ_FILE_STEPS = new Map(
  Object.entries({ readFileAfterStat: 'fstat', readFileAfterRead: 'read', readFileAfterClose: 'close' }).map(([callback, operation]) => [
    callback,
    { kind: `fs.${operation}`, id: kindId(`fs.${operation}`) },
  ]),
);
const CLOSE_KIND = kindId('fs.close');
let mode: FsMode = 'off';
let recorder: RequestRecorder | undefined;
/** The binding's patches (built on first use; empty where the binding cannot be reached) and FileHandle.prototype.close's. */
let bindingPatches: Patch[] | undefined;
let closePatch: Patch | undefined;
let contextPatch: Patch | undefined;
let requestPrototype: object | undefined;
let kUsePromises: unknown;

/** The fs operation whose binding call is running now (`name` state). */
let currentFsOperation: string | undefined;
/** `name` state: told of each call with its object arguments (the hook source's relabelling). */
let onCall: ((argument: object, operation: string) => void) | undefined;

/** fs callback requests: Node calls this as the request's `oncomplete`. */
function fsTrampoline(this: Holder): unknown {
  const request = this[kRequest];
  if (request === undefined) return undefined;
  this[kRequest] = undefined;
  restoreOncomplete(this, request);
  recorder!.settle(request, isFailure(arguments[0]));
  if (request.httpRequestId !== 0) return callInRequest(request.httpRequestId, request.callback!, this, arguments);
  return Reflect.apply(request.callback!, this, arguments);
}

/**
 * A callback request about to be submitted with `req`: its callback diverted, or undefined
 * when it is not to be tracked here (no callback; tracked already by a second wrapper of this
 * copy's in a chain, see patch.ts). One the context setter diverted is named now.
 */
function startCallback(kind: string, id: number, req: Holder): TrackedRequest | undefined {
  const tracked = req[kRequest];
  if (tracked !== undefined) {
    if (!tracked.unnamed) return undefined;
    tracked.unnamed = false;
    tracked.rename(kind, id);
    return tracked;
  }
  const request = recorder!.create(kind, id);
  if (!divertOncomplete(req, fsTrampoline, request)) return undefined;
  req[kRequest] = request;
  return request;
}

/** The submission of `request` with `req` threw: no request was made. */
function abandonCallback(req: Holder, request: TrackedRequest): void {
  if (req[kRequest] === request) {
    req[kRequest] = undefined;
    restoreOncomplete(req, request);
  }
  recorder!.withdraw(request);
}

/** A promise request's promise: its settlement is the request's. */
function watchPromise(request: TrackedRequest, result: unknown): void {
  if (!isPromise(result)) return;
  const rec = recorder!;
  rec.submit(request);
  Reflect.apply(promiseThen, result, [() => rec.settle(request, false), () => rec.settle(request, true)]);
}

function callNaming(operation: string, original: AnyFunction, self: unknown, args: ArrayLike<unknown>): unknown {
  if (onCall !== undefined) {
    for (let i = args.length - 1; i >= 0; i--) {
      const arg = args[i];
      if (typeof arg === 'object' && arg !== null && !ArrayBuffer.isView(arg)) onCall(arg, operation);
    }
  }
  const outer = currentFsOperation;
  currentFsOperation = operation;
  try {
    return Reflect.apply(original, self, args);
  } finally {
    currentFsOperation = outer;
  }
}

function wrapBindingFunction(name: string, original: AnyFunction): AnyFunction {
  const operation = fsOperationOf(name);
  const kind = `fs.${operation}`;
  const id = kindId(kind);
  // `arguments`, not rest parameters: V8 forwards it to Reflect.apply without making an array.
  return likeOriginal(function (this: unknown) {
    if (mode === 'track') {
      for (let i = arguments.length - 1; i >= 0; i--) {
        const arg: unknown = arguments[i];
        if (arg === kUsePromises) {
          const request = recorder!.create(kind, id);
          const result = Reflect.apply(original, this, arguments);
          watchPromise(request, result);
          return result;
        }
        if (typeof arg === 'object' && arg !== null && Object.getPrototypeOf(arg) === requestPrototype) {
          const request = startCallback(kind, id, arg as Holder);
          if (request === undefined) break;
          // Told before the call: work left after it runs while the pool thread the call woke waits for a CPU.
          recorder!.submit(request);
          try {
            return Reflect.apply(original, this, arguments);
          } catch (error) {
            abandonCallback(arg as Holder, request);
            throw error;
          }
        }
      }
    } else if (mode === 'name') {
      return callNaming(operation, original, this, arguments);
    }
    return Reflect.apply(original, this, arguments);
  }, original);
}

function buildPatches(): Patch[] {
  const binding = nodeBinding('fs');
  const patches: Patch[] = [];
  if (binding === undefined) return patches;
  const FSReqCallback = binding.FSReqCallback as { prototype?: object } | undefined;
  requestPrototype = FSReqCallback?.prototype;
  kUsePromises = binding.kUsePromises;
  for (const name of Object.keys(binding)) {
    const value = binding[name];
    // Constructors (FSReqCallback, FileHandle, StatWatcher, the Job classes) are left alone.
    if (typeof value !== 'function' || /^[A-Z]/.test(name) || SYNCHRONOUS_ONLY.test(name)) continue;
    patches.push(new Patch(binding, name, (original) => withValue(original, wrapBindingFunction(name, original?.value as AnyFunction))));
  }
  if (requestPrototype !== undefined && !Object.hasOwn(requestPrototype, 'context')) {
    contextPatch = new Patch(requestPrototype, 'context', () => ({
      configurable: true,
      enumerable: false,
      get: () => undefined,
      set(this: Holder, value: unknown) {
        Object.defineProperty(this, 'context', { value, writable: true, enumerable: true, configurable: true });
        if (mode !== 'track' || this[kRequest] !== undefined) return;
        const request = recorder!.create('fs', FS_KIND);
        if (!divertOncomplete(this, fsTrampoline, request)) return;
        const operation = READ_FILE_STEPS.get(request.callback!.name);
        if (operation !== undefined) request.rename(operation.kind, operation.id);
        request.unnamed = true;
        this[kRequest] = request;
      },
    }));
  }
  const fileHandle = (binding.FileHandle as { prototype?: { close?: unknown } } | undefined)?.prototype;
  if (fileHandle !== undefined && typeof fileHandle.close === 'function') {
    closePatch = new Patch(fileHandle, 'close', (original) => {
      const close = original?.value as AnyFunction;
      return withValue(
        original,
        likeOriginal(function (this: unknown) {
          if (mode !== 'track') return Reflect.apply(close, this, arguments);
          const request = recorder!.create('fs.close', CLOSE_KIND);
          const result = Reflect.apply(close, this, arguments);
          watchPromise(request, result);
          return result;
        }, close),
      );
    });
  }
  return patches;
}

/** Whether the fs binding can be reached (and its functions wrapped). */
export function fsBindingReachable(): boolean {
  bindingPatches ??= buildPatches();
  return bindingPatches.length > 0;
}

/** Starts tracking fs requests into `into` (the wrapper source). Returns whether the binding could be wrapped. */
export function trackFsRequests(into: RequestRecorder): boolean {
  if (!fsBindingReachable()) return false;
  recorder = into;
  onCall = undefined;
  mode = 'track';
  for (const patch of bindingPatches!) patch.install();
  closePatch?.install();
  contextPatch?.install();
  return true;
}

/** Starts naming fs operations for the hook source. Returns whether names are available. */
export function nameFsRequests(onBindingCall: (argument: object, operation: string) => void): boolean {
  if (!fsBindingReachable()) return false;
  onCall = onBindingCall;
  mode = 'name';
  closePatch?.uninstall();
  contextPatch?.uninstall();
  for (const patch of bindingPatches!) patch.install();
  return true;
}

/** Stops tracking or naming: the originals go back. Requests in flight still complete through their trampolines. */
export function stopFsRequests(): void {
  mode = 'off';
  onCall = undefined;
  currentFsOperation = undefined;
  for (const patch of bindingPatches ?? []) patch.uninstall();
  closePatch?.uninstall();
  contextPatch?.uninstall();
}

/** The fs operation whose binding call is running now, while fs operations are being named. */
export function fsOperationNow(): string | undefined {
  return currentFsOperation;
}
