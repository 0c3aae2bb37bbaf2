/**
 * Lanes: admission control for uvscope's jobs. A lane lets at most `concurrency` of its jobs
 * into libuv's queue (waiting there or running on a pool thread) at once; the others wait in
 * the lane, in a JavaScript FIFO, so fs, dns.lookup, zlib and node:crypto requests made
 * meanwhile never queue behind them in libuv's single FIFO. Beyond `maxQueued` waiting jobs a
 * call rejects at once with `ERR_UVSCOPE_LANE_FULL`.
 *
 * A lane's calls are a ThreadPool's own (threadpool.ts: the same validation, copies, wipes,
 * abort wiring and errors, at the call): that ThreadPool's native queue is a {@link LaneQueue},
 * which hands a job to the native queue of the pool under the lane at once while the lane has
 * room, and otherwise keeps it until a slot frees. This file owns that FIFO, what a waiting
 * job keeps of its arguments (private copies of what the native side would have copied during
 * the call, wiped once it has its own), and the lane's counters and lane-wait histogram. Every lane job
 * carries JobFlag.Spread: on its pool thread it moves off a CPU where another lane job runs
 * (native/threadpool/cpu_spread.h), which lets a lane of `concurrency` = CPUs keep them all busy.
 *
 * Lifetime: a lane lives as long as its caller holds it. A waiting job is held by the lane and
 * every job in flight keeps the lane alive through its settlement reaction; a job waits only
 * while `concurrency` of the lane's jobs are in flight, so none is left behind. On environment
 * teardown (a worker terminated) waiting jobs are dropped with the lane, unsettled, as the
 * native queue drops its own.
 * @module
 */
import { AbortError, codedError, invalidArgType, invalidArgValue, outOfRange, validateNumber } from '../errors';
import { LogHistogram } from '../histogram/log-histogram';
import type { HistogramSummary } from '../histogram/summary';
import {
  CipherFlag,
  JobFlag,
  JobReporter,
  native,
  NativeBarrier,
  NativeCipher,
  NativeHasher,
  NativeHashManyBatch,
  NativeWorkQueue,
} from '../native';
import { copyOf, wipe } from './inputs';
import { LanePriority, lanePriority, withJobFlag } from './lane-priority';

/** Options of `createLane`. */
export interface LaneOptions {
  /**
   * At most this many of the lane's jobs are in libuv's queue or running at once: an integer
   * >= 1. Below the pool size, the other pool threads stay free for fs, dns.lookup and the rest.
   */
  concurrency: number;
  /**
   * How many jobs may wait in the lane (an integer >= 0, or Infinity). A call made while this
   * many wait rejects at once with `ERR_UVSCOPE_LANE_FULL`. Default: Infinity, as a ThreadPool's
   * own queue: how many waiting jobs are too many depends on the caller's latency budget
   * (about budget / job time x concurrency); set it to shed load under a flood.
   */
  maxQueued?: number;
  /**
   * `'low'`: the lane's jobs run under SCHED_IDLE (Linux), so that fs, dns.lookup and the loop's
   * own thread take a CPU from them the moment they wake when more threads are busy than there
   * are CPUs. Needs the right to return a thread to its policy (RLIMIT_NICE >= 20, `ulimit -e`,
   * or CAP_SYS_NICE: root in most containers); without it createLane() throws
   * `ERR_UVSCOPE_PRIORITY_UNAVAILABLE`. Default `'normal'`.
   */
  priority?: LanePriority;
}

/** A lane's statistics: counts since creation or `resetStats()`, `running`/`queued` now. */
export interface LaneStats {
  concurrency: number;
  maxQueued: number;
  priority: LanePriority;
  /** Pool threads a low-priority job could not return to their priority (a privilege dropped since the lane was made; process-wide). */
  priorityRestoreFailures: number;
  /**
   * Jobs of any lane moved at their start off a CPU where another lane job ran, to one where
   * none did (process-wide, Linux; see docs/thread-pool.md).
   */
  spreadMoves: number;
  /** The lane's jobs in libuv's queue or running on a pool thread (at most `concurrency`). */
  running: number;
  /** Waiting in the lane. */
  queued: number;
  /** Calls the lane accepted (ran at once or waited); not those it refused (`rejected`). */
  submitted: number;
  completed: number;
  /** Rejected with an error other than an abort (a kernel's failure, a dispatch refused). */
  failed: number;
  /** Aborted: removed while waiting, cancelled in libuv's queue or stopped while running. */
  cancelled: number;
  /** Calls refused with `ERR_UVSCOPE_LANE_FULL`. */
  rejected: number;
  /** From the call to the job's hand-over to the pool, ns (0 for jobs that did not wait). */
  laneWait: HistogramSummary;
}

/** What a lane adds to its job methods. */
export interface LaneControl {
  /** The lane's `concurrency`. */
  readonly concurrency: number;
  /** The lane's `maxQueued`. */
  readonly maxQueued: number;
  /** Statistics since creation or the last `resetStats()`. */
  stats(): LaneStats;
  /** Clears the counts and the lane-wait histogram; jobs waiting or in flight still count when they settle. */
  resetStats(): void;
}

/** The ThreadPool methods a lane has: every call that submits pool jobs. */
export type LaneMethod =
  | 'noop'
  | 'spin'
  | 'sleep'
  | 'hash'
  | 'hashMany'
  | 'hmac'
  | 'hashFile'
  | 'createHasher'
  | 'pbkdf2'
  | 'scrypt'
  | 'encrypt'
  | 'decrypt'
  | 'createCipher'
  | 'createDecipher'
  | 'hkdf'
  | 'argon2';

/** Every LaneMethod, once (the record makes the compiler check that none is missing). */
const LANE_METHODS = Object.keys({
  noop: 0,
  spin: 0,
  sleep: 0,
  hash: 0,
  hashMany: 0,
  hmac: 0,
  hashFile: 0,
  createHasher: 0,
  pbkdf2: 0,
  scrypt: 0,
  encrypt: 0,
  decrypt: 0,
  createCipher: 0,
  createDecipher: 0,
  hkdf: 0,
  argon2: 0,
} satisfies Record<LaneMethod, 0>) as LaneMethod[];

const DETACHED = 'must not be a detached buffer';

function nowNs(): number {
  return Number(process.hrtime.bigint());
}

/** A private copy of bytes the native side would have copied during the call. */
function privateCopy(view: ArrayBufferView): Uint8Array {
  return copyOf(view);
}

/** A job waiting in the lane: how to submit it later, and what it keeps until then. */
interface Waiting {
  /** Submits the job to the pool's native queue (with the arguments kept for it). */
  readonly start: (queue: NativeWorkQueue) => Promise<unknown> | undefined;
  /** Nonzero: the job's signal can remove it (ThreadPool's cancel id). */
  readonly cancelId: number;
  readonly calledAtNs: number;
  /** The caller's views the job reads or writes in place, with their argument names: still attached at dispatch? */
  readonly inPlace: readonly (readonly [string, ArrayBufferView])[] | undefined;
  /** Private copies of secrets: wiped once the native side has copied them, or the job leaves. */
  readonly secrets: readonly ArrayBufferView[] | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  prev: Waiting | undefined;
  next: Waiting | undefined;
}

function wipeAll(views: readonly ArrayBufferView[] | undefined): void {
  if (views !== undefined) for (const view of views) wipe(view);
}

/**
 * The native queue of a lane's ThreadPool: each submission goes to the pool's native queue at
 * once while fewer than `concurrency` of the lane's jobs are there, else waits in the lane's
 * FIFO (arguments the native side copies during the call are copied here, now). A slot frees
 * when a job's promise settles; the next waiting job is then submitted before any reaction of
 * the caller to that settlement runs, so a job submitted from such a reaction goes behind
 * those already waiting.
 * @internal
 */
export class LaneQueue implements NativeWorkQueue {
  readonly #pool: NativeWorkQueue;
  readonly concurrency: number;
  readonly maxQueued: number;
  #running = 0;
  #queued = 0;
  #head: Waiting | undefined;
  #tail: Waiting | undefined;
  readonly #waitingById = new Map<number, Waiting>();
  #pumping = false;
  #submitted = 0;
  #completed = 0;
  #failed = 0;
  #cancelled = 0;
  #rejected = 0;
  #laneWait = new LogHistogram();

  readonly priority: LanePriority;

  constructor(pool: NativeWorkQueue, concurrency: number, maxQueued: number, priority: LanePriority = 'normal') {
    this.#pool = withJobFlag(pool, priority === 'low' ? JobFlag.Spread | JobFlag.LowPriority : JobFlag.Spread);
    this.concurrency = concurrency;
    this.maxQueued = maxQueued;
    this.priority = priority;
  }

  // --- submissions, as NativeWorkQueue's (src/native.ts) ------------------------------------

  noop(control: number): Promise<void> {
    if (this.#free()) return this.#now(this.#pool.noop(control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.noop(control));
  }

  spin(ms: number, control: number): Promise<void> {
    if (this.#free()) return this.#now(this.#pool.spin(ms, control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.spin(ms, control));
  }

  sleep(ms: number, control: number): Promise<void> {
    if (this.#free()) return this.#now(this.#pool.sleep(ms, control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.sleep(ms, control));
  }

  hash(algorithm: string, data: ArrayBufferView, outputLength: number, inPlace: boolean, control: number): Promise<Buffer> {
    if (this.#free()) return this.#now(this.#pool.hash(algorithm, data, outputLength, inPlace, control));
    if (this.#full()) return this.#refuse();
    // Copied now, as the native side would have during the call; then read in place from the copy.
    const input = inPlace ? data : privateCopy(data);
    return this.#wait(control, (q) => q.hash(algorithm, input, outputLength, true, control), inPlace ? [['data', data]] : undefined);
  }

  hashMany(batch: NativeHashManyBatch, inputs: ArrayBufferView[], control: number): Promise<void> {
    // The batch copied the inputs not read in place when it was made, during the call.
    if (this.#free()) return this.#now(this.#pool.hashMany(batch, inputs, control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.hashMany(batch, inputs, control));
  }

  hmac(algorithm: string, key: ArrayBufferView, data: ArrayBufferView, inPlace: boolean, control: number): Promise<Buffer> {
    // `key` is already a private copy (ThreadPool.hmac), wiped when the job settles.
    if (this.#free()) return this.#now(this.#pool.hmac(algorithm, key, data, inPlace, control));
    if (this.#full()) return this.#refuse();
    const input = inPlace ? data : privateCopy(data);
    return this.#wait(control, (q) => q.hmac(algorithm, key, input, true, control), inPlace ? [['data', data]] : undefined);
  }

  hashFile(path: Buffer, algorithm: string, outputLength: number, control: number): Promise<Buffer> {
    if (this.#free()) return this.#now(this.#pool.hashFile(path, algorithm, outputLength, control));
    if (this.#full()) return this.#refuse();
    const file = Buffer.from(path); // the caller's Buffer may change; the path is read at the call
    return this.#wait(control, (q) => q.hashFile(file, algorithm, outputLength, control));
  }

  pbkdf2(password: ArrayBufferView, salt: ArrayBufferView, iterations: number, keylen: number, digest: string, control: number): Promise<Buffer> {
    // Password and salt are private copies already (ThreadPool.pbkdf2), the password wiped on settling.
    if (this.#free()) return this.#now(this.#pool.pbkdf2(password, salt, iterations, keylen, digest, control));
    if (this.#full()) return this.#refuse();
    return this.#wait(control, (q) => q.pbkdf2(password, salt, iterations, keylen, digest, control));
  }

  scrypt(password: ArrayBufferView, salt: ArrayBufferView, keylen: number, N: number, r: number, p: number, maxmem: number, control: number): Promise<Buffer> {
    if (this.#free()) return this.#now(this.#pool.scrypt(password, salt, keylen, N, r, p, maxmem, control));
    if (this.#full()) return this.#refuse();
    return this.#wait(control, (q) => q.scrypt(password, salt, keylen, N, r, p, maxmem, control));
  }

  hasherUpdate(hasher: NativeHasher, data: ArrayBufferView, control: number): Promise<void> {
    // Hasher.update hands over a private copy, or the caller's view to read in place.
    if (this.#free()) return this.#now(this.#pool.hasherUpdate(hasher, data, control));
    if (this.#full()) return this.#refuse();
    return this.#wait(control, (q) => q.hasherUpdate(hasher, data, control), [['data', data]]);
  }

  hasherDigest(hasher: NativeHasher, control: number): Promise<Buffer> {
    if (this.#free()) return this.#now(this.#pool.hasherDigest(hasher, control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.hasherDigest(hasher, control));
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
    if (this.#free()) {
      return this.#now(this.#pool.cipher(algorithm, flags, tagLength, key, iv, aad, tag, input, inPlace, output, tagTarget, control));
    }
    if (this.#full()) return this.#refuse();
    // Key, iv, aad and tag: the native side copies them during the call (the key may be bytes
    // the caller's code wipes right after it), so the lane does now.
    const keyCopy = privateCopy(key);
    const ivCopy = privateCopy(iv);
    const aadCopy = privateCopy(aad);
    const tagCopy = privateCopy(tag);
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
    const data = readCaller ? input : privateCopy(input);
    const inputName = flags & CipherFlag.Encrypt ? 'plaintext' : 'ciphertext';
    const views: [string, ArrayBufferView][] = [];
    if (readCaller) views.push([inputName, input]);
    if (output !== undefined) views.push(['options.output', output]);
    return this.#wait(
      control,
      (q) => q.cipher(algorithm, flags, tagLength, keyCopy, ivCopy, aadCopy, tagCopy, data, readCaller ? inPlace : true, output, tagTarget, control),
      views,
      [keyCopy],
    );
  }

  cipherUpdate(cipher: NativeCipher, aad: ArrayBufferView, input: ArrayBufferView, inPlace: boolean, output: ArrayBufferView | undefined, control: number): Promise<Buffer | number> {
    // PoolCipher.update hands over private copies (aad, and the input when one is due).
    if (this.#free()) return this.#now(this.#pool.cipherUpdate(cipher, aad, input, inPlace, output, control));
    if (this.#full()) return this.#refuse();
    const views: [string, ArrayBufferView][] = [['data', input]];
    if (output !== undefined) views.push(['options.output', output]);
    return this.#wait(control, (q) => q.cipherUpdate(cipher, aad, input, inPlace, output, control), views);
  }

  cipherFinal(cipher: NativeCipher, aad: ArrayBufferView, tag: ArrayBufferView, control: number): Promise<[Buffer, Buffer | undefined]> {
    // aad and tag are PoolCipher's private copies.
    if (this.#free()) return this.#now(this.#pool.cipherFinal(cipher, aad, tag, control));
    return this.#full() ? this.#refuse() : this.#wait(control, (q) => q.cipherFinal(cipher, aad, tag, control));
  }

  hkdf(digest: string, key: ArrayBufferView, salt: ArrayBufferView, info: ArrayBufferView, keylen: number, control: number): Promise<Buffer> {
    if (this.#free()) return this.#now(this.#pool.hkdf(digest, key, salt, info, keylen, control));
    if (this.#full()) return this.#refuse();
    const keyCopy = privateCopy(key);
    const saltCopy = privateCopy(salt);
    const infoCopy = privateCopy(info);
    return this.#wait(control, (q) => q.hkdf(digest, keyCopy, saltCopy, infoCopy, keylen, control), undefined, [keyCopy]);
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
    if (this.#free()) {
      return this.#now(this.#pool.argon2(kdf, message, nonce, secret, associatedData, parallelism, tagLength, memory, passes, control));
    }
    if (this.#full()) return this.#refuse();
    const m = privateCopy(message);
    const n = privateCopy(nonce);
    const s = privateCopy(secret);
    const ad = privateCopy(associatedData);
    return this.#wait(control, (q) => q.argon2(kdf, m, n, s, ad, parallelism, tagLength, memory, passes, control), undefined, [m, s]);
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
    const job = this.#waitingById.get(cancelId);
    if (job === undefined) return this.#pool.cancel(cancelId, reason);
    this.#remove(job);
    this.#cancelled++;
    wipeAll(job.secrets);
    job.reject(reason ?? new AbortError());
    return true;
  }

  // The pool's own statistics (a lane's are laneStats()); the reporter is the pool's.
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

  // --- the lane ------------------------------------------------------------------------------

  laneStats(): LaneStats {
    return {
      concurrency: this.concurrency,
      maxQueued: this.maxQueued,
      priority: this.priority,
      priorityRestoreFailures: this.priority === 'low' ? native.priorityRestoreFailures() : 0,
      spreadMoves: native.spreadMoves(),
      running: this.#running,
      queued: this.#queued,
      submitted: this.#submitted,
      completed: this.#completed,
      failed: this.#failed,
      cancelled: this.#cancelled,
      rejected: this.#rejected,
      laneWait: this.#laneWait.summary(),
    };
  }

  resetLaneStats(): void {
    this.#submitted = 0;
    this.#completed = 0;
    this.#failed = 0;
    this.#cancelled = 0;
    this.#rejected = 0;
    this.#laneWait = new LogHistogram();
  }

  /** A job may go to the pool now: a slot is free and nobody waits ahead of it. */
  #free(): boolean {
    return this.#running < this.concurrency && this.#head === undefined;
  }

  #full(): boolean {
    return this.#queued >= this.maxQueued;
  }

  #refuse(): Promise<never> {
    this.#rejected++;
    return Promise.reject(
      codedError(
        `Lane is full: ${this.#running} jobs in the pool (concurrency ${this.concurrency}) and ${this.#queued} waiting (maxQueued ${this.maxQueued})`,
        'ERR_UVSCOPE_LANE_FULL',
        { concurrency: this.concurrency, maxQueued: this.maxQueued },
      ),
    );
  }

  /** Counts a job handed to the pool during the call; the caller gets a promise settled after the lane's accounting. */
  #now<T>(promise: Promise<T> | undefined): Promise<T> {
    this.#submitted++;
    if (promise === undefined) {
      this.#failed++;
      return Promise.reject(poolFull());
    }
    this.#running++;
    this.#laneWait.record(0);
    return promise.then(this.#onCompleted, this.#onRejected) as Promise<T>;
  }

  readonly #onCompleted = <T>(value: T): T => {
    this.#completed++;
    this.#release();
    return value;
  };

  readonly #onRejected = (error: unknown): never => {
    this.#countRejection(error);
    this.#release();
    throw error;
  };

  #countRejection(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === 'ABORT_ERR') this.#cancelled++;
    else this.#failed++;
  }

  /** A job of the lane settled: its slot goes to the next waiting job. */
  #release(): void {
    this.#running--;
    this.#pump();
  }

  #wait<T>(
    control: number,
    start: (queue: NativeWorkQueue) => Promise<T> | undefined,
    inPlace?: readonly (readonly [string, ArrayBufferView])[],
    secrets?: readonly ArrayBufferView[],
  ): Promise<T> {
    const job: Waiting = {
      start,
      cancelId: Math.floor(control / JobFlag.Span),
      calledAtNs: nowNs(),
      inPlace,
      secrets,
      resolve: undefined as unknown as Waiting['resolve'],
      reject: undefined as unknown as Waiting['reject'],
      prev: this.#tail,
      next: undefined,
    };
    const promise = new Promise<T>((resolve, reject) => {
      job.resolve = resolve as Waiting['resolve'];
      job.reject = reject;
    });
    if (this.#tail === undefined) this.#head = job;
    else this.#tail.next = job;
    this.#tail = job;
    this.#queued++;
    this.#submitted++;
    if (job.cancelId !== 0) this.#waitingById.set(job.cancelId, job);
    return promise;
  }

  #remove(job: Waiting): void {
    if (job.prev === undefined) this.#head = job.next;
    else job.prev.next = job.next;
    if (job.next === undefined) this.#tail = job.prev;
    else job.next.prev = job.prev;
    job.prev = job.next = undefined;
    this.#queued--;
    if (job.cancelId !== 0) this.#waitingById.delete(job.cancelId);
  }

  /** Hands waiting jobs to the pool, in order, while the lane has room. */
  #pump(): void {
    // Dispatching calls no user code (settlements are promise reactions, later), but a guard
    // keeps one pump at a time should that ever change.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running < this.concurrency && this.#head !== undefined) {
        const job = this.#head;
        this.#remove(job);
        this.#dispatch(job);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #dispatch(job: Waiting): void {
    let promise: Promise<unknown> | undefined;
    try {
      if (job.inPlace !== undefined) {
        for (const [name, view] of job.inPlace) {
          // Detached while it waited (transferred, or ArrayBuffer.prototype.transfer()).
          if (native.isDetached(view)) throw invalidArgValue(name, DETACHED, view);
        }
      }
      promise = job.start(this.#pool);
      if (promise === undefined) throw poolFull();
    } catch (error) {
      this.#failed++;
      job.reject(error);
      return;
    } finally {
      wipeAll(job.secrets); // the native side copied them during start(), or never will
    }
    this.#running++;
    this.#laneWait.record(nowNs() - job.calledAtNs);
    promise.then(
      (value) => {
        this.#completed++;
        this.#release();
        job.resolve(value);
      },
      (error: unknown) => {
        this.#countRejection(error);
        this.#release();
        job.reject(error);
      },
    );
  }
}

/** The pool under the lane refused the job: its own bound (a ThreadPool's maxQueue) is full. */
function poolFull(): Error {
  return codedError("The pool under this lane refused the job: its own queue (the ThreadPool's maxQueue) is full", 'ERR_UVSCOPE_QUEUE_FULL');
}

/** Checked lane options. */
function laneOptions(options: unknown): { concurrency: number; maxQueued: number; priority: LanePriority } {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const { concurrency, maxQueued = Infinity, priority } = options as Record<string, unknown>;
  validateNumber('options.concurrency', concurrency, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (typeof maxQueued !== 'number') throw invalidArgType('options.maxQueued', 'of type number', maxQueued);
  if (maxQueued !== Infinity && !(Number.isInteger(maxQueued) && maxQueued >= 0)) {
    throw outOfRange('options.maxQueued', 'an integer >= 0, or Infinity', maxQueued);
  }
  return { concurrency, maxQueued, priority: lanePriority(priority) };
}

/** A lane: the caller-facing object; its job methods (LANE_METHODS) are own properties. */
class Lane implements LaneControl {
  readonly #queue: LaneQueue;

  constructor(queue: LaneQueue) {
    this.#queue = queue;
  }

  get concurrency(): number {
    return this.#queue.concurrency;
  }

  get maxQueued(): number {
    return this.#queue.maxQueued;
  }

  stats(): LaneStats {
    return this.#queue.laneStats();
  }

  resetStats(): void {
    this.#queue.resetLaneStats();
  }
}

/**
 * A lane over the native queue `pool`: `makePool` builds the ThreadPool whose calls the lane
 * offers, over the lane's queue (with `maxConcurrency` for hashMany's default job count).
 * @internal Called by ThreadPool.createLane (threadpool.ts).
 */
export function createLaneOn<P extends { [K in LaneMethod]: (...args: never[]) => unknown }>(
  pool: NativeWorkQueue,
  options: LaneOptions,
  makePool: (queue: NativeWorkQueue, maxConcurrency: number) => P,
): Pick<P, LaneMethod> & LaneControl {
  const { concurrency, maxQueued, priority } = laneOptions(options);
  const queue = new LaneQueue(pool, concurrency, maxQueued, priority);
  const calls = makePool(queue, Math.min(concurrency, 1024));
  const lane = new Lane(queue);
  for (const name of LANE_METHODS) {
    Object.defineProperty(lane, name, { value: calls[name].bind(calls), enumerable: true });
  }
  return lane as unknown as Pick<P, LaneMethod> & LaneControl;
}
