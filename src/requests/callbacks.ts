/**
 * Seeing a request complete: Node calls the function it reads from a property of the request
 * object when the request completes (`oncomplete` for fs and dns, `ondone` for crypto and fs
 * jobs, `onerror` for a failed zlib write), with the request object as `this`. While a request
 * is tracked, that property holds a trampoline of the tracker's and the callback waits in the
 * request's TrackedRequest; the trampoline puts the callback back before calling it, so once a
 * request has completed its object is as Node left it.
 *
 * The property usually is an own data property of the request object (Node's code assigns it).
 * Where another copy of uvscope's hook source made it an accessor of the class's prototype
 * (outcomes.ts: the getter returns a shared trampoline, marked with a registered symbol, that
 * calls the callback kept under a registered slot symbol), the callback is taken from, and put
 * back into, that slot instead: taking the shared trampoline itself as the callback would make
 * the two trampolines call each other forever. Also here: what counts as a failure, the first
 * argument (an Error, or dns's non-zero status), as outcomes.ts reads it. Stateless.
 * @internal
 * @module
 */
import { CALLBACK_SLOTS, kTrampoline } from './outcomes';
import type { TrackedRequest } from './recorder';

export type CallbackProperty = 'oncomplete' | 'ondone' | 'onerror';
type Callback = (...args: unknown[]) => unknown;
type Holder = Record<PropertyKey, unknown>;


/**
 * Puts `trampoline` where Node will read `object[property]`, keeping the callback it replaces
 * in `request`. Returns false, touching nothing, when there is no callback (not a function).
 * (One function per property: a property name passed in would make every access a keyed one,
 * shared by the three callers, which V8 handles far slower than a named one.)
 */
export function divertOncomplete(object: { oncomplete?: unknown }, trampoline: Callback, request: TrackedRequest): boolean {
  const callback = object.oncomplete;
  if (typeof callback !== 'function') return false;
  if ((callback as unknown as Holder)[kTrampoline] === true) return divertShared(object, 'oncomplete', trampoline, request);
  request.callback = callback as Callback;
  object.oncomplete = trampoline;
  return true;
}

export function divertOndone(object: { ondone?: unknown }, trampoline: Callback, request: TrackedRequest): boolean {
  const callback = object.ondone;
  if (typeof callback !== 'function') return false;
  if ((callback as unknown as Holder)[kTrampoline] === true) return divertShared(object, 'ondone', trampoline, request);
  request.callback = callback as Callback;
  object.ondone = trampoline;
  return true;
}

export function divertOnerror(object: { onerror?: unknown }, trampoline: Callback, request: TrackedRequest): boolean {
  const callback = object.onerror;
  if (typeof callback !== 'function') return false;
  if ((callback as unknown as Holder)[kTrampoline] === true) return divertShared(object, 'onerror', trampoline, request);
  request.callback = callback as Callback;
  object.onerror = trampoline;
  return true;
}

/** The callback is behind another copy's shared trampoline (outcomes.ts): swap the slot it calls. */
function divertShared(object: object, property: CallbackProperty, trampoline: Callback, request: TrackedRequest): boolean {
  const holder = object as Holder;
  const slot = CALLBACK_SLOTS[property];
  const inner = holder[slot];
  if (typeof inner !== 'function') return false;
  request.callback = inner as Callback;
  request.slot = slot;
  holder[slot] = trampoline;
  return true;
}

/** Put the callback a divert function took back where it was. */
export function restoreOncomplete(object: { oncomplete?: unknown }, request: TrackedRequest): void {
  if (request.slot === undefined) object.oncomplete = request.callback;
  else (object as Holder)[request.slot] = request.callback;
}

export function restoreOndone(object: { ondone?: unknown }, request: TrackedRequest): void {
  if (request.slot === undefined) object.ondone = request.callback;
  else (object as Holder)[request.slot] = request.callback;
}

export function restoreOnerror(object: { onerror?: unknown }, request: TrackedRequest): void {
  if (request.slot === undefined) object.onerror = request.callback;
  else (object as Holder)[request.slot] = request.callback;
}
