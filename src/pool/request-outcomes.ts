/**
 * Whether a pool request of Node's own failed. Node hands a request's result to the callback it
 * reads from the request object when the request completes (`oncomplete` for fs and dns,
 * `ondone` for crypto jobs, `onerror` for zlib). Between async_hooks' `before` and `after` of
 * the request, uvscope needs to see that callback's first argument: an Error, or dns's non-zero
 * status, means failure.
 *
 * For that, the callback property of each request class's prototype becomes an accessor, once
 * per class and for the life of the process: the setter keeps the function on the instance
 * under a symbol; the getter returns it as is while nothing is watched, or a shared trampoline
 * that notes the outcome and calls it. Requests whose callback was set before the accessor
 * existed (own properties) are untouched and report no failure. The accessor stays after the
 * last monitor stops, because requests in flight still read their callback through it.
 * fs/promises requests resolve a promise instead; their failure is read from that promise.
 * @internal
 * @module
 */

const CALLBACK_PROPERTIES = ['oncomplete', 'ondone', 'onerror'] as const;
type Callback = (...args: unknown[]) => unknown;
/** Where each instance keeps its callback once the prototype has the accessor. */
const slots = Object.fromEntries(CALLBACK_PROPERTIES.map((p) => [p, Symbol(`uvscope.${p}`)]));
type Holder = Record<symbol, Callback | undefined>;

let watching = 0;
/** Called with the request's first callback argument while a request's callback runs. */
let onOutcome: ((failed: boolean) => void) | undefined;
const patched = new WeakSet<object>();
/** The prototype seen last (requests come in runs of one class): skips the WeakSet lookup. */
let lastProto: object | null = null;

const isFailure = (first: unknown) => first !== undefined && first !== null && first !== 0;

function trampolineFor(property: string) {
  const slot = slots[property];
  return function (this: Holder, ...args: unknown[]) {
    onOutcome?.(isFailure(args[0]));
    return Reflect.apply(this[slot]!, this, args);
  };
}
const trampolines = Object.fromEntries(CALLBACK_PROPERTIES.map((p) => [p, trampolineFor(p)]));

/**
 * Makes the failure of `resource` visible: a callback already set on the request (dns sets it
 * before the request exists natively) is moved to the instance's slot behind the trampoline;
 * otherwise the class's prototype gets the accessor (once per class). Only the properties among
 * oncomplete/ondone/onerror that the prototype does not define itself are touched.
 */
export function watchOutcomeOf(resource: Holder & object): void {
  for (const property of CALLBACK_PROPERTIES) {
    if (!Object.hasOwn(resource, property)) continue;
    const own = Object.getOwnPropertyDescriptor(resource, property)!;
    if (typeof own.value === 'function' && own.writable) {
      resource[slots[property]] = own.value as Callback;
      (resource as Record<string, unknown>)[property] = trampolines[property];
    }
  }
  const proto = Object.getPrototypeOf(resource) as object | null;
  if (proto === lastProto) return;
  lastProto = proto;
  if (proto === null || proto === Object.prototype || patched.has(proto)) return;
  patched.add(proto);
  for (const property of CALLBACK_PROPERTIES) {
    if (Object.prototype.hasOwnProperty.call(proto, property) || Object.prototype.hasOwnProperty.call(resource, property)) continue;
    const slot = slots[property];
    const trampoline = trampolines[property];
    Object.defineProperty(proto, property, {
      configurable: true,
      enumerable: false,
      get(this: Holder) {
        const callback = this[slot];
        return watching > 0 && typeof callback === 'function' ? trampoline : callback;
      },
      set(this: Holder, callback: Callback) {
        this[slot] = callback;
      },
    });
  }
}

/** Starts passing outcomes to `listener` (one listener per thread: the request tracker). */
export function startWatchingOutcomes(listener: (failed: boolean) => void): void {
  watching++;
  onOutcome = listener;
}

export function stopWatchingOutcomes(): void {
  if (watching > 0 && --watching === 0) onOutcome = undefined;
}
