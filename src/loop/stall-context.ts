/**
 * The stall watchdog's `context` option: which fields of the user's AsyncLocalStorage store
 * the stack addon's interrupt copies into reports (native/stack/async_context.h reads them),
 * checked here into names and paths. Lifetime: none (types and a pure function).
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import { invalidArgType, validateObject } from '../errors';

/**
 * Fields of an AsyncLocalStorage's store to copy into each report's `context`, read in the
 * blocked thread without running JavaScript (strings, numbers, booleans; up to 32 fields). A
 * path steps through own data properties of plain objects and entries of Maps (a Map key is a
 * string, or a Symbol with that description: OpenTelemetry's context keys); getters and proxies
 * are never run. Where Node keeps AsyncLocalStorage state in async_hooks (Node 20, 22 without
 * `--experimental-async-context-frame`) it cannot be read so, and reports say why
 * (`contextUnavailable`).
 */
export interface StallContextOptions {
  storage: AsyncLocalStorage<unknown>;
  /**
   * Names of the fields (each also its path, dot-separated: `'user.id'`), or name → path (a
   * dot-separated string or an array of steps, for steps that contain a dot; `[]` is the store
   * itself).
   */
  fields: readonly string[] | Readonly<Record<string, string | readonly string[]>>;
}

const MAX_CONTEXT_FIELDS = 32;

/** A checked `context` option: the storage, and a JSON name and a path of steps per field. */
export interface ContextLookup {
  storage: AsyncLocalStorage<unknown>;
  names: string[];
  paths: string[][];
}

/** Checks a `context` option (`name` is how errors call it); undefined stays undefined. */
export function contextLookup(name: string, options: StallContextOptions | undefined): ContextLookup | undefined {
  if (options === undefined) return undefined;
  validateObject(name, options);
  if (!(options.storage instanceof AsyncLocalStorage)) throw invalidArgType(`${name}.storage`, 'an instance of AsyncLocalStorage', options.storage);
  const fields = options.fields;
  const entries: Array<[string, unknown]> = Array.isArray(fields)
    ? fields.map((field: unknown) => [typeof field === 'string' ? field : '', field])
    : typeof fields === 'object' && fields !== null
      ? Object.entries(fields)
      : [];
  if (entries.length === 0 || entries.length > MAX_CONTEXT_FIELDS) {
    throw invalidArgType(`${name}.fields`, `1 to ${MAX_CONTEXT_FIELDS} field names, or an object of names to paths`, fields);
  }
  const names: string[] = [];
  const paths: string[][] = [];
  for (const [key, path] of entries) {
    const steps = typeof path === 'string' ? path.split('.') : Array.isArray(path) ? path : undefined;
    if (key === '' || !steps || !steps.every((step: unknown) => typeof step === 'string' && step !== '')) {
      throw invalidArgType(`${name}.fields`, 'non-empty names, each with a path of non-empty strings', fields);
    }
    names.push(key);
    paths.push([...(steps as string[])]);
  }
  return { storage: options.storage, names, paths };
}
