/**
 * Key derivation on the pool: PBKDF2 and scrypt, equal to `crypto.pbkdf2` and `crypto.scrypt`;
 * HKDF (RFC 5869), equal to `crypto.hkdf`; and Argon2 (RFC 9106), equal to Node 24.7's
 * `crypto.argon2`, through OpenSSL's EVP_KDF where the running Node's OpenSSL has it (3.2 and
 * later: Node 22+).
 * This file owns the argument checks (node:crypto's rules and error messages, before anything
 * is queued) and the discovery of what this Node can derive; the work is native/threadpool/kernels/kdf.cc
 * and native/threadpool/kernels/argon2.cc. Stateless.
 * @module
 */
import crypto from 'node:crypto';

import { codedError, describeValue, invalidArgType, invalidArgValue, outOfRange, validateNumber, validateObject } from '../errors';
import { native } from '../native';
import {
  BinaryLike,
  copyOf,
  digestInfo,
  JobOptions,
  macDigest,
  secretCopyOf,
  Submit,
  toBytes,
  validateJobOptions,
  wipedWhenSettled,
  wipeIfOwn,
} from './inputs';

// Inputs are passed as views of the caller's bytes: the native side copies them during the
// submitting call, before anything can change them.

/** The Argon2 variants of RFC 9106, as `crypto.argon2` names them. */
export type Argon2Algorithm = 'argon2d' | 'argon2i' | 'argon2id';

/** Argon2 inputs, as `crypto.argon2`'s `parameters`. */
export interface Argon2Parameters {
  /** The password. */
  message: BinaryLike;
  /** The salt, at least 8 bytes. */
  nonce: BinaryLike;
  /** Lanes, 1 to 2^24-1. The tag does not depend on how many threads compute them: uvscope computes them in turn on one pool thread. */
  parallelism: number;
  /** Tag length in bytes, at least 4. */
  tagLength: number;
  /** Memory in KiB, at least 8 x parallelism. */
  memory: number;
  /** Passes over the memory, at least 1. */
  passes: number;
  /** Optional key (K in RFC 9106). */
  secret?: BinaryLike;
  /** Optional associated data (X in RFC 9106). */
  associatedData?: BinaryLike;
}

const ARGON2_KDF: Readonly<Record<Argon2Algorithm, string>> = { argon2d: 'ARGON2D', argon2i: 'ARGON2I', argon2id: 'ARGON2ID' };
const MAX_UINT32 = 2 ** 32 - 1;
const MAX_INT32 = 2 ** 31 - 1;
const DEFAULT_SCRYPT_MAXMEM = 32 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** scrypt cost parameters, as node:crypto's (aliases `cost`, `blockSize`, `parallelization`). */
export interface ScryptParams {
  N?: number;
  r?: number;
  p?: number;
  cost?: number;
  blockSize?: number;
  parallelization?: number;
  /** Memory bound in bytes (default 32 MiB). */
  maxmem?: number;
  maxMem?: number;
}

/** ThreadPool.pbkdf2: node:crypto's checks, then one pool job; the password's copy is wiped once it settles. */
export function pbkdf2(
  submit: Submit,
  password: BinaryLike,
  salt: BinaryLike,
  iterations: number,
  keylen: number,
  digest: string,
  options: JobOptions | undefined,
): Promise<Buffer> {
  const passwordBytes = secretCopyOf('password', password);
  const saltBytes = copyOf(toBytes('salt', salt, true));
  validateNumber('iterations', iterations, { min: 1, max: MAX_INT32, integer: true });
  validateNumber('keylen', keylen, { min: 0, max: MAX_INT32, integer: true });
  macDigest('digest', digest);
  validateJobOptions(options);
  return wipedWhenSettled(
    submit(options, (queue, control) => queue.pbkdf2(passwordBytes, saltBytes, iterations, keylen, digest, control)),
    passwordBytes,
  );
}

/**
 * ThreadPool.scrypt: node:crypto's checks (invalid parameters or memory over `maxmem`: RangeError
 * `ERR_CRYPTO_INVALID_SCRYPT_PARAMS`, before queueing), then one pool job.
 */
export function scrypt(
  submit: Submit,
  password: BinaryLike,
  salt: BinaryLike,
  keylen: number,
  params: ScryptParams | undefined,
  options: JobOptions | undefined,
): Promise<Buffer> {
  const passwordBytes = secretCopyOf('password', password);
  const saltBytes = copyOf(toBytes('salt', salt, true));
  validateNumber('keylen', keylen, { min: 0, max: MAX_INT32, integer: true });
  validateObject('params', params);
  // As node:crypto: N, r, p are uint32, maxmem a safe integer, and 0 means the default.
  const pick = (a: keyof ScryptParams, b: keyof ScryptParams, fallback: number, max: number) => {
    const A = params?.[a];
    const B = params?.[b];
    if (A !== undefined && B !== undefined) {
      throw invalidArgValue(`params.${b}`, `is incompatible with params.${a}`, B);
    }
    const value = A ?? B ?? fallback;
    validateNumber(`params.${A !== undefined ? a : b}`, value, { min: 0, max, integer: true });
    return value === 0 ? fallback : value;
  };
  const N = pick('N', 'cost', 16384, 2 ** 32 - 1);
  const r = pick('r', 'blockSize', 8, 2 ** 32 - 1);
  const p = pick('p', 'parallelization', 1, 2 ** 32 - 1);
  const maxmem = pick('maxmem', 'maxMem', DEFAULT_SCRYPT_MAXMEM, Number.MAX_SAFE_INTEGER);
  if (!native.scryptParamsValid(N, r, p, maxmem)) {
    const needed = 128 * r * (N + 2) + 128 * r * p;
    const detail = needed > maxmem ? `: memory limit exceeded (needs about ${needed} bytes, maxmem is ${maxmem})` : '';
    const error = new RangeError(`Invalid scrypt params${detail}`);
    Object.defineProperty(error, 'code', { value: 'ERR_CRYPTO_INVALID_SCRYPT_PARAMS', enumerable: true });
    throw error;
  }
  validateJobOptions(options);
  return wipedWhenSettled(
    submit(options, (queue, control) => queue.scrypt(passwordBytes, saltBytes, keylen, N, r, p, maxmem, control)),
    passwordBytes,
  );
}

function secretBytes(name: string, value: unknown): ArrayBufferView {
  if (value instanceof crypto.KeyObject) {
    if (value.type !== 'secret') throw invalidArgValue(name, 'must be a secret KeyObject', value.type);
    return value.export();
  }
  return toBytes(name, value, true);
}

/** ThreadPool.hkdf: node:crypto's checks, then one pool job; resolves with an ArrayBuffer as crypto.hkdf does. */
export function hkdf(
  submit: Submit,
  digest: string,
  ikm: BinaryLike | crypto.KeyObject,
  salt: BinaryLike,
  info: BinaryLike,
  keylen: number,
  options: JobOptions | undefined,
): Promise<ArrayBuffer> {
  macDigest('digest', digest);
  const key = secretBytes('ikm', ikm);
  const saltBytes = toBytes('salt', salt, true);
  const infoBytes = toBytes('info', info, true);
  validateNumber('keylen', keylen, { min: 0, max: MAX_INT32, integer: true });
  if (saltBytes.byteLength > MAX_INT32) throw outOfRange('salt.byteLength', `<= ${MAX_INT32}`, saltBytes.byteLength);
  if (infoBytes.byteLength > 1024) {
    throw outOfRange('info', 'must not contain more than 1024 bytes', infoBytes.byteLength);
  }
  const [hashLength] = digestInfo('digest', digest);
  if (keylen > 255 * hashLength) {
    const error = new RangeError('Invalid key length');
    throw Object.assign(error, { code: 'ERR_CRYPTO_INVALID_KEYLEN' });
  }
  validateJobOptions(options);
  let job: Promise<Buffer>;
  try {
    job = submit(options, (queue, control) => queue.hkdf(digest, key, saltBytes, infoBytes, keylen, control));
  } finally {
    wipeIfOwn(ikm, key);  // the native side copied it during the call
  }
  return job.then((bytes) =>
    bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? (bytes.buffer as ArrayBuffer)
      : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  );
}

/** Whether this Node's OpenSSL derives `algorithm` (OpenSSL 3.2 and later). */
export function argon2Available(algorithm: Argon2Algorithm): boolean {
  return native.kdfAvailable(ARGON2_KDF[algorithm]);
}

/** Names of the key derivation functions the pool runs here, Argon2 variants only where OpenSSL has them. */
export function kdfs(): string[] {
  const names = ['hkdf', 'pbkdf2', 'scrypt'];
  for (const name of Object.keys(ARGON2_KDF) as Argon2Algorithm[]) if (argon2Available(name)) names.push(name);
  return names;
}

function uint32(name: string, value: unknown, min: number, max = MAX_UINT32): number {
  validateNumber(name, value, { min, max, integer: true });
  return value;
}

/** ThreadPool.argon2: crypto.argon2's checks, then one pool job (or a rejection where OpenSSL has no Argon2). */
export function argon2(submit: Submit, algorithm: Argon2Algorithm, parameters: Argon2Parameters, options: JobOptions | undefined): Promise<Buffer> {
  if (typeof algorithm !== 'string' || !Object.hasOwn(ARGON2_KDF, algorithm)) {
    const error = new TypeError(
      `The argument 'algorithm' must be one of: 'argon2d', 'argon2i', 'argon2id'. Received ${typeof algorithm === 'string' ? `'${algorithm}'` : describeValue(algorithm)}`,
    );
    throw Object.assign(error, { code: 'ERR_INVALID_ARG_VALUE' });
  }
  if (parameters === null || typeof parameters !== 'object') throw invalidArgType('parameters', 'of type object', parameters);
  const p = parameters as unknown as Record<string, unknown>;
  const message = toBytes('parameters.message', p.message, true);
  const nonce = toBytes('parameters.nonce', p.nonce, true);
  if (nonce.byteLength < 8) throw outOfRange('parameters.nonce.byteLength', `>= 8 && <= ${MAX_UINT32}`, nonce.byteLength);
  const parallelism = uint32('parameters.parallelism', p.parallelism, 1, 2 ** 24 - 1);
  const tagLength = uint32('parameters.tagLength', p.tagLength, 4);
  const memory = uint32('parameters.memory', p.memory, 8 * parallelism);
  const passes = uint32('parameters.passes', p.passes, 1);
  const secret = p.secret === undefined ? EMPTY : secretBytes('parameters.secret', p.secret);
  const associatedData = p.associatedData === undefined ? EMPTY : toBytes('parameters.associatedData', p.associatedData, true);
  validateObject('options', options);
  validateJobOptions(options);
  if (!argon2Available(algorithm)) {
    return Promise.reject(
      codedError(
        `${algorithm} needs OpenSSL 3.2 or later (Node 22 and later); this Node ${process.version} runs OpenSSL ${process.versions.openssl}`,
        'ERR_UVSCOPE_ARGON2_UNAVAILABLE',
      ),
    );
  }
  try {
    return submit(options, (queue, control) =>
      queue.argon2(ARGON2_KDF[algorithm], message, nonce, secret, associatedData, parallelism, tagLength, memory, passes, control),
    );
  } finally {
    // The native side copied them during the call.
    wipeIfOwn(p.message, message);
    wipeIfOwn(p.secret, secret);
  }
}
