/**
 * `Hasher`: incremental hashing on the pool, one pool job per step, the steps in call order.
 * Created by `ThreadPool.createHash()`; lives until its digest (the native hash context is
 * freed with the object).
 * @module
 */
import { codedError } from '../errors';
import type { NativeHasher, NativeWorkQueue } from '../native';
import { BinaryInput, InputOptions, readInPlace, toBytes, zeroCopyOption } from './inputs';

/** @internal What a Hasher needs of its pool: a step submitted as one of the pool's jobs. */
export interface HasherPool {
  submitHasher<T>(start: (native: NativeWorkQueue, control: number) => Promise<T> | undefined): Promise<T>;
}

/**
 * Incremental hashing on the pool: `await h.update(chunk)` as often as needed, then
 * `await h.digest()`. Steps run in the order they were called, one pool job each.
 */
export class Hasher {
  readonly #pool: HasherPool;
  readonly #native: NativeHasher;
  #tail: Promise<unknown> = Promise.resolve();
  #finalized = false;

  /** @internal */
  constructor(pool: HasherPool, nativeHasher: NativeHasher) {
    this.#pool = pool;
    this.#native = nativeHasher;
  }

  /**
   * Feeds `data` (strings as UTF-8). Copied at this call or read in place when the step runs,
   * as {@link InputOptions.zeroCopy} decides (by default: a copy up to 16 KiB); read in place,
   * the view must not change until the promise settles.
   */
  update(data: BinaryInput, options?: Pick<InputOptions, 'zeroCopy'>): Promise<void> {
    if (this.#finalized) throw codedError('Digest already called', 'ERR_CRYPTO_HASH_FINALIZED');
    const zeroCopy = zeroCopyOption(options);
    let bytes = toBytes('data', data);
    // The step is submitted when the earlier ones are done, so the copy is taken here, in JS.
    if (!readInPlace(bytes, data, zeroCopy)) {
      bytes = Buffer.copyBytesFrom(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
    return this.#chain(() => {
      // Queued behind earlier steps: a view read in place may have been detached meanwhile.
      if (bytes === data) toBytes('data', bytes);
      return this.#pool.submitHasher((queue, control) => queue.hasherUpdate(this.#native, bytes, control));
    });
  }

  /** The digest of everything fed so far; the hasher cannot be used afterwards. */
  digest(): Promise<Buffer> {
    if (this.#finalized) throw codedError('Digest already called', 'ERR_CRYPTO_HASH_FINALIZED');
    this.#finalized = true;
    return this.#chain(() => this.#pool.submitHasher((queue, control) => queue.hasherDigest(this.#native, control)));
  }

  #chain<T>(step: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(step, step);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
