/**
 * How uvscope reaches the internal objects of Node through which pool requests are made: the
 * bindings `fs`, `cares_wrap` and `zlib` (with `process.binding()`, deprecated as DEP0111 but
 * silent, except under `--pending-deprecation`, where reaching them would print a warning, so
 * they count as unreachable), the prototype every async resource of Node's inherits
 * (AsyncWrap's, reached through the fs binding's FSReqCallback class), and the names of
 * async_hooks resource types by number (`async_hooks.asyncWrapProviders`). Stateless apart
 * from caching what it reached; per thread, since bindings are.
 * @internal
 * @module
 */
import { asyncWrapProviders } from 'node:async_hooks';

export type Binding = Record<string, unknown>;
export type BindingName = 'fs' | 'cares_wrap' | 'zlib';

const bindings = new Map<BindingName, Binding | undefined>();

/** Node's internal binding `name`, or undefined where it cannot be reached silently. */
export function nodeBinding(name: BindingName): Binding | undefined {
  if (bindings.has(name)) return bindings.get(name);
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  // process.binding is deprecated (DEP0111, documentation-only) and not in @types/node.
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  let found: Binding | undefined;
  if (!flags.includes('--pending-deprecation') && typeof binding === 'function') {
    try {
      const value = binding.call(process, name);
      if (typeof value === 'object' && value !== null) found = value as Binding;
    } catch {
      found = undefined;
    }
  }
  bindings.set(name, found);
  return found;
}

/** The prototype of every async resource of Node's (AsyncWrap.prototype), or undefined. */
export function asyncWrapPrototype(): object | undefined {
  const fsReq = nodeBinding('fs')?.FSReqCallback;
  const fsReqPrototype = typeof fsReq === 'function' ? (fsReq.prototype as unknown) : undefined;
  const proto = typeof fsReqPrototype === 'object' && fsReqPrototype !== null ? (Object.getPrototypeOf(fsReqPrototype) as object | null) : null;
  return proto !== null && typeof (proto as { getProviderType?: unknown }).getProviderType === 'function' ? proto : undefined;
}

let providerNames: string[] | undefined;

/** The async_hooks resource type of one of Node's async resources (`PBKDF2REQUEST`), or undefined. */
export function resourceType(resource: object): string | undefined {
  if (providerNames === undefined) {
    providerNames = [];
    for (const [name, value] of Object.entries(asyncWrapProviders as Record<string, number>)) providerNames[value] = name;
  }
  const getProviderType = (resource as { getProviderType?: () => unknown }).getProviderType;
  if (typeof getProviderType !== 'function') return undefined;
  try {
    const type = getProviderType.call(resource);
    return typeof type === 'number' ? providerNames[type] : undefined;
  } catch {
    return undefined;
  }
}
