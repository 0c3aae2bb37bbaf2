/**
 * Symmetric encryption on the pool: one-shot `encrypt`/`decrypt` and streaming
 * {@link PoolCipher}s (`createCipher`/`createDecipher`), byte-identical to node:crypto's
 * `createCipheriv`/`createDecipheriv`. This file owns the argument checks (done before
 * anything is queued, with node:crypto's own errors) and the order of a streaming cipher's
 * steps (outputs are allocated on the pool thread); the OpenSSL work is native/threadpool/kernels/cipher.cc.
 * A PoolCipher lives as long as its caller holds it; its native context is freed by GC once
 * no step is in flight.
 * @module
 */
import crypto from 'node:crypto';

import { codedError, invalidArgType, invalidArgValue, invalidState, outOfRange, validateBoolean, validateNumber } from '../errors';
import { CipherFlag, NativeCipher, native } from '../native';
import {
  BinaryInput,
  BinaryLike,
  copyOf,
  InputOptions,
  JobOptions,
  readInPlace,
  Submit,
  toBytes,
  wipe,
  wipeIfOwn,
  writableView,
  zeroCopyOption,
} from './inputs';

/** Options of {@link ThreadPool.encrypt} and {@link ThreadPool.createCipher}. */
export interface CipherOptions extends InputOptions {
  /** Additional authenticated data, for AEAD ciphers (GCM, ChaCha20-Poly1305) only. */
  aad?: BinaryInput;
  /** AEAD tag length in bytes, as node:crypto's `authTagLength` (default 16). */
  authTagLength?: number;
  /** Block modes (CBC, ECB): PKCS#7 padding, as `cipher.setAutoPadding()` (default true). */
  autoPadding?: boolean;
}

/** Options of {@link ThreadPool.encrypt}, {@link ThreadPool.decrypt} and {@link PoolCipher.update}. */
export interface CipherOutputOptions {
  /**
   * Memory the pool thread writes the output into, from its first byte, instead of a Buffer
   * of its own; the result is a Buffer over the bytes written (same `buffer`, no copy). It
   * must have room for the largest possible output: for `encrypt` and `decrypt`,
   * {@link maxCipherOutput} (the input's length, plus up to one block of padding when
   * encrypting with a padded block mode); for a `PoolCipher.update()`, the chunk's length
   * plus one block in block modes (16 bytes for AES-CBC and ECB), the chunk's length in
   * GCM, CTR, CFB, OFB and ChaCha20. It may be the input itself, or start where the input
   * starts: the job then works in place. Any other overlap with the input makes the job read
   * a copy of the input, and so does any overlap in a streaming step of a block mode (CBC,
   * ECB), which writes a block held back from the step before ahead of its own input.
   *
   * Reusing outputs keeps the loop free at high throughput: every fresh output Buffer counts
   * as V8 external memory, and each few tens of MiB of it make V8 collect garbage on the loop
   * thread (see docs/thread-pool.md). Until the promise settles the output must be neither read,
   * modified nor transferred (the zero-copy rules of {@link InputOptions.zeroCopy}); a
   * decryption that fails or is aborted zeroes it, so no unverified plaintext stays there.
   *
   * Abort and `output`: the promise says what happened to the memory. A job whose output
   * overlaps its input (in place) is not stopped once it runs: an abort cancels it while it is
   * queued (it rejects with an AbortError and neither input nor output was touched); once
   * running it transforms all of the input and resolves. A job with a separate output stops at
   * its next 128 KiB when aborted and rejects; its input is untouched, its output holds the
   * ciphertext written so far (encryption) or zeroes (decryption). An abort that arrives after
   * the work was done changes nothing: the job resolves.
   */
  output?: ArrayBufferView;
}

/** Options of {@link ThreadPool.decrypt} and {@link ThreadPool.createDecipher}. */
export interface DecipherOptions extends CipherOptions {
  /** AEAD ciphers: the tag to check (required for a one-shot `decrypt`). */
  authTag?: BinaryInput;
}

/** What {@link ThreadPool.encrypt} resolves with. */
export interface EncryptResult {
  ciphertext: Buffer;
  /** AEAD ciphers only. */
  authTag?: Buffer;
}

/** A key: bytes, or a secret KeyObject (as node:crypto accepts). */
export type CipherKey = BinaryLike | crypto.KeyObject;

// OpenSSL's EVP_CIPH_*_MODE numbers (EVP_CIPHER_get_mode) that run chunk by chunk. CCM, OCB,
// SIV, XTS and key wrap need the whole input in one call or a length up front: not offered.
const STREAM_MODE = 0;
const GCM_MODE = 6;
const SUPPORTED_MODES = new Set([STREAM_MODE, 1 /* ECB */, 2 /* CBC */, 3 /* CFB */, 4 /* OFB */, 5 /* CTR */, GCM_MODE]);
const MAX_INT32 = 2 ** 31 - 1;


/** A cipher uvscope can run, as cipherInfo() describes it. */
interface CipherSpec {
  aead: boolean;
  blockSize: number;
}

const specs = new Map<string, CipherSpec>();

function specOf(algorithm: unknown): CipherSpec {
  if (typeof algorithm !== 'string') throw invalidArgType('algorithm', 'of type string', algorithm);
  let spec = specs.get(algorithm);
  if (spec !== undefined) return spec;
  const info = native.cipherInfo(algorithm);
  if (info === undefined || crypto.getCipherInfo(algorithm) === undefined) {
    throw codedError('Unknown cipher', 'ERR_CRYPTO_UNKNOWN_CIPHER');
  }
  const [mode, , , blockSize, aead] = info;
  // ChaCha20-Poly1305 is a stream cipher with a tag; other AEAD modes (CCM, OCB, SIV) are not run here.
  if (!SUPPORTED_MODES.has(mode) || (aead && mode !== GCM_MODE && mode !== STREAM_MODE)) {
    const error = new TypeError(
      `Cipher ${algorithm} is not supported on the pool: only modes that run chunk by chunk are (GCM, ChaCha20-Poly1305, CTR, CBC, ECB, CFB, OFB)`,
    );
    throw Object.assign(error, { code: 'ERR_UVSCOPE_UNSUPPORTED_CIPHER' });
  }
  spec = { aead, blockSize };
  if (specs.size < 1024) specs.set(algorithm, spec);
  return spec;
}

let cachedCiphers: string[] | undefined;

/** Names of the ciphers encrypt/decrypt/createCipher/createDecipher accept here. */
export function ciphers(): string[] {
  cachedCiphers ??= crypto.getCiphers().filter((name) => {
    try {
      specOf(name);
      return true;
    } catch {
      return false;
    }
  });
  return [...cachedCiphers];
}

// Keys, IVs, AAD and tags are read through views of the caller's bytes here: the native side
// copies them during the submitting call (small), before anything can change them.
function keyBytes(key: unknown): ArrayBufferView {
  if (key instanceof crypto.KeyObject) {
    if (key.type !== 'secret') throw invalidArgValue('key', 'must be a secret KeyObject', key.type);
    return key.export();
  }
  return toBytes('key', key, true);
}

// Key and iv lengths, tag lengths and tags that node:crypto accepted, by shape: the first call
// of each shape asks node:crypto itself (so errors are its own), later ones skip the check.
const acceptedShapes = new Set<string>();

function checkLikeNodeCrypto(
  encrypt: boolean,
  algorithm: string,
  key: ArrayBufferView,
  iv: ArrayBufferView | null,
  authTagLength: number | undefined,
  authTag: ArrayBufferView | undefined,
): void {
  const shape = `${encrypt ? 'e' : 'd'}|${algorithm}|${key.byteLength}|${iv?.byteLength ?? 'null'}|${authTagLength}|${authTag?.byteLength}`;
  if (acceptedShapes.has(shape)) return;
  const options = authTagLength === undefined ? undefined : { authTagLength };
  // Cast: node:crypto's overloads want a literal AEAD name for authTagLength.
  const create = (encrypt ? crypto.createCipheriv : crypto.createDecipheriv) as unknown as (
    algorithm: string,
    key: ArrayBufferView,
    iv: ArrayBufferView | null,
    options?: { authTagLength: number },
  ) => crypto.Cipher | crypto.Decipher;
  const checker = create(algorithm, key, iv, options);
  if (authTag !== undefined) (checker as crypto.DecipherGCM).setAuthTag(authTag as NodeJS.ArrayBufferView);
  if (acceptedShapes.size > 4096) acceptedShapes.clear();
  acceptedShapes.add(shape);
}

/** Everything a cipher job needs, checked. */
interface CipherCall {
  algorithm: string;
  spec: CipherSpec;
  flags: number;
  tagLength: number;
  key: ArrayBufferView;
  /** `key` was made here (an encoded string, an exported KeyObject): zeroed once copied natively. */
  ownKey: boolean;
  iv: ArrayBufferView;
  aad: ArrayBufferView;
}

const EMPTY = Buffer.alloc(0);

function aadOf(spec: CipherSpec, aad: unknown, name: string): ArrayBufferView {
  if (aad === undefined) return EMPTY;
  if (!spec.aead) throw invalidArgValue(name, 'is only for AEAD ciphers (GCM, ChaCha20-Poly1305)', aad);
  const bytes = toBytes(name, aad);
  if (bytes.byteLength > MAX_INT32) throw invalidArgValue(name, 'must be at most 2 GiB - 1', bytes.byteLength);
  return bytes;
}

function prepare(
  encrypt: boolean,
  algorithm: unknown,
  key: unknown,
  iv: unknown,
  options: DecipherOptions | undefined,
  authTag: ArrayBufferView | undefined,
): CipherCall {
  const spec = specOf(algorithm);
  const name = algorithm as string;
  const keyView = keyBytes(key);
  try {
    const ownKey = typeof key === 'string' || key instanceof crypto.KeyObject;
    return prepareWithKey(encrypt, spec, name, keyView, ownKey, iv, options, authTag);
  } catch (error) {
    wipeIfOwn(key, keyView);
    throw error;
  }
}

function prepareWithKey(
  encrypt: boolean,
  spec: CipherSpec,
  name: string,
  keyView: ArrayBufferView,
  ownKey: boolean,
  iv: unknown,
  options: DecipherOptions | undefined,
  authTag: ArrayBufferView | undefined,
): CipherCall {
  const ivView = iv === null ? null : toBytes('iv', iv, true);
  const authTagLength = options?.authTagLength;
  if (authTagLength !== undefined) validateNumber('options.authTagLength', authTagLength, { min: 0, max: MAX_INT32, integer: true });
  validateBoolean('options.autoPadding', options?.autoPadding);
  checkLikeNodeCrypto(encrypt, name, keyView, ivView, authTagLength, authTag);
  const aad = aadOf(spec, options?.aad, 'options.aad');
  let flags = encrypt ? CipherFlag.Encrypt : 0;
  if (spec.aead) flags |= CipherFlag.Aead;
  if (options?.autoPadding !== false) flags |= CipherFlag.Padding;
  return { algorithm: name, spec, flags, tagLength: authTag?.byteLength ?? authTagLength ?? 16, key: keyView, ownKey, iv: ivView ?? EMPTY, aad };
}

function tagOf(value: unknown, name: string): ArrayBufferView {
  return toBytes(name, value, true);
}


/**
 * The largest output encrypting (`encrypt: true`) or decrypting `inputLength` bytes with
 * `algorithm` can produce: the room {@link CipherOutputOptions.output} must have.
 */
export function maxCipherOutput(algorithm: string, inputLength: number, encrypt: boolean, autoPadding = true): number {
  const { blockSize } = specOf(algorithm);
  validateNumber('inputLength', inputLength, { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  validateBoolean('encrypt', encrypt);
  validateBoolean('autoPadding', autoPadding);
  return maxOutputOf(blockSize, inputLength, encrypt && autoPadding);
}

// As native/threadpool/kernels/cipher.cc's MaxCipherOutput: padding adds 1 to `blockSize` bytes.
function maxOutputOf(blockSize: number, inputLength: number, padded: boolean): number {
  return blockSize > 1 && padded ? (Math.floor(inputLength / blockSize) + 1) * blockSize : inputLength;
}

/** options.output, checked: room for `needed` bytes, attached, not resizable (its memory must stay put). */
function outputOf(options: CipherOutputOptions | undefined, needed: number): ArrayBufferView | undefined {
  const output = options?.output;
  if (output === undefined) return undefined;
  const view = writableView('options.output', output);
  if (view.byteLength < needed) throw outOfRange('options.output', `at least ${needed} bytes long (the largest possible output)`, view.byteLength);
  return view;
}

/**
 * Whether the job must read a copy of `input` to write `output`: they share bytes, and do not
 * start at the same one (OpenSSL works in place only on the very same bytes), or do but
 * `sameStartIsSafe` is false (a streaming step of a block mode writes a block held back by the
 * step before ahead of its own input).
 */
function overlaps(input: ArrayBufferView, output: ArrayBufferView, sameStartIsSafe: boolean): boolean {
  if (input.buffer !== output.buffer || input.byteLength === 0 || output.byteLength === 0) return false;
  if (sameStartIsSafe && input.byteOffset === output.byteOffset) return false;
  return input.byteOffset < output.byteOffset + output.byteLength && output.byteOffset < input.byteOffset + input.byteLength;
}

/** What a one-shot job resolved with: its own Buffer, or a count of bytes written into `output`. */
function outputBuffer(result: Buffer | number, output: ArrayBufferView | undefined): Buffer {
  return typeof result === 'number' ? Buffer.from(output!.buffer, output!.byteOffset, result) : result;
}

/** One pool job of encrypt/decrypt; resolves with the output. */
function oneShot(
  submit: Submit,
  encrypt: boolean,
  call: CipherCall,
  tag: ArrayBufferView,
  data: BinaryInput,
  options: (CipherOptions & CipherOutputOptions) | undefined,
  zeroCopy: boolean | undefined,
  tagTarget: Buffer | undefined,
): Promise<Buffer> {
  const input = toBytes(encrypt ? 'plaintext' : 'ciphertext', data);
  const output = outputOf(options, maxOutputOf(call.spec.blockSize, input.byteLength, encrypt && (call.flags & CipherFlag.Padding) !== 0));
  const inPlace = readInPlace(input, data, zeroCopy) && !(output !== undefined && overlaps(input, output, true));
  try {
    return submit(options, (queue, control) =>
      queue.cipher(call.algorithm, call.flags, call.tagLength, call.key, call.iv, call.aad, tag, input, inPlace, output, tagTarget, control),
    ).then((result) => outputBuffer(result, output));
  } finally {
    if (call.ownKey) wipe(call.key);  // the native side copied it during the call
  }
}

/** ThreadPool.encrypt: checks, then one pool job. */
export function encrypt(
  submit: Submit,
  algorithm: string,
  key: CipherKey,
  iv: BinaryLike | null,
  plaintext: BinaryInput,
  options: (CipherOptions & CipherOutputOptions) | undefined,
): Promise<EncryptResult> {
  const zeroCopy = zeroCopyOption(options);
  const call = prepare(true, algorithm, key, iv, options, undefined);
  // The tag goes into a slice of Node's shared Buffer pool: no ArrayBuffer of its own per call.
  const authTag = call.spec.aead ? Buffer.allocUnsafe(call.tagLength) : undefined;
  return oneShot(submit, true, call, EMPTY, plaintext, options, zeroCopy, authTag).then((ciphertext) =>
    authTag === undefined ? { ciphertext } : { ciphertext, authTag },
  );
}

/** ThreadPool.decrypt: checks, then one pool job. */
export function decrypt(
  submit: Submit,
  algorithm: string,
  key: CipherKey,
  iv: BinaryLike | null,
  ciphertext: BinaryInput,
  options: (DecipherOptions & CipherOutputOptions) | undefined,
): Promise<Buffer> {
  const zeroCopy = zeroCopyOption(options);
  const spec = specOf(algorithm);
  let tag: ArrayBufferView | undefined;
  if (options?.authTag !== undefined) {
    if (!spec.aead) throw invalidArgValue('options.authTag', 'is only for AEAD ciphers (GCM, ChaCha20-Poly1305)', options.authTag);
    tag = tagOf(options.authTag, 'options.authTag');
  } else if (spec.aead) {
    throw invalidArgType('options.authTag', `given for ${algorithm} (an AEAD cipher): the authentication tag to check`, undefined);
  }
  const call = prepare(false, algorithm, key, iv, options, tag);
  return oneShot(submit, false, call, tag ?? EMPTY, ciphertext, options, zeroCopy, undefined);
}

/**
 * A streaming cipher on the pool: `await update(chunk)` as often as needed, then
 * `await final()`. Each step is one pool job; steps run in the order they were called, so
 * inputs larger than memory can be encrypted chunk by chunk. A step that fails or is aborted
 * midway leaves the cipher unusable: every later step rejects with `ERR_UVSCOPE_CIPHER_STATE`.
 */
export class PoolCipher {
  readonly #submit: Submit;
  readonly #native: NativeCipher;
  readonly #encrypt: boolean;
  readonly #algorithm: string;
  readonly #spec: CipherSpec;
  readonly #authTagLength: number | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #failed = false;
  #aad: ArrayBufferView = EMPTY;
  #started = false;
  #finalCalled = false;
  #expectedTag: ArrayBufferView | undefined;
  #authTag: Buffer | undefined;

  /** @internal */
  constructor(submit: Submit, encrypt: boolean, algorithm: string, key: CipherKey, iv: BinaryLike | null, options: DecipherOptions | undefined) {
    validateBoolean('options.zeroCopy', options?.zeroCopy);
    const spec = specOf(algorithm);
    let tag: ArrayBufferView | undefined;
    if (options?.authTag !== undefined) {
      if (encrypt || !spec.aead) throw invalidArgValue('options.authTag', 'is only for decrypting with an AEAD cipher', options.authTag);
      tag = copyOf(tagOf(options.authTag, 'options.authTag'));
    }
    const call = prepare(encrypt, algorithm, key, iv, options, tag);
    this.#submit = submit;
    this.#encrypt = encrypt;
    this.#algorithm = call.algorithm;
    this.#spec = spec;
    this.#authTagLength = options?.authTagLength;
    // AAD and tag are used by later steps: private copies, taken now.
    this.#aad = call.aad === EMPTY ? EMPTY : copyOf(call.aad);
    this.#expectedTag = tag;
    try {
      this.#native = new native.NativeCipher(call.algorithm, call.flags, call.tagLength, call.key, call.iv);
    } finally {
      if (call.ownKey) wipe(call.key);  // now in the native cipher context
    }
  }

  /**
   * Additional authenticated data (AEAD ciphers), before the first `update()`. Replaces
   * `options.aad`.
   */
  setAAD(aad: BinaryInput): this {
    if (this.#started || this.#finalCalled) throw invalidState('setAAD() must be called before update() and final()');
    this.#aad = copyOf(aadOf(this.#spec, aad, 'aad'));
    return this;
  }

  /** Decryption with an AEAD cipher: the tag that `final()` checks. Before `final()`. */
  setAuthTag(tag: BinaryInput): this {
    if (this.#encrypt || !this.#spec.aead) throw invalidState('setAuthTag() is only for decrypting with an AEAD cipher');
    if (this.#finalCalled) throw invalidState('setAuthTag() must be called before final()');
    const bytes = copyOf(tagOf(tag, 'tag'));
    // node:crypto's own tag length rules (and its error), from a checker of the same shape.
    const checker = crypto.createDecipheriv(
      this.#algorithm as crypto.CipherGCMTypes,
      new Uint8Array(crypto.getCipherInfo(this.#algorithm)?.keyLength ?? 32),
      new Uint8Array(crypto.getCipherInfo(this.#algorithm)?.ivLength ?? 12),
      this.#authTagLength === undefined ? undefined : { authTagLength: this.#authTagLength },
    );
    checker.setAuthTag(bytes);
    this.#expectedTag = bytes;
    return this;
  }

  /** Encryption with an AEAD cipher: the tag, once `final()` has resolved. */
  getAuthTag(): Buffer {
    if (this.#authTag === undefined) {
      throw invalidState(this.#encrypt && this.#spec.aead ? 'getAuthTag() is available once final() has resolved' : 'getAuthTag() is only for encrypting with an AEAD cipher');
    }
    return Buffer.from(this.#authTag);
  }

  /**
   * Encrypts or decrypts `data` (strings as UTF-8); resolves with the output of this step,
   * which may be shorter or longer than `data` in block modes. Copied at this call or read in
   * place when the step runs, as {@link InputOptions.zeroCopy} decides; written into a Buffer
   * of its own or into `options.output` (reuse one per step of a long stream); an abort stops
   * the step at its next 128 KiB chunk and leaves the cipher unusable.
   */
  update(data: BinaryInput, options?: InputOptions & CipherOutputOptions): Promise<Buffer> {
    if (this.#finalCalled) throw invalidState('update() after final()');
    const zeroCopy = zeroCopyOption(options);
    let bytes = toBytes('data', data);
    const { blockSize } = this.#spec;
    const output = outputOf(options, blockSize > 1 ? bytes.byteLength + blockSize : bytes.byteLength);
    if (!readInPlace(bytes, data, zeroCopy) || (output !== undefined && overlaps(bytes, output, blockSize === 1))) {
      bytes = Buffer.copyBytesFrom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
    const aad = this.#started ? EMPTY : this.#aad;
    this.#started = true;
    return this.#chain(() => {
      // Queued behind earlier steps: a view read or written in place may have been detached meanwhile.
      if (bytes === data) toBytes('data', bytes);
      if (output !== undefined) writableView('options.output', output);
      return this.#submit(options, (queue, control) => queue.cipherUpdate(this.#native, aad, bytes, true, output, control)).then(
        (result) => outputBuffer(result, output),
      );
    });
  }

  /**
   * Finishes: resolves with the last output bytes (padding in block modes). Decrypting with an
   * AEAD cipher, a wrong tag or tampered data rejects with `ERR_UVSCOPE_AUTH_FAILED`; the
   * plaintext already returned by `update()` must then be discarded, as with node:crypto.
   */
  final(options?: JobOptions): Promise<Buffer> {
    if (this.#finalCalled) throw invalidState('final() was already called');
    zeroCopyOption(options);
    if (!this.#encrypt && this.#spec.aead && this.#expectedTag === undefined) {
      throw invalidState('setAuthTag() (or options.authTag) must come before final() when decrypting with an AEAD cipher');
    }
    this.#finalCalled = true;
    const aad = this.#started ? EMPTY : this.#aad;
    this.#started = true;
    const tag = this.#expectedTag ?? EMPTY;
    return this.#chain(() =>
      this.#submit(options, (queue, control) => queue.cipherFinal(this.#native, aad, tag, control)).then(([last, authTag]) => {
        this.#authTag = authTag;
        return last;
      }),
    );
  }

  #chain<T>(step: () => Promise<T>): Promise<T> {
    const guarded = () => {
      if (this.#failed) {
        throw codedError('An earlier step of this cipher failed or was aborted', 'ERR_UVSCOPE_CIPHER_STATE');
      }
      return step();
    };
    const result = this.#tail.then(guarded, guarded);
    this.#tail = result.catch(() => {
      this.#failed = true;
    });
    return result;
  }
}
