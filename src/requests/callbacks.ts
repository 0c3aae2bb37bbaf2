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
 * the two trampolines call each other forever. Stateless.
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
 */
export function divert(object: object, property: CallbackProperty, trampoline: Callback, request: TrackedRequest): boolean {
  const holder = object as Holder;
  const callback = holder[property];
  if (typeof callback !== 'function') return false;
  if ((callback as unknown as Holder)[kTrampoline] === true) {
    const slot = CALLBACK_SLOTS[property];
    const inner = holder[slot];
    if (typeof inner !== 'function') return false;
    request.callback = inner as Callback;
    request.slot = slot;
    holder[slot] = trampoline;
  } else {
    request.callback = callback as Callback;
    request.slot = undefined;
    holder[property] = trampoline;
  }
  return true;
}

/** Puts the callback divert() took back where it was. */
export function restore(object: object, property: CallbackProperty, request: TrackedRequest): void {
  (object as Holder)[request.slot ?? property] = request.callback;
}
