/**
 * The native queue of a lane's ThreadPool (lane.ts): a NativeWorkQueue whose every submission
 * goes through the lane's admission (lane-admission.ts). This file owns what a waiting job keeps
 * of its arguments: private copies of what the native side would have copied during the call,
 * made here, now (wiped by the admission once the native side has its own), and the caller's
 * views the job still reads or writes in place. The introspection probes, the statistics and the
 * reporter are the pool's under the lane.
 *
 * Lifetime: that of the lane's ThreadPool, which holds it; it keeps no state of its own (a
 * waiting job, with what it keeps, is held by the admission).
 * @module
 */
import { CipherFlag, JobReporter, NativeBarrier, NativeCipher, NativeHasher, NativeHashManyBatch, NativeWorkQueue } from '../native';
import { copyOf } from './inputs';
import type { LaneAdmission } from './lane-admission';

/**
 * The native queue of a lane's ThreadPool: each submission goes to the pool's native queue at
 * once while fewer than `concurrency` of the lane's jobs are there, else waits in the lane's
 * FIFO (arguments the native side copies during the call are copied here, now). When a slot
 * frees, and in what order waiting jobs go: LaneAdmission (lane-admission.ts).
 * @internal
 */
export class LaneQueue implements NativeWorkQueue {
  readonly #admission: LaneAdmission;
  /** The pool under the lane (the admission's, its submissions flagged as a lane job's). */
  readonly #pool: NativeWorkQueue;

  constructor(admission: LaneAdmission) {
    this.#admission = admission;
    this.#pool = admission.pool;
  }

  // --- submissions, as NativeWorkQueue's (src/native.ts) ------------------------------------

  noop(control: number): Promise<void> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.noop(control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.noop(control));
  }

  spin(ms: number, control: number): Promise<void> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.spin(ms, control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.spin(ms, control));
  }

  sleep(ms: number, control: number): Promise<void> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.sleep(ms, control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.sleep(ms, control));
  }

  hash(algorithm: string, data: ArrayBufferView, outputLength: number, inPlace: boolean, control: number): Promise<Buffer> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.hash(algorithm, data, outputLength, inPlace, control));
    if (this.#admission.full()) return this.#admission.refuse();
    // Copied now, as the native side would have during the call; then read in place from the copy.
    const input = inPlace ? data : copyOf(data);
    return this.#admission.wait(control, (q) => q.hash(algorithm, input, outputLength, true, control), inPlace ? [['data', data]] : undefined);
  }

  hashMany(batch: NativeHashManyBatch, inputs: ArrayBufferView[], control: number): Promise<void> {
    // The batch copied the inputs not read in place when it was made, during the call.
    if (this.#admission.free()) return this.#admission.now(this.#pool.hashMany(batch, inputs, control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.hashMany(batch, inputs, control));
  }

  hmac(algorithm: string, key: ArrayBufferView, data: ArrayBufferView, inPlace: boolean, control: number): Promise<Buffer> {
    // `key` is already a private copy (ThreadPool.hmac), wiped when the job settles.
    if (this.#admission.free()) return this.#admission.now(this.#pool.hmac(algorithm, key, data, inPlace, control));
    if (this.#admission.full()) return this.#admission.refuse();
    const input = inPlace ? data : copyOf(data);
    return this.#admission.wait(control, (q) => q.hmac(algorithm, key, input, true, control), inPlace ? [['data', data]] : undefined);
  }

  hashFile(path: Buffer, algorithm: string, outputLength: number, control: number): Promise<Buffer> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.hashFile(path, algorithm, outputLength, control));
    if (this.#admission.full()) return this.#admission.refuse();
    const file = Buffer.from(path); // the caller's Buffer may change; the path is read at the call
    return this.#admission.wait(control, (q) => q.hashFile(file, algorithm, outputLength, control));
  }

  pbkdf2(password: ArrayBufferView, salt: ArrayBufferView, iterations: number, keylen: number, digest: string, control: number): Promise<Buffer> {
    // Password and salt are private copies already (ThreadPool.pbkdf2), the password wiped on settling.
    if (this.#admission.free()) return this.#admission.now(this.#pool.pbkdf2(password, salt, iterations, keylen, digest, control));
    if (this.#admission.full()) return this.#admission.refuse();
    return this.#admission.wait(control, (q) => q.pbkdf2(password, salt, iterations, keylen, digest, control));
  }

  scrypt(password: ArrayBufferView, salt: ArrayBufferView, keylen: number, N: number, r: number, p: number, maxmem: number, control: number): Promise<Buffer> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.scrypt(password, salt, keylen, N, r, p, maxmem, control));
    if (this.#admission.full()) return this.#admission.refuse();
    return this.#admission.wait(control, (q) => q.scrypt(password, salt, keylen, N, r, p, maxmem, control));
  }

  hasherUpdate(hasher: NativeHasher, data: ArrayBufferView, control: number): Promise<void> {
    // Hasher.update hands over a private copy, or the caller's view to read in place.
    if (this.#admission.free()) return this.#admission.now(this.#pool.hasherUpdate(hasher, data, control));
    if (this.#admission.full()) return this.#admission.refuse();
    return this.#admission.wait(control, (q) => q.hasherUpdate(hasher, data, control), [['data', data]]);
  }

  hasherDigest(hasher: NativeHasher, control: number): Promise<Buffer> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.hasherDigest(hasher, control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.hasherDigest(hasher, control));
  }

  cipher(
    algorithm: string,
    flags: number,
    tagLength: number,
    key: ArrayBufferView,
    iv: ArrayBufferView,
    aad: ArrayBufferView,
    tag: ArrayBufferView,
    input: ArrayBufferView,
    inPlace: boolean,
    output: ArrayBufferView | undefined,
    tagTarget: Uint8Array | undefined,
    control: number,
  ): Promise<Buffer | number> {
    if (this.#admission.free()) {
      return this.#admission.now(this.#pool.cipher(algorithm, flags, tagLength, key, iv, aad, tag, input, inPlace, output, tagTarget, control));
    }
    if (this.#admission.full()) return this.#admission.refuse();
    // Key, iv, aad and tag: the native side copies them during the call (the key may be bytes
    // the caller's code wipes right after it), so the lane does now.
    const keyCopy = copyOf(key);
    const ivCopy = copyOf(iv);
    const aadCopy = copyOf(aad);
    const tagCopy = copyOf(tag);
    // The input: read in place, or copied now; but an input the output overlaps stays the
    // caller's (it belongs to the job until it settles, as the output does), so the native side
    // still sees the overlap and runs the job as it would have run it at the call.
    const overlapsOutput =
      output !== undefined &&
      output.buffer === input.buffer &&
      input.byteLength > 0 &&
      output.byteLength > 0 &&
      input.byteOffset < output.byteOffset + output.byteLength &&
      output.byteOffset < input.byteOffset + input.byteLength;
    const readCaller = inPlace || overlapsOutput;
    const data = readCaller ? input : copyOf(input);
    const inputName = flags & CipherFlag.Encrypt ? 'plaintext' : 'ciphertext';
    const views: [string, ArrayBufferView][] = [];
    if (readCaller) views.push([inputName, input]);
    if (output !== undefined) views.push(['options.output', output]);
    return this.#admission.wait(
      control,
      (q) => q.cipher(algorithm, flags, tagLength, keyCopy, ivCopy, aadCopy, tagCopy, data, readCaller ? inPlace : true, output, tagTarget, control),
      views,
      [keyCopy],
    );
  }

  cipherUpdate(cipher: NativeCipher, aad: ArrayBufferView, input: ArrayBufferView, inPlace: boolean, output: ArrayBufferView | undefined, control: number): Promise<Buffer | number> {
    // PoolCipher.update hands over private copies (aad, and the input when one is due).
    if (this.#admission.free()) return this.#admission.now(this.#pool.cipherUpdate(cipher, aad, input, inPlace, output, control));
    if (this.#admission.full()) return this.#admission.refuse();
    const views: [string, ArrayBufferView][] = [['data', input]];
    if (output !== undefined) views.push(['options.output', output]);
    return this.#admission.wait(control, (q) => q.cipherUpdate(cipher, aad, input, inPlace, output, control), views);
  }

  cipherFinal(cipher: NativeCipher, aad: ArrayBufferView, tag: ArrayBufferView, control: number): Promise<[Buffer, Buffer | undefined]> {
    // aad and tag are PoolCipher's private copies.
    if (this.#admission.free()) return this.#admission.now(this.#pool.cipherFinal(cipher, aad, tag, control));
    return this.#admission.full() ? this.#admission.refuse() : this.#admission.wait(control, (q) => q.cipherFinal(cipher, aad, tag, control));
  }

  hkdf(digest: string, key: ArrayBufferView, salt: ArrayBufferView, info: ArrayBufferView, keylen: number, control: number): Promise<Buffer> {
    if (this.#admission.free()) return this.#admission.now(this.#pool.hkdf(digest, key, salt, info, keylen, control));
    if (this.#admission.full()) return this.#admission.refuse();
    const keyCopy = copyOf(key);
    const saltCopy = copyOf(salt);
    const infoCopy = copyOf(info);
    return this.#admission.wait(control, (q) => q.hkdf(digest, keyCopy, saltCopy, infoCopy, keylen, control), undefined, [keyCopy]);
  }

  argon2(
    kdf: string,
    message: ArrayBufferView,
    nonce: ArrayBufferView,
    secret: ArrayBufferView,
    associatedData: ArrayBufferView,
    parallelism: number,
    tagLength: number,
    memory: number,
    passes: number,
    control: number,
  ): Promise<Buffer> {
    if (this.#admission.free()) {
      return this.#admission.now(this.#pool.argon2(kdf, message, nonce, secret, associatedData, parallelism, tagLength, memory, passes, control));
    }
    if (this.#admission.full()) return this.#admission.refuse();
    const m = copyOf(message);
    const n = copyOf(nonce);
    const s = copyOf(secret);
    const ad = copyOf(associatedData);
    return this.#admission.wait(control, (q) => q.argon2(kdf, m, n, s, ad, parallelism, tagLength, memory, passes, control), undefined, [m, s]);
  }

  // Introspection probes are the default pool's (measureSize, monitorSaturation), never a lane's.
  probe(control: number): Promise<number> | undefined {
    return this.#pool.probe(control);
  }

  hold(barrier: NativeBarrier, control: number): Promise<void> | undefined {
    return this.#pool.hold(barrier, control);
  }

  /** A waiting job with this id leaves the lane and rejects with `reason`; any other goes to the pool. */
  cancel(cancelId: number, reason: unknown): boolean {
    return this.#admission.cancel(cancelId, reason) || this.#pool.cancel(cancelId, reason);
  }

  // The pool's own statistics (a lane's are LaneAdmission.stats()); the reporter is the pool's.
  stats(out: Float64Array): void {
    this.#pool.stats(out);
  }

  resetStats(): void {
    // A lane's ThreadPool never exposes the pool's statistics: nothing of the pool's to reset.
  }

  buckets(kernel: number, which: number, out: Float64Array): number {
    return this.#pool.buckets(kernel, which, out);
  }

  setReporter(_report: JobReporter): void {
    // The pool under the lane reports every job it runs, the lane's included.
  }
}
