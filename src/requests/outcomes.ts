/**
 * Whether a pool request of Node's own failed, for the hook source (hook-source.ts; the wrapper
 * source sees each callback's arguments through its own trampolines, callbacks.ts, which also
 * know this file's registered names). Node hands a request's result to the callback it
 * reads from the request object when the request completes (`oncomplete` for fs and dns,
 * `ondone` for crypto jobs, `onerror` for zlib). Between async_hooks' `before` and `after` of
 * the request, uvscope needs to see that callback's first argument: an Error, or dns's non-zero
 * status, means failure.
 *
 * For that, the callback property of each request class's prototype becomes an accessor, once
 * per class and for the life of the process: the setter keeps the function on the instance
 * under a slot; the getter returns a shared trampoline that marks the request object failed or
 * not, then calls it. A callback already set when the request is seen (dns sets it before the
 * request exists natively) is moved behind the trampoline on the instance. The marks, slots and
 * trampolines use registered symbols (`Symbol.for`) and live on Node's objects, so every copy of
 * uvscope in the process (two versions in node_modules, or one per jest test file) reads what
 * whichever copy installed the accessor writes. Requests whose callback was an own property
 * before any of this (in flight when the first monitor started) report no failure.
 * @internal
 * @module
 */

const CALLBACK_PROPERTIES = ['oncomplete', 'ondone', 'onerror'] as const;
type CallbackProperty = (typeof CALLBACK_PROPERTIES)[number];
type Callback = (...args: unknown[]) => unknown;
/** Where each instance keeps its callback behind the trampoline. */
export const CALLBACK_SLOTS = Object.fromEntries(CALLBACK_PROPERTIES.map((p) => [p, Symbol.for(`uvscope.requestCallback.${p}`)])) as Readonly<
  Record<CallbackProperty, symbol>
>;
const slots = CALLBACK_SLOTS;
/** Set on the request object by the trampoline: whether its callback reported a failure. */
const kFailed = Symbol.for('uvscope.requestFailed');
/** Set on a prototype once it has the accessors. */
const kPatched = Symbol.for('uvscope.requestCallbackAccessors');
/**
 * Functions every copy's `ondone` setter calls with the object assigned to (job-requests.ts
 * keeps one here while it tracks, on AsyncWrap.prototype): a class given the accessors below
 * hides AsyncWrap.prototype's own `ondone` setter, by which job classes are found.
 */
export const kOndoneAssigned = Symbol.for('uvscope.ondoneAssigned');
/** Set on every copy's trampolines: one already on an instance is never moved behind another. */
export const kTrampoline = Symbol.for('uvscope.requestCallbackTrampoline');
type Holder = Record<symbol, unknown>;

/** The prototype seen last (requests come in runs of one class): skips the property check. */
let lastProto: object | null = null;

/** Whether a completion callback's first argument reports a failure: an Error, or dns's non-zero status. */
export const isFailure = (first: unknown) => first !== undefined && first !== null && first !== 0;

function trampolineFor(property: CallbackProperty): Callback {
  const slot = slots[property];
  const trampoline = function (this: Holder, ...args: unknown[]) {
    this[kFailed] = isFailure(args[0]);
    return Reflect.apply(this[slot] as Callback, this, args);
  };
  Object.defineProperty(trampoline, kTrampoline, { value: true });
  return trampoline;
}
const trampolines = Object.fromEntries(CALLBACK_PROPERTIES.map((p) => [p, trampolineFor(p)]));

/**
 * Makes the failure of `resource` visible (see the module comment): moves a callback already
 * set on it behind the trampoline, and gives its class's prototype the accessors (once per
 * class; only for the properties the prototype does not define itself).
 */
export function watchOutcomeOf(resource: Holder & object): void {
  for (const property of CALLBACK_PROPERTIES) {
    if (!Object.hasOwn(resource, property)) continue;
    const own = Object.getOwnPropertyDescriptor(resource, property)!;
    // Another copy of uvscope (its own trampolines, the same slot) may have moved it already.
    if (typeof own.value === 'function' && own.writable && !(kTrampoline in own.value)) {
      resource[slots[property]] = own.value as Callback;
      (resource as Record<string, unknown>)[property] = trampolines[property];
    }
  }
  const proto = Object.getPrototypeOf(resource) as Holder | null;
  if (proto === lastProto) return;
  lastProto = proto;
  if (proto === null || proto === Object.prototype || Object.hasOwn(proto, kPatched)) return;
  Object.defineProperty(proto, kPatched, { value: true });
  for (const property of CALLBACK_PROPERTIES) {
    if (Object.hasOwn(proto, property) || Object.hasOwn(resource, property)) continue;
    const slot = slots[property];
    const trampoline = trampolines[property];
    Object.defineProperty(proto, property, {
      configurable: true,
      enumerable: false,
      get(this: Holder) {
        const callback = this[slot];
        return typeof callback === 'function' ? trampoline : callback;
      },
      set(this: Holder, callback: unknown) {
        this[slot] = callback;
        if (property !== 'ondone') return;
        const listeners = this[kOndoneAssigned] as ReadonlyArray<(object: object) => void> | undefined;
        if (listeners !== undefined) for (const listener of listeners) listener(this);
      },
    });
  }
}

/**
 * Whether the callback `resource`'s request last called reported a failure. Read, not cleared:
 * every copy of uvscope in the process reads the same mark, and each call through a trampoline
 * sets it afresh (a zlib handle's writes share one resource).
 */
export function reportedFailure(resource: object): boolean {
  return (resource as Holder)[kFailed] === true;
}
