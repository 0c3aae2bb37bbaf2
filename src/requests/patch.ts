/**
 * One property of one of Node's objects (a binding's function, a class prototype's method or
 * accessor) replaced while requests are tracked, and put back after. A patch is made once and
 * installed and uninstalled any number of times; each replacement is built from the property
 * as it was when installed, and must behave as that property whenever its owner is not
 * tracking (it may stay in place: see uninstall()).
 *
 * Others may replace the same property meanwhile (another copy of uvscope, an APM agent): on
 * uninstall the original comes back only if the replacement is still the property's value;
 * otherwise the replacement stays where it is in their chain, passing calls on, and the next
 * install takes it up again instead of adding a second one. Lives as long as its owner (one per
 * property per thread).
 * @internal
 * @module
 */

type Descriptor = PropertyDescriptor;

const sameDescriptor = (a: Descriptor | undefined, b: Descriptor | undefined) =>
  a !== undefined && b !== undefined && a.value === b.value && a.get === b.get && a.set === b.set;

export class Patch {
  /** The replacement defined by the last install, while it is (or may still be) in place. */
  #ours: Descriptor | undefined;
  #original: Descriptor | undefined;
  #installed = false;
  /** The last replacement built, and from what: reused while the property is as it was (a new wrapper would start cold in V8). */
  #built: { from: Descriptor | undefined; ours: Descriptor } | undefined;

  constructor(
    readonly target: object,
    readonly key: PropertyKey,
    /** Builds the replacement from the property's descriptor at install time (undefined: none). */
    private readonly replace: (original: Descriptor | undefined) => Descriptor,
  ) {}

  get installed(): boolean {
    return this.#installed;
  }

  install(): void {
    if (this.#installed) return;
    this.#installed = true;
    // Left in someone's chain by an earlier uninstall: it is still called; take it up again.
    if (this.#ours !== undefined) return;
    const original = Object.getOwnPropertyDescriptor(this.target, this.key);
    if (original !== undefined && !original.configurable && !original.writable) return;
    const built = this.#built;
    const ours = built !== undefined && (built.from === undefined ? original === undefined : sameDescriptor(built.from, original)) ? built.ours : this.replace(original);
    this.#built = { from: original, ours };
    try {
      Object.defineProperty(this.target, this.key, ours);
    } catch {
      return;
    }
    this.#original = original;
    this.#ours = ours;
  }

  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    const ours = this.#ours;
    if (ours === undefined || !sameDescriptor(Object.getOwnPropertyDescriptor(this.target, this.key), ours)) return;
    try {
      if (this.#original === undefined) delete (this.target as Record<PropertyKey, unknown>)[this.key];
      else Object.defineProperty(this.target, this.key, this.#original);
    } catch {
      return;
    }
    this.#ours = undefined;
    this.#original = undefined;
  }
}

/** A data property's descriptor with `value` in place of the original's value (same attributes). */
export function withValue(original: Descriptor | undefined, value: unknown): Descriptor {
  return {
    value,
    writable: original?.writable ?? true,
    enumerable: original?.enumerable ?? false,
    configurable: original?.configurable ?? true,
  };
}

/** Gives a wrapper the name and length of the function it wraps (what `fn.name` and `fn.length` show). */
export function likeOriginal<T extends (...args: never[]) => unknown>(wrapper: T, original: (...args: never[]) => unknown): T {
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  return wrapper;
}
