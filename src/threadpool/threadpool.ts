/**
 * The thread pool: native kernels (hashing, HMAC, PBKDF2, scrypt, HKDF, Argon2, ciphers,
 * synthetic CPU and blocking work) run on the *real* libuv pool with `uv_queue_work`, sharing
 * it with fs, dns.lookup, zlib and crypto, with timings for every job and introspection of the
 * pool itself. This file is the facade (the ThreadPool class, its hash/HMAC/PBKDF2/scrypt calls,
 * the default pool): argument handling lives in inputs.ts, the cipher calls in cipher.ts, key
 * derivation's checks (PBKDF2, scrypt, HKDF, Argon2) in kdf.ts, the incremental Hasher in
 * hasher.ts, the pool's size in size.ts, the saturation monitor in saturation.ts, the pool
 * threads' monitor in threads.ts, the statistics' layout in job-stats.ts, the job records
 * published on JOB_CHANNEL in job-records.ts and lanes in lane.ts (all in src/threadpool/).
 * Lifetime: a ThreadPool lives as long as its caller holds it; the default pool (`threadpool`)
 * is made at load and lives for the process.
 * @module
 */
import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';

import { AbortError, codedError, invalidArgType, invalidArgValue, validateNumber, validateObject } from '../errors';
import { currentHttpRequestId } from '../http-request-context';
import {
  BinaryInput,
  BinaryLike,
  digestInfo,
  InputOptions,
  JobOptions,
  macDigest,
  outputLengthOf,
  pathOf,
  readInPlace,
  secretCopyOf,
  Submit,
  toBytes,
  validateJobOptions,
  wipedWhenSettled,
  zeroCopyOption,
} from './inputs';
import { JobFlag, native, NativeWorkQueue } from '../native';
import {
  CipherKey,
  CipherOptions,
  ciphers,
  decrypt,
  DecipherOptions,
  encrypt,
  EncryptResult,
  CipherOutputOptions,
  PoolCipher,
} from './cipher';
import { jobChannel, jobSubmitChannel, reportJob, tagJob } from './job-records';
import { newStatsArray, readPoolStats, ThreadPoolStats } from './job-stats';
import { argon2, Argon2Algorithm, Argon2Parameters, hkdf, kdfs, pbkdf2, scrypt, ScryptParams } from './kdf';
import { Hasher } from './hasher';
import { measureSizeOn, parsePoolSize, poolSize } from './size';
import { monitorSaturationOn, SaturationMonitor } from './saturation';
import { monitorThreadsOn, PoolThreadMonitor, PoolThreadMonitorOptions } from './threads';
import { createLaneOn, LaneControl, LaneMethod, LaneOptions } from './lane';

export type { KernelName } from '../native';
export type { JobRecord, SaturationEvent } from '../channels';
export { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, SATURATION_CHANNEL } from '../channels';
export type { BinaryInput, BinaryLike, InputOptions, JobOptions } from './inputs';
export { COPY_LIMIT_BYTES } from './inputs';
export type { CipherKey, CipherOptions, DecipherOptions, EncryptResult, CipherOutputOptions } from './cipher';
export { ciphers, maxCipherOutput, PoolCipher } from './cipher';
export type { Argon2Algorithm, Argon2Parameters, ScryptParams } from './kdf';
export { kdfs } from './kdf';
export { Hasher } from './hasher';
export type { PoolSize } from './size';
export { parsePoolSize, poolSize } from './size';
export type { SaturationMonitor, SaturationStats } from './saturation';
export type { PoolThreadMonitor, PoolThreadMonitorOptions, PoolThreadStats, PoolThreadTimes } from './threads';
export { poolThreadTimesSupported } from './threads';
export type { JobStats, ThreadPoolStats } from './job-stats';
export type { LaneControl, LaneMethod, LaneOptions } from './lane';
export type { LaneStats } from './lane-admission';
export type { LanePriority } from './lane-priority';

/** A lane (lane.ts, docs/thread-pool.md#lanes): a ThreadPool's job calls, admitted `concurrency` at a time. */
export type Lane = Pick<ThreadPool, LaneMethod> & LaneControl;

/** Options of the hashing calls. */
export interface HashOptions extends InputOptions {
  /** Output length in bytes, for XOF digests (shake128, shake256) only, as in node:crypto. */
  outputLength?: number;
}

/** Options of `hashMany`. */
export interface HashManyOptions extends HashOptions {
  /**
   * How many pool jobs share the inputs: each job takes the next input no job has taken yet
   * until none is left, so many inputs hash on several pool threads at once while the loop is
   * woken once per job rather than once per input. Default: as many jobs as this pool runs at
   * once (its `maxConcurrency`, else the pool size from {@link poolSize}), never more than
   * there are inputs. `1`: one job hashes every input in turn.
   */
  jobs?: number;
}

/** Options of a {@link ThreadPool}. */
export interface ThreadPoolOptions {
  /**
   * At most this many of this pool's jobs occupy libuv threads at once; the rest wait in
   * uvscope's own FIFO, so heavy jobs cannot starve fs and dns.lookup. Default: no limit
   * (jobs go straight to libuv's queue).
   */
  maxConcurrency?: number;
  /** With maxConcurrency: how many jobs may wait in uvscope's FIFO. Default: unbounded. */
  maxQueue?: number;
}

const MAX_INT32 = 2 ** 31 - 1;

// --- the pool ----------------------------------------------------------------------------

let nextCancelId = 1;

function abortErrorFor(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/**
 * Runs native kernels on the libuv thread pool of this process, from the loop of the thread
 * that creates it (main thread or a worker). Every job's promise settles exactly once.
 */
export class ThreadPool {
  readonly #native: NativeWorkQueue;
  readonly #statsBuffer = newStatsArray();
  readonly #maxConcurrency: number;
  readonly #maxQueue: number;

  constructor(options: ThreadPoolOptions = {}) {
    validateObject('options', options);
    const { maxConcurrency = 0, maxQueue = 2 ** 32 - 1 } = options ?? {};
    if (options?.maxConcurrency !== undefined) {
      validateNumber('options.maxConcurrency', maxConcurrency, { min: 1, max: 1024, integer: true });
    }
    if (options?.maxQueue !== undefined) {
      validateNumber('options.maxQueue', maxQueue, { min: 0, max: 2 ** 32 - 1, integer: true });
      if (options.maxConcurrency === undefined) {
        throw invalidArgValue('options.maxQueue', 'needs options.maxConcurrency', maxQueue);
      }
    }
    this.#maxConcurrency = maxConcurrency;
    this.#maxQueue = maxQueue;
    this.#native = ThreadPool.#laneQueue ?? new native.NativeWorkQueue(maxConcurrency, maxQueue);
    this.#native.setReporter(reportJob);
  }

  /** Set only while createLane() builds the ThreadPool whose calls a lane offers: that pool's native queue. */
  static #laneQueue: NativeWorkQueue | undefined;

  /**
   * A lane over this pool: the same job calls, with at most `options.concurrency` of the lane's
   * jobs in libuv's queue or running at once; the others wait in the lane (not in libuv's FIFO,
   * where fs and dns.lookup would queue behind them), at most `options.maxQueued` of them
   * (beyond, calls reject with `ERR_UVSCOPE_LANE_FULL`). See src/threadpool/lane.ts.
   */
  createLane(options: LaneOptions): Lane {
    return createLaneOn(this.#native, options, (queue, maxConcurrency) => {
      ThreadPool.#laneQueue = queue;
      try {
        return new ThreadPool({ maxConcurrency });
      } finally {
        ThreadPool.#laneQueue = undefined;
      }
    });
  }

  /** The maxConcurrency this pool was created with (0: no limit of its own). */
  get maxConcurrency(): number {
    return this.#maxConcurrency;
  }

  /** An empty job: the round trip through the pool and back, for benchmarks. */
  noop(options?: JobOptions): Promise<void> {
    validateJobOptions(options);
    return this.#submit(options, (control) => this.#native.noop(control));
  }

  /** Burns CPU on a pool thread for `ms` milliseconds (benchmarks). */
  spin(ms: number, options?: JobOptions): Promise<void> {
    validateNumber('ms', ms, { min: 0, max: 3_600_000 });
    validateJobOptions(options);
    return this.#submit(options, (control) => this.#native.spin(ms, control));
  }

  /** Blocks a pool thread for `ms` milliseconds without using CPU, like slow I/O (benchmarks). */
  sleep(ms: number, options?: JobOptions): Promise<void> {
    validateNumber('ms', ms, { min: 0, max: 3_600_000 });
    validateJobOptions(options);
    return this.#submit(options, (control) => this.#native.sleep(ms, control));
  }

  /** Digest of `data`, byte-identical to `crypto.createHash(algorithm).update(data).digest()`. */
  hash(algorithm: string, data: BinaryInput, options?: HashOptions): Promise<Buffer> {
    const info = digestInfo('algorithm', algorithm);
    const bytes = toBytes('data', data);
    const inPlace = readInPlace(bytes, data, zeroCopyOption(options));
    const outputLength = outputLengthOf(algorithm, info, options);
    return this.#submit(options, (control) => this.#native.hash(algorithm, bytes, outputLength, inPlace, control));
  }

  /**
   * Digests of many inputs, in order, from one call: `options.jobs` pool jobs (default: as
   * many as can run at once) take the inputs in turn. If one job fails or the signal aborts,
   * the others are cancelled or stopped at their next chunk, and once all have settled the
   * promise rejects with the first error.
   */
  hashMany(algorithm: string, inputs: readonly BinaryInput[], options?: HashManyOptions): Promise<Buffer[]> {
    const info = digestInfo('algorithm', algorithm);
    if (!Array.isArray(inputs)) throw invalidArgType('inputs', 'an instance of Array', inputs);
    // A private copy: the caller may change its array; the job keeps this one alive. A plain
    // loop: map() would skip holes and follow Symbol.species.
    // Each element is read once: a getter could answer a second read with something else (a
    // string, whose bytes would then be taken as private and read in place).
    const views: ArrayBufferView[] = new Array(inputs.length);
    const given: unknown[] = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      given[i] = inputs[i];
      views[i] = toBytes(`inputs[${i}]`, given[i]);
    }
    const zeroCopy = zeroCopyOption(options);
    const inPlace: boolean[] = new Array(views.length);
    for (let i = 0; i < views.length; i++) inPlace[i] = readInPlace(views[i], given[i], zeroCopy);
    const outputLength = outputLengthOf(algorithm, info, options);
    const jobsOption = options?.jobs;
    if (jobsOption !== undefined) validateNumber('options.jobs', jobsOption, { min: 1, max: 1024, integer: true });
    const jobs = jobsOption ?? (this.#maxConcurrency || parsePoolSize(process.env.UV_THREADPOOL_SIZE));
    const batch = new native.NativeHashManyBatch(algorithm, views, outputLength, inPlace);
    const submitJob = (signal: AbortSignal | undefined) =>
      this.#submit({ signal }, (control) => this.#native.hashMany(batch, views, control));
    const parts = Math.min(jobs, views.length);
    const settled = parts <= 1 ? submitJob(options?.signal) : this.#submitParts(options?.signal, parts, submitJob);
    return settled.then(() => batch.digests());
  }

  /** HMAC of `data` under `key`, byte-identical to `crypto.createHmac(algorithm, key).update(data).digest()`. */
  hmac(algorithm: string, key: BinaryLike, data: BinaryInput, options?: InputOptions): Promise<Buffer> {
    macDigest('hmac', algorithm);
    const keyBytes = secretCopyOf('key', key);
    const bytes = toBytes('data', data);
    const inPlace = readInPlace(bytes, data, zeroCopyOption(options));
    return wipedWhenSettled(
      this.#submit(options, (control) => this.#native.hmac(algorithm, keyBytes, bytes, inPlace, control)),
      keyBytes,
    );
  }

  /**
   * Reads and hashes a file entirely on a pool thread (no JavaScript per chunk). Errors carry
   * Node's fs codes (ENOENT, EISDIR, EACCES, ...) with `syscall`, `errno` and `path`.
   */
  hashFile(path: string | Buffer | URL, algorithm: string, options?: HashOptions): Promise<Buffer> {
    const file = pathOf(path);
    const info = digestInfo('algorithm', algorithm);
    validateJobOptions(options);
    const outputLength = outputLengthOf(algorithm, info, options);
    return this.#submit(options, (control) => this.#native.hashFile(file, algorithm, outputLength, control));
  }

  /** An incremental hasher whose updates and digest each run as a pool job, in order. */
  createHasher(algorithm: string, options?: { outputLength?: number }): Hasher {
    const info = digestInfo('algorithm', algorithm);
    validateObject('options', options);
    const outputLength = outputLengthOf(algorithm, info, options);
    return new Hasher(this, new native.NativeHasher(algorithm, outputLength));
  }

  /** PBKDF2, byte-identical to `crypto.pbkdf2`, with node:crypto's argument checks. */
  pbkdf2(
    password: BinaryLike,
    salt: BinaryLike,
    iterations: number,
    keylen: number,
    digest: string,
    options?: JobOptions,
  ): Promise<Buffer> {
    return pbkdf2(this.#submitWith, password, salt, iterations, keylen, digest, options);
  }

  /**
   * scrypt, byte-identical to `crypto.scrypt`; invalid parameters or memory over `maxmem`
   * reject synchronously with RangeError `ERR_CRYPTO_INVALID_SCRYPT_PARAMS`, before queueing.
   */
  scrypt(
    password: BinaryLike,
    salt: BinaryLike,
    keylen: number,
    params?: ScryptParams,
    options?: JobOptions,
  ): Promise<Buffer> {
    return scrypt(this.#submitWith, password, salt, keylen, params, options);
  }

  /**
   * Encrypts `plaintext` in one pool job, byte-identical to `crypto.createCipheriv(algorithm,
   * key, iv, { authTagLength })` with `setAAD(aad)`, `update()`, `final()` (and `getAuthTag()`
   * for AEAD ciphers). Key and iv lengths, tag lengths and unknown ciphers are refused
   * synchronously with node:crypto's own errors, before anything is queued. The ciphertext is
   * written on the pool thread into a buffer of its own, or into `options.output`; `plaintext`
   * is read as {@link InputOptions.zeroCopy} says. Aborting stops a running job at its next
   * 128 KiB chunk, unless it works in place ({@link CipherOutputOptions.output} says what an
   * abort means for the output).
   */
  encrypt(
    algorithm: string,
    key: CipherKey,
    iv: BinaryLike | null,
    plaintext: BinaryInput,
    options?: CipherOptions & CipherOutputOptions,
  ): Promise<EncryptResult> {
    return encrypt(this.#submitWith, algorithm, key, iv, plaintext, options);
  }

  /**
   * Decrypts `ciphertext` in one pool job, byte-identical to `crypto.createDecipheriv`. AEAD
   * ciphers need `options.authTag`; a wrong tag or tampered data rejects with an Error of code
   * `ERR_UVSCOPE_AUTH_FAILED` (never with plaintext: the output is wiped on the pool thread),
   * bad padding with node:crypto's `ERR_OSSL_BAD_DECRYPT`. The plaintext goes into a buffer of
   * its own, or into `options.output`.
   */
  decrypt(
    algorithm: string,
    key: CipherKey,
    iv: BinaryLike | null,
    ciphertext: BinaryInput,
    options?: DecipherOptions & CipherOutputOptions,
  ): Promise<Buffer> {
    return decrypt(this.#submitWith, algorithm, key, iv, ciphertext, options);
  }

  /** A streaming encryption whose `update()` and `final()` each run as a pool job, in order. */
  createCipher(algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: CipherOptions): PoolCipher {
    return new PoolCipher(this.#submitWith, true, algorithm, key, iv, options);
  }

  /** A streaming decryption whose `update()` and `final()` each run as a pool job, in order. */
  createDecipher(algorithm: string, key: CipherKey, iv: BinaryLike | null, options?: DecipherOptions): PoolCipher {
    return new PoolCipher(this.#submitWith, false, algorithm, key, iv, options);
  }

  /** HKDF (RFC 5869), equal to `crypto.hkdf` (an ArrayBuffer), with node:crypto's argument checks. */
  hkdf(
    digest: string,
    ikm: BinaryLike | crypto.KeyObject,
    salt: BinaryLike,
    info: BinaryLike,
    keylen: number,
    options?: JobOptions,
  ): Promise<ArrayBuffer> {
    return hkdf(this.#submitWith, digest, ikm, salt, info, keylen, options);
  }

  /**
   * Argon2 (RFC 9106), equal to Node 24.7's `crypto.argon2(algorithm, parameters)`, through
   * OpenSSL's EVP_KDF. Needs OpenSSL 3.2 or later (Node 22 and later): elsewhere it rejects with
   * `ERR_UVSCOPE_ARGON2_UNAVAILABLE`; {@link kdfs} tells beforehand. A running derivation
   * cannot be stopped: an abort only cancels it while it is queued.
   */
  argon2(algorithm: Argon2Algorithm, parameters: Argon2Parameters, options?: JobOptions): Promise<Buffer> {
    return argon2(this.#submitWith, algorithm, parameters, options);
  }

  /** Names of the digests the hashing calls accept (those of `crypto.getHashes()` OpenSSL can run here). */
  algorithms(): string[] {
    return algorithms();
  }

  /** Names of the ciphers `encrypt`, `decrypt`, `createCipher` and `createDecipher` accept here. */
  ciphers(): string[] {
    return ciphers();
  }

  /** Key derivation functions this Node can run on the pool: Argon2 variants only where OpenSSL has them. */
  kdfs(): string[] {
    return kdfs();
  }

  /** Statistics since creation or the last `resetStats()`. */
  stats(): ThreadPoolStats {
    const numbers = this.#statsBuffer;
    this.#native.stats(numbers);
    return readPoolStats(numbers);
  }

  /** Clears the statistics and starts a new window. Jobs in flight still settle and count. */
  resetStats(): void {
    this.#native.resetStats();
  }

  /** Submission for the call families of src/threadpool/: the native queue handed to `start`. */
  readonly #submitWith: Submit = (options, start) => this.#submit(options, (control) => start(this.#native, control));

  /** @internal Submits through the native queue with the job's signal wired to uv_cancel. */
  #submit<T>(options: JobOptions | undefined, start: (control: number) => Promise<T> | undefined): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortErrorFor(signal));
    const flags = jobChannel.hasSubscribers ? JobFlag.Report : 0;
    // A reported job submitted for an HTTP request gets a cancel id, under which its record finds the request.
    const httpRequestId = flags !== 0 ? currentHttpRequestId() : 0;
    if (signal === undefined && httpRequestId === 0) {
      const promise = start(flags);
      if (promise === undefined) return this.#queueFull();
      if (flags !== 0 && jobSubmitChannel.hasSubscribers) jobSubmitChannel.publish(undefined);
      return promise;
    }
    const id = nextCancelId;
    nextCancelId = nextCancelId >= 0xfffffffe ? 1 : nextCancelId + 1;
    const promise = start(id * JobFlag.Span + flags);
    if (promise === undefined) return this.#queueFull();
    if (httpRequestId !== 0) tagJob(id, httpRequestId);
    if (signal === undefined) {
      if (jobSubmitChannel.hasSubscribers) jobSubmitChannel.publish(undefined);
      return promise;
    }
    // Listening before anything else runs: a submit-channel subscriber may abort the signal.
    const onAbort = () => this.#native.cancel(id, abortErrorFor(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => signal.removeEventListener('abort', onAbort);
    promise.then(cleanup, cleanup);
    if (flags !== 0 && jobSubmitChannel.hasSubscribers) jobSubmitChannel.publish(undefined);
    return promise;
  }

  /**
   * Submits `parts` jobs as one call, resolved when all are. The caller's signal, or the first
   * job to fail, cancels the others (through a signal of their own). The promise settles once
   * every job has settled (none still reads the caller's bytes), rejecting with the first
   * rejection.
   */
  #submitParts(
    signal: AbortSignal | undefined,
    parts: number,
    submitPart: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortErrorFor(signal));
    const shared = new AbortController();
    // One listener per part (#submit): more than EventTarget's default 10 is expected here.
    setMaxListeners(0, shared.signal);
    const forward = () => shared.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    let failure: { error: unknown } | undefined;
    const onFailure = (error: unknown) => {
      if (failure === undefined) {
        failure = { error };
        shared.abort();
      }
    };
    const submitted: Promise<void>[] = new Array(parts);
    for (let part = 0; part < parts; part++) submitted[part] = submitPart(shared.signal).catch(onFailure);
    return Promise.all(submitted).then(() => {
      signal?.removeEventListener('abort', forward);
      if (failure !== undefined) throw failure.error;
    });
  }

  /** @internal */
  submitHasher<T>(start: (native: NativeWorkQueue, control: number) => Promise<T> | undefined): Promise<T> {
    return this.#submit(undefined, (control) => start(this.#native, control));
  }

  /** @internal The native queue, for introspection probes. */
  get nativeQueue(): NativeWorkQueue {
    return this.#native;
  }

  #queueFull(): Promise<never> {
    return Promise.reject(
      codedError(
        `ThreadPool queue is full: ${this.#maxConcurrency} jobs running and maxQueue (${this.#maxQueue}) waiting`,
        'ERR_UVSCOPE_QUEUE_FULL',
      ),
    );
  }
}


// --- pool-wide introspection ---------------------------------------------------------------

let cachedAlgorithms: string[] | undefined;

/** Digest names accepted by hash/hmac/hashFile/pbkdf2 here. */
export function algorithms(): string[] {
  cachedAlgorithms ??= crypto.getHashes().filter((name) => native.digestInfo(name) !== undefined);
  return [...cachedAlgorithms];
}




/**
 * Measures how many pool threads run at once: submits blocking probe jobs and counts how many
 * are running together once the count stops growing. Other pool work in flight (fs, dns,
 * crypto) lowers the count; measure while the pool is otherwise quiet.
 */
export function measureSize(options: { settleMs?: number } = {}): Promise<number> {
  return measureSizeOn(defaultPool().nativeQueue, options);
}

/**
 * Samples, every `intervalMs`, how long a no-op job waits in libuv's queue right now: the
 * delay fs, dns.lookup and crypto callers suffer. Unref'd; its probes are excluded from job
 * statistics. Keeps the last `maxSamples` samples (default 10,000).
 */
export function monitorSaturation(options: { intervalMs?: number; maxSamples?: number } = {}): SaturationMonitor {
  return monitorSaturationOn(defaultPool().nativeQueue, options);
}

/**
 * Measures the pool's threads from the kernel (Linux): each thread's CPU time and time runnable
 * but waiting for a CPU, whoever's work it runs (fs, dns, zlib, node:crypto, other addons,
 * uvscope). Finds the threads with short probe jobs first (`ready` settles when done).
 */
export function monitorThreads(options?: PoolThreadMonitorOptions): PoolThreadMonitor {
  return monitorThreadsOn(defaultPool().nativeQueue, options);
}

/** A lane over the default pool: `threadpool.createLane(options)`. */
export function createLane(options: LaneOptions): Lane {
  return defaultPool().createLane(options);
}

/** The default pool (no concurrency limit of its own) with the pool-wide introspection functions. */
export interface DefaultThreadPool extends ThreadPool {
  size: typeof poolSize;
  measureSize: typeof measureSize;
  monitorSaturation: typeof monitorSaturation;
  monitorThreads: typeof monitorThreads;
}

let defaultInstance: DefaultThreadPool | undefined;
function defaultPool(): DefaultThreadPool {
  defaultInstance ??= Object.assign(new ThreadPool(), { size: poolSize, measureSize, monitorSaturation, monitorThreads });
  return defaultInstance;
}

/** The default pool of this thread: `threadpool.hash(...)`, `threadpool.size()`, ... */
export const threadpool: DefaultThreadPool = defaultPool();
