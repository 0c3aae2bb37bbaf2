/**
 * What every pool call does with its arguments before anything is queued: turning inputs into
 * bytes (strings UTF-8 encoded once, views used as they are), deciding whether a job reads
 * them in place or from a copy (zeroCopy), copying small secrets (keys, passwords, salts),
 * checking digest names, output lengths, file paths and the options every job accepts.
 * Stateless; used by the facade (threadpool.ts) and the call families in src/threadpool/.
 * @module
 */
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { codedError, invalidArgType, invalidArgValue, validateBoolean, validateNumber, validateObject } from '../errors';
import { native, NativeWorkQueue } from '../native';

/**
 * How a call family of src/threadpool/ submits a job through its ThreadPool: `start` gets the native
 * queue and the job's control word, and returns the job's promise (undefined: queue full).
 */
export type Submit = <T>(
  options: JobOptions | undefined,
  start: (queue: NativeWorkQueue, control: number) => Promise<T> | undefined,
) => Promise<T>;

/** Input bytes: strings are UTF-8 encoded (once); views are used zero-copy. */
export type BinaryInput = string | ArrayBufferView;
/** Password and salt inputs also accept an ArrayBuffer, as node:crypto's do. */
export type BinaryLike = BinaryInput | ArrayBuffer | SharedArrayBuffer;

/** Options every job accepts. */
export interface JobOptions {
  /**
   * Aborts the job: still queued, it is removed with `uv_cancel` and never runs; running,
   * spin/sleep/hash/hashMany/hmac/hashFile/pbkdf2/encrypt/decrypt and cipher updates stop at
   * their next chunk (scrypt, hkdf, argon2, hasher steps, cipher finals and in-place cipher
   * jobs finish). A job that did not do all of its work rejects with an AbortError whose
   * `cause` is the signal's reason; one that did (it finished before the abort reached it, or
   * cannot be stopped) resolves with its result, so the promise always says what was done.
   */
  signal?: AbortSignal;
}

/** Options of the calls whose pool job reads the caller's bytes (`hash`, `hashMany`, `hmac`, the ciphers). */
export interface InputOptions extends JobOptions {
  /**
   * `true`: the job reads `data` in place. `false`: it reads a copy taken during the call.
   * Default: a copy up to 16 KiB ({@link COPY_LIMIT_BYTES}), in place above.
   *
   * Read in place, the buffer must be neither modified nor transferred until the promise
   * settles: Node-API cannot pin an ArrayBuffer's memory, and one transferred away
   * (`postMessage` or `structuredClone` with `transfer`, `ArrayBuffer.prototype.transfer()`)
   * can be freed under the pool thread. A copy is safe whatever happens to the buffer, but
   * costs a `memcpy` into fresh memory on the calling thread. SharedArrayBuffer memory cannot
   * be detached and is always read in place.
   */
  zeroCopy?: boolean;
}

export function toBytes(name: string, value: unknown, allowArrayBuffer = false): ArrayBufferView {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (ArrayBuffer.isView(value)) {
    // A detached view has no bytes (a DataView even throws on byteLength).
    let empty: boolean;
    try {
      empty = value.byteLength === 0;
    } catch {
      empty = true;
    }
    if (empty && native.isDetached(value)) throw invalidArgValue(name, 'must not be a detached buffer', value);
    // A resizable ArrayBuffer can shrink under a queued job and take its memory with it: copy.
    if ((value.buffer as ArrayBuffer & { resizable?: boolean }).resizable) {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
    }
    return value;
  }
  if (allowArrayBuffer && (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer)) {
    if (value.byteLength === 0 && native.isDetached(value)) throw invalidArgValue(name, 'must not be a detached buffer', value);
    return toBytes(name, new Uint8Array(value), false);
  }
  const expected = allowArrayBuffer
    ? 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, or DataView'
    : 'of type string or an instance of Buffer, TypedArray, or DataView';
  throw invalidArgType(name, expected, value);
}

/**
 * A view a pool job writes into in place: attached, and not over a resizable ArrayBuffer
 * (which could shrink, and take the memory with it, under the pool thread).
 */
export function writableView(name: string, value: unknown): ArrayBufferView {
  if (!ArrayBuffer.isView(value)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', value);
  if (native.isDetached(value)) throw invalidArgValue(name, 'must not be a detached buffer', value);
  if ((value.buffer as ArrayBuffer & { resizable?: boolean }).resizable) {
    throw invalidArgValue(name, 'must not be backed by a resizable ArrayBuffer', value);
  }
  return value;
}

/**
 * Node's default output lengths for the XOFs: OpenSSL 3.4 and later (Node 22+) report 0 for
 * them, while node:crypto keeps 16 and 32 bytes (deprecated there without outputLength).
 */
const XOF_DEFAULT_LENGTH: Readonly<Record<string, number>> = { 'SHAKE-128': 16, 'SHAKE-256': 32 };

/**
 * Keys, passwords and salts are small: copied at submission (as node:crypto does), so that
 * nothing the caller does to them afterwards can reach the pool thread.
 */
export function copyOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
}

/** Zeroes `bytes` (memory uvscope made itself) once nothing reads them: they held a secret. */
export function wipe(bytes: ArrayBufferView): void {
  new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).fill(0);
}

/**
 * Zeroes the bytes toBytes() or a KeyObject's export() made of the caller's secret `source`
 * (an encoded string, an exported key) once the native side has its copy; the caller's own
 * views are never touched.
 */
export function wipeIfOwn(source: unknown, bytes: ArrayBufferView): void {
  if (typeof source === 'string' || source instanceof crypto.KeyObject) wipe(bytes);
}

/** A private copy of the secret `value` (a key, a password), for a job that reads it in place. */
export function secretCopyOf(name: string, value: unknown): Uint8Array {
  const bytes = toBytes(name, value, true);
  const copy = copyOf(bytes);
  wipeIfOwn(value, bytes);
  return copy;
}

/** `promise`, once it has settled and `bytes` (private copies of secrets the job read in place) are zeroed. */
export function wipedWhenSettled<T>(promise: Promise<T>, ...bytes: ArrayBufferView[]): Promise<T> {
  return promise.finally(() => {
    for (const view of bytes) wipe(view);
  });
}

/** Inputs up to this size are copied unless `zeroCopy: true`: the copy costs less than the job. */
export const COPY_LIMIT_BYTES = 16 * 1024;

/**
 * Whether a pool job reads `bytes` (from toBytes(), given as `value` by the caller) where they
 * are, or from a native copy the addon takes during the submitting call (freed as the job
 * settles). In place: `zeroCopy: true`; empty input; a SharedArrayBuffer (never detached, kept
 * alive by the job's reference); bytes toBytes() made privately with an ArrayBuffer of their
 * own (a copied resizable buffer, an encoded string of 4 KiB or more: smaller ones live in
 * Node's shared Buffer pool); and, unless `zeroCopy: false`, inputs over COPY_LIMIT_BYTES.
 */
export function readInPlace(bytes: ArrayBufferView, value: unknown, zeroCopy: boolean | undefined): boolean {
  if (zeroCopy === true || bytes.byteLength === 0 || bytes.buffer instanceof SharedArrayBuffer) return true;
  if (bytes !== value && bytes.byteLength === bytes.buffer.byteLength) return true;
  return zeroCopy === undefined && bytes.byteLength > COPY_LIMIT_BYTES;
}

export function digestInfo(name: string, algorithm: unknown): [number, boolean] {
  if (typeof algorithm !== 'string') throw invalidArgType(name, 'of type string', algorithm);
  const info = native.digestInfo(algorithm);
  if (!info) {
    const error = new TypeError(`Invalid digest: ${algorithm}`);
    Object.defineProperty(error, 'code', { value: 'ERR_CRYPTO_INVALID_DIGEST', enumerable: true });
    throw error;
  }
  const [size, xof, canonical] = info;
  return [xof && size === 0 ? (XOF_DEFAULT_LENGTH[canonical.toUpperCase()] ?? 0) : size, xof];
}

/** HMAC and PBKDF2 need a digest of fixed, non-zero size: not an XOF, not 'NULL'. */
export function macDigest(name: string, algorithm: unknown): void {
  const [size, xof] = digestInfo(name, algorithm);
  if (xof || size === 0) {
    const error = new TypeError(`Invalid digest: ${String(algorithm)}`);
    Object.defineProperty(error, 'code', { value: 'ERR_CRYPTO_INVALID_DIGEST', enumerable: true });
    throw error;
  }
}

/** Output length for a digest, checking `outputLength` as node:crypto does. */
export function outputLengthOf(algorithm: string, info: [number, boolean], options: { outputLength?: number } | undefined): number {
  const [size, xof] = info;
  const requested = options?.outputLength;
  if (requested === undefined) return size;
  validateNumber('options.outputLength', requested, { min: 0, max: 2 ** 32 - 1, integer: true });
  if (!xof && requested !== size) {
    throw codedError(
      `Digest "${algorithm}" is not an XOF and its output length is ${size}, not ${requested}`,
      'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH',
    );
  }
  return requested;
}

/** The path's bytes as fs would hand them to the OS: strings UTF-8 encoded, Buffers as they are. */
export function pathOf(path: unknown): Buffer {
  let bytes: Buffer;
  if (typeof path === 'string') bytes = Buffer.from(path, 'utf8');
  else if (Buffer.isBuffer(path)) bytes = path;
  else if (path instanceof URL) bytes = Buffer.from(fileURLToPath(path), 'utf8');
  else throw invalidArgType('path', 'of type string or an instance of Buffer or URL', path);
  if (bytes.includes(0)) throw invalidArgValue('path', 'must be a string, Uint8Array, or URL without null bytes', path);
  return bytes;
}

export function validateJobOptions(options: unknown): asserts options is JobOptions | undefined {
  validateObject('options', options);
  const signal = (options as JobOptions | undefined)?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
  }
}

/** Validates options.zeroCopy (and the job options); returns it. */
export function zeroCopyOption(options: InputOptions | undefined): boolean | undefined {
  validateJobOptions(options);
  const zeroCopy = options?.zeroCopy;
  validateBoolean('options.zeroCopy', zeroCopy);
  return zeroCopy;
}

