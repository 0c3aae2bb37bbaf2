/**
 * What a pool request of Node's own is: its kind (`fs.stat`, `dns.lookup`, `crypto.pbkdf2`,
 * `zlib`, ...) from the async_hooks resource type, refined by the resource's class where one
 * type covers several operations, and, for fs, by the binding function that made the request.
 *
 * fs operations: while at least one monitor wants them, each function of Node's fs binding (the
 * object `lib/fs.js` and `fs/promises` call through, reached with `process.binding('fs')`) is
 * replaced by a wrapper that names the operation for the synchronous extent of the call, so the
 * request's async_hooks `init`, which runs inside it, reads the name. The originals are put back
 * when the last user releases them (if nobody replaced them since). Where the binding cannot be
 * reached, or `--pending-deprecation` would make reaching it print a warning, fs requests are
 * all of kind `fs`.
 * @internal
 * @module
 */

/** async_hooks resource types of requests that run on libuv's pool, with their kind. */
const KIND_BY_TYPE: Readonly<Record<string, string>> = {
  FSREQCALLBACK: 'fs',
  FSREQPROMISE: 'fs',
  FILEHANDLECLOSEREQ: 'fs.close',
  GETADDRINFOREQWRAP: 'dns.lookup',
  GETNAMEINFOREQWRAP: 'dns.lookupService',
  ZLIB: 'zlib',
  PBKDF2REQUEST: 'crypto.pbkdf2',
  SCRYPTREQUEST: 'crypto.scrypt',
  RANDOMBYTESREQUEST: 'crypto.randomBytes',
  RANDOMPRIMEREQUEST: 'crypto.generatePrime',
  CHECKPRIMEREQUEST: 'crypto.checkPrime',
  HKDFREQUEST: 'crypto.hkdf',
  KEYPAIRGENREQUEST: 'crypto.generateKeyPair',
  KEYGENREQUEST: 'crypto.generateKey',
  SIGNREQUEST: 'crypto.sign',
  HASHREQUEST: 'crypto.digest',
  CIPHERREQUEST: 'crypto.cipher',
  DERIVEBITSREQUEST: 'crypto.deriveBits',
};

/** Classes of DERIVEBITSREQUEST jobs that are a node:crypto function of their own. */
const DERIVE_BITS_BY_CLASS: Readonly<Record<string, string>> = {
  HKDFJob: 'crypto.hkdf',
  PBKDF2Job: 'crypto.pbkdf2',
  ScryptJob: 'crypto.scrypt',
};

/**
 * The kind of a request of type `type`, or undefined when the type is not a pool request.
 * Crypto job types Node adds later (`*REQUEST` resources whose class is a `*Job`) are named
 * after their class.
 */
export function kindOf(type: string, resource: object): string | undefined {
  const known = KIND_BY_TYPE[type];
  const name = resource.constructor?.name;
  if (known !== undefined) {
    if (type === 'DERIVEBITSREQUEST') return DERIVE_BITS_BY_CLASS[name] ?? known;
    // Node 26 reads a whole file in one request of class ReadFileJob.
    if (type === 'FSREQCALLBACK' && isJobClass(name)) return `fs.${operationOfJob(name)}`;
    return known;
  }
  if (!type.endsWith('REQUEST') || type.startsWith('HTTP') || !isJobClass(name)) return undefined;
  return `crypto.${operationOfJob(name)}`;
}

const isJobClass = (name: unknown): name is string => typeof name === 'string' && name.length > 3 && name.endsWith('Job');
/** `ReadFileJob` -> `readFile`, `RandomPrimeJob` -> `randomPrime`. */
const operationOfJob = (name: string) => `${name.charAt(0).toLowerCase()}${name.slice(1, -3)}`;

/** Binding functions whose name is not the operation users know. */
const FS_OPERATION_ALIASES: Readonly<Record<string, string>> = {
  writeBuffer: 'write',
  writeBuffers: 'write',
  writeString: 'write',
  readBuffers: 'read',
  openFileHandle: 'open',
  internalModuleStat: 'stat',
};

/** The fs operation being called right now on this thread (set by the binding wrappers). */
let currentFsOperation: string | undefined;

/** The fs operation whose binding call is running now, if fs operations are being named. */
export function fsOperationNow(): string | undefined {
  return currentFsOperation;
}

type AnyFunction = (...args: unknown[]) => unknown;
let fsBindingUsers = 0;
let wrapped: Array<{ name: string; original: AnyFunction; wrapper: AnyFunction }> = [];

function fsBinding(): Record<string, unknown> | undefined {
  const flags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  // process.binding is deprecated (DEP0111, documentation-only) and not in @types/node.
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (flags.includes('--pending-deprecation') || typeof binding !== 'function') return undefined;
  try {
    return binding.call(process, 'fs') as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Told of each call with its object arguments, among which fs callbacks pass their request object. */
let onCall: ((argument: object, operation: string) => void) | undefined;

function wrap(name: string, original: AnyFunction): AnyFunction {
  const operation = FS_OPERATION_ALIASES[name] ?? name;
  return function (this: unknown, ...args: unknown[]) {
    if (onCall !== undefined) {
      for (let i = args.length - 1; i >= 0; i--) {
        const arg = args[i];
        if (typeof arg === 'object' && arg !== null && !ArrayBuffer.isView(arg)) onCall(arg, operation);
      }
    }
    const outer = currentFsOperation;
    currentFsOperation = operation;
    try {
      return Reflect.apply(original, this, args);
    } finally {
      currentFsOperation = outer;
    }
  };
}

/**
 * Starts naming fs operations (reference counted; one `onBindingCall` per thread, the request
 * tracker's). Returns whether names are available. A request object made before the binding
 * call (fs callbacks: `new FSReqCallback()`, then `binding.stat(path, req)`) is among the
 * object arguments passed to `onBindingCall`; one made inside it (fs/promises) is named through fsOperationNow().
 */
export function acquireFsOperationNames(onBindingCall: (argument: object, operation: string) => void): boolean {
  onCall = onBindingCall;
  if (fsBindingUsers++ > 0) return wrapped.length > 0;
  const binding = fsBinding();
  if (binding === undefined) return false;
  for (const name of Object.keys(binding)) {
    const original = binding[name];
    // Constructors (FSReqCallback, FileHandle, StatWatcher) are left alone.
    if (typeof original !== 'function' || /^[A-Z]/.test(name)) continue;
    const wrapper = wrap(name, original as AnyFunction);
    binding[name] = wrapper;
    wrapped.push({ name, original: original as AnyFunction, wrapper });
  }
  return wrapped.length > 0;
}

/** Stops naming fs operations when the last user releases them. */
export function releaseFsOperationNames(): void {
  if (fsBindingUsers === 0 || --fsBindingUsers > 0) return;
  const binding = fsBinding();
  if (binding !== undefined) {
    for (const { name, original, wrapper } of wrapped) if (binding[name] === wrapper) binding[name] = original;
  }
  wrapped = [];
  onCall = undefined;
}
