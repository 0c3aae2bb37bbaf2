/**
 * Job requests: node:crypto's and webcrypto's jobs (PBKDF2Job, HashJob, AESCipherJob, ...) and
 * Node 26's one-round-trip fs jobs (ReadFileJob, WriteFileJob, CpDirJob). A job goes to the pool
 * when its class's `run()` is called, and only an asynchronous one: pbkdf2Sync() and the like
 * make a job too and run it on the spot (run() returns [error, result]), an fs job that cannot
 * start returns its error. An asynchronous job completes through its `ondone` (set before run())
 * or, for webcrypto on Node 24 and later, through the promise run() returns.
 *
 * Job classes are not reachable from JavaScript (Node 24+ has no `process.binding('crypto')`);
 * they are found from their instances, and each found class's `run` is wrapped while requests
 * are tracked (and its kind named from its async_hooks resource type, kinds.ts). Instances show
 * themselves in two ways:
 * - `job.ondone = ...`: while tracking, the prototype every async resource of Node's inherits
 *   (AsyncWrap's) has an `ondone` accessor; its setter finds the job's class (a class with a
 *   `run` whose resource type is a pool request's), and assigns as a plain assignment would. A
 *   found class's prototype then gets a plain `ondone: undefined` property, so its jobs'
 *   assignments no longer reach the setter. A class whose prototype the hook source gave its
 *   own `ondone` accessor (outcomes.ts, for the life of the process) hides that setter; the
 *   accessor calls the functions listed under a registered symbol on AsyncWrap.prototype
 *   instead, where each copy of uvscope lists its own while tracking.
 * - webcrypto jobs on Node 24+, which set no `ondone`: while tracking, the methods of
 *   SubtleCrypto.prototype are wrapped to enable, for the synchronous extent of a call, an
 *   async_hooks hook (init only, no promise hook where Node allows it) that finds the class of a
 *   job created inside. Once a call of a method with a given algorithm (`digest` of `SHA-256`)
 *   has made a job of a class found, later calls alike go without the hook (enabling and
 *   disabling it costs a few µs). The first call whose job turns out to have an `ondone` (Node 20 and 22)
 *   shows the setter suffices: the wrappers go, for the life of the thread.
 * Classes found by the hook source (hook-source.ts) are shared through registerJobClass().
 * Everything put in place goes when tracking stops (patch.ts). Per thread.
 * @internal
 * @module
 */
import { createHook } from 'node:async_hooks';
import { webcrypto } from 'node:crypto';
import { types } from 'node:util';

import { callInRequest } from '../http-request-context';
import { divertOndone, restoreOndone } from './callbacks';
import { kindOf } from './kinds';
import { isFailure, kOndoneAssigned } from './outcomes';
import { asyncWrapPrototype, resourceType } from './node-internals';
import { likeOriginal, Patch, withValue } from './patch';
import { isPromise, kindId } from './recorder';
import type { RequestRecorder, TrackedRequest } from './recorder';

type AnyFunction = (...args: unknown[]) => unknown;
const kRequest = Symbol('uvscope.jobRequest');
type Holder = { [kRequest]?: TrackedRequest; ondone?: unknown };
const promiseThen = Promise.prototype.then;

let active = false;
let recorder: RequestRecorder | undefined;

interface JobClass {
  kind: string;
  run: Patch;
  /** A plain `ondone` on the prototype, so its jobs' assignments skip the discovery setter. */
  ondone: Patch;
}
/** Prototypes of job classes found, and of classes found not to be jobs. */
const jobClasses = new Map<object, JobClass>();
const notJobs = new WeakSet<object>();

/** AsyncWrap.prototype's `ondone` accessor (undefined: not built yet; null: AsyncWrap.prototype unreachable). */
let discovery: Patch | null | undefined;
/** SubtleCrypto.prototype's wrappers, while webcrypto jobs may need finding (see the module comment). */
let subtlePatches: Patch[] | undefined;
let subtleWindowsNeeded = true;

function jobTrampoline(this: Holder): unknown {
  const request = this[kRequest];
  if (request === undefined) return undefined;
  this[kRequest] = undefined;
  restoreOndone(this, request);
  recorder!.settle(request, isFailure(arguments[0]));
  if (request.httpRequestId !== 0) return callInRequest(request.httpRequestId, request.callback!, this, arguments);
  return Reflect.apply(request.callback!, this, arguments);
}

function untrack(job: Holder, request: TrackedRequest, diverted: boolean): void {
  if (diverted && job[kRequest] === request) {
    job[kRequest] = undefined;
    restoreOndone(job, request);
  }
  recorder!.withdraw(request);
}

function wrapRun(kind: string, run: AnyFunction): AnyFunction {
  const id = kindId(kind);
  return likeOriginal(function (this: Holder) {
    if (!active || this[kRequest] !== undefined) return Reflect.apply(run, this, arguments);
    const rec = recorder!;
    const request = rec.create(kind, id);
    const diverted = divertOndone(this, jobTrampoline, request);
    if (diverted) this[kRequest] = request;
    let result: unknown;
    try {
      result = Reflect.apply(run, this, arguments);
    } catch (error) {
      untrack(this, request, diverted);
      throw error;
    }
    if (result === undefined) {
      // Asynchronous, completing through ondone (without one, nobody hears of it: not counted).
      if (diverted) rec.submit(request);
      else rec.withdraw(request);
    } else if (isPromise(result)) {
      rec.submit(request);
      Reflect.apply(promiseThen, result, [() => rec.settle(request, false), () => rec.settle(request, true)]);
    } else {
      // [error, result] of a synchronous job, or the error of an fs job that did not start.
      untrack(this, request, diverted);
    }
    return result;
  }, run);
}

/**
 * Notes the class of `resource` (an async resource of Node's; `type` its resource type when
 * known) if it is a job class, and wraps its run() while tracking. Cheap for classes seen before.
 */
export function registerJobClass(resource: object, type?: string): void {
  const prototype = Object.getPrototypeOf(resource) as { run?: unknown } | null;
  if (prototype === null || notJobs.has(prototype)) return;
  let jobClass = jobClasses.get(prototype);
  if (jobClass === undefined) {
    const resolved = type ?? resourceType(resource);
    const kind = typeof prototype.run === 'function' && resolved !== undefined ? kindOf(resolved, resource) : undefined;
    if (kind === undefined) {
      notJobs.add(prototype);
      return;
    }
    jobClass = {
      kind,
      run: new Patch(prototype, 'run', (original) => withValue(original, wrapRun(kind, original?.value as AnyFunction))),
      ondone: new Patch(prototype, 'ondone', (original) => original ?? { value: undefined, writable: true, enumerable: false, configurable: true }),
    };
    jobClasses.set(prototype, jobClass);
  }
  if (active) {
    jobClass.run.install();
    jobClass.ondone.install();
  }
}

function buildDiscovery(): Patch | null {
  const prototype = asyncWrapPrototype();
  if (prototype === undefined) return null;
  return new Patch(prototype, 'ondone', (original) => ({
    configurable: true,
    enumerable: original?.enumerable ?? false,
    get(this: object) {
      if (original?.get !== undefined) return Reflect.apply(original.get, this, []);
      return original?.value;
    },
    set(this: object, value: unknown) {
      if (active) registerJobClass(this);
      if (original?.set !== undefined) Reflect.apply(original.set, this, [value]);
      else Object.defineProperty(this, 'ondone', { value, writable: true, enumerable: true, configurable: true });
    },
  }));
}

/** The hook enabled inside SubtleCrypto calls, and the job it saw last. */
let windowDepth = 0;
let windowJob: object | undefined;
const windowHook = createHook({
  trackPromises: false,
  init(_id: number, type: string, _trigger: number, resource: object) {
    if (type === 'PROMISE' || !type.endsWith('REQUEST')) return;
    registerJobClass(resource, type);
    windowJob = resource;
  },
} as Parameters<typeof createHook>[0]);

function closeWindow(): void {
  if (--windowDepth > 0) return;
  windowHook.disable();
  const job = windowJob;
  windowJob = undefined;
  // Jobs that set ondone (Node 20, 22) are found by the setter: no more windows.
  if (job !== undefined && Object.hasOwn(job, 'ondone') && typeof (job as Holder).ondone === 'function') {
    subtleWindowsNeeded = false;
    for (const patch of subtlePatches ?? []) patch.uninstall();
  }
}

/**
 * The algorithm name a SubtleCrypto call names (a string, or an own data property `name` of a
 * dictionary: read without running a getter or a proxy's trap, which the caller could tell),
 * taken from its first argument where that is one, else from all its arguments; undefined
 * when it names none.
 */
function algorithmKey(args: ArrayLike<unknown>): string | undefined {
  let key: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let name: unknown;
    if (typeof arg === 'string') name = arg;
    else if (typeof arg === 'object' && arg !== null && !ArrayBuffer.isView(arg) && !types.isProxy(arg)) name = Object.getOwnPropertyDescriptor(arg, 'name')?.value;
    if (typeof name !== 'string') continue;
    if (i === 0) return name;
    key = key === undefined ? name : `${key} ${name}`;
  }
  return key;
}

function wrapSubtleMethod(method: AnyFunction): AnyFunction {
  /** Algorithms whose calls of this method were seen to make a job of a class found: they need no window. */
  const seen = new Set<string>();
  return likeOriginal(function (this: unknown) {
    if (!active || !subtleWindowsNeeded) return Reflect.apply(method, this, arguments);
    let key: string | undefined;
    try {
      key = algorithmKey(arguments);
    } catch {
      key = undefined;
    }
    if (key !== undefined && seen.has(key)) return Reflect.apply(method, this, arguments);
    if (windowDepth++ === 0) windowHook.enable();
    try {
      return Reflect.apply(method, this, arguments);
    } finally {
      const job = windowJob;
      closeWindow();
      if (key !== undefined && job !== undefined && jobClasses.has(Object.getPrototypeOf(job) as object)) seen.add(key);
    }
  }, method);
}

function buildSubtlePatches(): Patch[] {
  const subtle = (webcrypto as { subtle?: object } | undefined)?.subtle;
  const prototype = subtle === undefined ? null : (Object.getPrototypeOf(subtle) as Record<string, unknown> | null);
  if (prototype === null || prototype === Object.prototype) return [];
  const result: Patch[] = [];
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
    if (name === 'constructor' || typeof descriptor?.value !== 'function') continue;
    result.push(new Patch(prototype, name, (original) => withValue(original, wrapSubtleMethod(original?.value as AnyFunction))));
  }
  return result;
}

/** Whether jobs can be seen (AsyncWrap.prototype can be reached). */
export function jobsReachable(): boolean {
  if (discovery === undefined) discovery = buildDiscovery();
  return discovery !== null;
}

/** Listed under kOndoneAssigned while tracking (see the module comment). */
const onOndoneAssigned = (job: object) => {
  if (active) registerJobClass(job);
};

function ondoneListeners(): Array<(object: object) => void> | undefined {
  const prototype = asyncWrapPrototype() as Record<symbol, unknown> | undefined;
  if (prototype === undefined) return undefined;
  if (!Object.hasOwn(prototype, kOndoneAssigned)) Object.defineProperty(prototype, kOndoneAssigned, { value: [], configurable: true });
  return prototype[kOndoneAssigned] as Array<(object: object) => void>;
}

export function trackJobRequests(into: RequestRecorder): boolean {
  if (!jobsReachable()) return false;
  recorder = into;
  active = true;
  discovery!.install();
  const listeners = ondoneListeners();
  if (listeners !== undefined && !listeners.includes(onOndoneAssigned)) listeners.push(onOndoneAssigned);
  for (const jobClass of jobClasses.values()) {
    jobClass.run.install();
    jobClass.ondone.install();
  }
  if (subtleWindowsNeeded) {
    subtlePatches ??= buildSubtlePatches();
    for (const patch of subtlePatches) patch.install();
  }
  return true;
}

export function stopJobRequests(): void {
  active = false;
  discovery?.uninstall();
  const listeners = ondoneListeners();
  const at = listeners?.indexOf(onOndoneAssigned) ?? -1;
  if (at >= 0) listeners!.splice(at, 1);
  for (const jobClass of jobClasses.values()) {
    jobClass.run.uninstall();
    jobClass.ondone.uninstall();
  }
  for (const patch of subtlePatches ?? []) patch.uninstall();
}
