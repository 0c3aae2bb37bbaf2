/**
 * The one place that loads the native addon (through node-gyp-build: build/Release first,
 * then prebuilds/), and the typed shape of what it exports. Everything else imports `native`
 * from here. `UVSCOPE_ADDON` may name a .node file to load instead (sanitizer builds).
 * @internal
 * @module
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/** Phase codes written by native/loop/phase.h. */
export const enum PhaseCode {
  Unknown = 0,
  Timers = 1,
  Pending = 2,
  Idle = 3,
  Prepare = 4,
  Poll = 5,
  Check = 6,
  Close = 7,
  /** Not a phase: an iteration above the threshold just ended. */
  LongIteration = 8,
  /** Not a libuv phase: the main script (or a worker's) before the loop first turned. */
  Startup = 9,
}

export interface NativeLoopObserver {
  start(): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  reset(): void;
  configure(idle: boolean, markers: boolean, eventMask: number): void;
  /**
   * Phase events: emit(phase, timeNs, iteration). Long iterations: emit(LongIteration,
   * endedAtNs, iteration, durationNs, pollWaitNs, pollWorkNs, outsidePollNs).
   */
  setEmitter(emit: (phase: PhaseCode, timeNs: bigint, iteration: number, ...longIteration: number[]) => void): void;
  snapshot(numbers: Float64Array, times: BigUint64Array): void;
  /**
   * Bucket read-out of histogram `which` (0 iteration, 1 pollWait, 2 pollWork, 3 outsidePoll):
   * count, sum (ns), then (bucket index, count) of each non-empty bucket. Returns the numbers written.
   */
  buckets(which: number, out: Float64Array): number;
  /** Columns of every buffered trace event (at most `maxEntries`, the oldest), oldest first; removed from the buffer. */
  drainTrace(maxEntries?: number): [timesNs: BigUint64Array, iterations: Float64Array, phases: Uint8Array, pollWaitsNs: Float64Array];
  currentPhase(): PhaseCode;
  traceDropped(): number;
  traceBuffered(): number;
  /** Forgets all but the newest `keep` buffered trace events, O(1); not counted as dropped. */
  trimTrace(keep: number): void;
  /**
   * The trace-mode window since the previous call (see native/loop/observer.h TakeWindow):
   * numbers get `windowFields` values, times the window's first and last marker.
   */
  takeWindow(numbers: Float64Array, times: BigUint64Array): void;
  /** The core's clock (native/loop/loop_clock.h): its source and resyncs. */
  clockInfo(): [source: 'tsc' | 'hrtime', resyncs: number];
}

export interface NativeLoopObserverConstructor {
  new (traceCapacity: number, blockThresholdNs: number): NativeLoopObserver;
  readonly snapshotFields: number;
  readonly timeFields: number;
  /** Numbers a full bucket read-out can take (see src/histogram/native-buckets.ts). */
  readonly bucketReadoutSize: number;
  /** Numbers `takeWindow` writes. */
  readonly windowFields: number;
}

/** Kernel ids of native/threadpool/kernels/kernel.h, in order. */
export const KERNEL_NAMES = [
  'noop',
  'hash',
  'hashMany',
  'hmac',
  'hashFile',
  'hasherUpdate',
  'hasherDigest',
  'pbkdf2',
  'scrypt',
  'spin',
  'sleep',
  'probe',
  'encrypt',
  'decrypt',
  'cipherUpdate',
  'cipherFinal',
  'hkdf',
  'argon2',
] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** Job flags of native/threadpool/work_queue.h. */
export const enum JobFlag {
  Report = 1,
  ExcludeStats = 2,
  ResolveQueueWait = 4,
  LowPriority = 8,
  Spread = 16,
  /** `control` = cancelId * Span + flags. */
  Span = 32,
}

/** Cipher setup flags of native/threadpool/arguments.h. */
export const enum CipherFlag {
  Encrypt = 1,
  Aead = 2,
  Padding = 4,
}

/**
 * The codes compiled in above, as the addon's `constants` must give them: checked once at load,
 * so that an addon and a lib/ from different builds fail at once with a clear error instead
 * of mislabelling phases and kernels.
 */
const SHARED_CONSTANTS = {
  phases: {
    unknown: PhaseCode.Unknown,
    timers: PhaseCode.Timers,
    pending: PhaseCode.Pending,
    idle: PhaseCode.Idle,
    prepare: PhaseCode.Prepare,
    poll: PhaseCode.Poll,
    check: PhaseCode.Check,
    close: PhaseCode.Close,
    longIteration: PhaseCode.LongIteration,
    startup: PhaseCode.Startup,
  },
  kernels: [...KERNEL_NAMES],
  jobFlags: { report: JobFlag.Report, excludeStats: JobFlag.ExcludeStats, resolveQueueWait: JobFlag.ResolveQueueWait, lowPriority: JobFlag.LowPriority, spread: JobFlag.Spread, span: JobFlag.Span },
  cipherFlags: { encrypt: CipherFlag.Encrypt, aead: CipherFlag.Aead, padding: CipherFlag.Padding },
};

type Bytes = ArrayBufferView;
/**
 * Each submission takes `control` = cancelId * JobFlag.Span + JobFlag bits as its last argument, and returns
 * its promise, or undefined when the queue's own bound is full.
 */
type Submitted<T> = Promise<T> | undefined;

export interface NativeWorkQueue {
  noop(control: number): Submitted<void>;
  spin(ms: number, control: number): Submitted<void>;
  sleep(ms: number, control: number): Submitted<void>;
  // `inPlace`: read `data` where it is (keeping the view referenced) instead of from a native
  // copy taken during the call (see threadpool/inputs.ts, readInPlace).
  hash(algorithm: string, data: Bytes, outputLength: number, inPlace: boolean, control: number): Submitted<Buffer>;
  hashMany(batch: NativeHashManyBatch, inputs: Bytes[], control: number): Submitted<void>;
  hmac(algorithm: string, key: Bytes, data: Bytes, inPlace: boolean, control: number): Submitted<Buffer>;
  hashFile(path: Buffer, algorithm: string, outputLength: number, control: number): Submitted<Buffer>;
  pbkdf2(password: Bytes, salt: Bytes, iterations: number, keylen: number, digest: string, control: number): Submitted<Buffer>;
  scrypt(password: Bytes, salt: Bytes, keylen: number, N: number, r: number, p: number, maxmem: number, control: number): Submitted<Buffer>;
  hasherUpdate(hasher: NativeHasher, data: Bytes, control: number): Submitted<void>;
  hasherDigest(hasher: NativeHasher, control: number): Submitted<Buffer>;
  /**
   * One-shot encryption or decryption: resolves with the output (allocated on the pool thread)
   * or, given `output`, the number of bytes written into it. An AEAD encryption's tag is copied
   * into `tagTarget` as the job settles.
   */
  cipher(
    algorithm: string,
    flags: number,
    tagLength: number,
    key: Bytes,
    iv: Bytes,
    aad: Bytes,
    tag: Bytes,
    input: Bytes,
    inPlace: boolean,
    output: Bytes | undefined,
    tagTarget: Uint8Array | undefined,
    control: number,
  ): Submitted<Buffer | number>;
  /** A streaming step: resolves with its output or, given `output`, the number of bytes written into it. */
  cipherUpdate(cipher: NativeCipher, aad: Bytes, input: Bytes, inPlace: boolean, output: Bytes | undefined, control: number): Submitted<Buffer | number>;
  /** [the last bytes, the tag of an AEAD encryption] */
  cipherFinal(cipher: NativeCipher, aad: Bytes, tag: Bytes, control: number): Submitted<[Buffer, Buffer | undefined]>;
  hkdf(digest: string, key: Bytes, salt: Bytes, info: Bytes, keylen: number, control: number): Submitted<Buffer>;
  argon2(
    kdf: string,
    message: Bytes,
    nonce: Bytes,
    secret: Bytes,
    associatedData: Bytes,
    parallelism: number,
    tagLength: number,
    memory: number,
    passes: number,
    control: number,
  ): Submitted<Buffer>;
  probe(control: number): Submitted<number>;
  hold(barrier: NativeBarrier, control: number): Submitted<void>;
  cancel(cancelId: number, reason: unknown): boolean;
  stats(out: Float64Array): void;
  resetStats(): void;
  /** Bucket read-out of a kernel's queueWait (which 0), run (1) or returnDelay (2) histogram, as NativeLoopObserver.buckets. */
  buckets(kernel: number, which: number, out: Float64Array): number;
  setReporter(report: JobReporter): void;
}

/** What a queue calls as each reported job settles (kernel id, outcome 0 completed 1 failed 2 cancelled, monotonic ns, pool thread, bytes, the job's cancel id or 0). */
export type JobReporter = (
  kernel: number,
  outcome: 0 | 1 | 2,
  queuedAt: bigint,
  startedAt: bigint,
  finishedAt: bigint,
  settledAt: bigint,
  thread: number,
  bytes: number,
  cancelId: number,
) => void;

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeHasher {}
/** A streaming cipher's OpenSSL context (native/threadpool/wrappers.h, CipherWrap). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface NativeCipher {}
/** One hashMany() call's inputs and digests; its jobs take the inputs in turn. */
export interface NativeHashManyBatch {
  /** The digests in input order: only once every job of the call has resolved. */
  digests(): Buffer[];
}

export interface NativeBarrier {
  arrived(): number;
  release(): void;
}

export interface NativeStallWatchdog {
  start(): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  /** [stalls, longestNs, totalNs, reports] */
  /** stalls, longestNs, totalNs, reports, reportsWritten, reportsDropped */
  stats(): [number, number, number, number, number, number];
}

export interface NativeLiveReportSubscription {
  close(): void;
  /** Lines this subscriber lost because its queue was full (its loop did not keep up). */
  dropped(): number;
}

export interface NativeAddon {
  /** libuv's clock (CLOCK_MONOTONIC), ns. */
  nowNs(): bigint;
  /** libuv version the running Node uses. */
  uvVersion: string;
  NativeLoopObserver: NativeLoopObserverConstructor;
  NativeWorkQueue: {
    new (maxConcurrency: number, maxQueue: number): NativeWorkQueue;
    readonly kernelFields: number;
    readonly queueFields: number;
    readonly kernelCount: number;
  };
  NativeHasher: new (algorithm: string, outputLength: number) => NativeHasher;
  NativeHashManyBatch: new (algorithm: string, inputs: Bytes[], outputLength: number, inPlace: boolean[]) => NativeHashManyBatch;
  /** `target`: release once that many arrived (0: never); `maxHoldMs`: each holds at most that long (0: no limit). */
  NativeBarrier: new (target?: number, maxHoldMs?: number) => NativeBarrier;
  /** Kernel thread ids of the pool threads that ran a uvscope job (probes included), in order. */
  poolThreadIds(): Int32Array;
  /** '' when a thread of this process may be moved to SCHED_IDLE and returned (probed on a thread of its own), else why not. */
  priorityProbe(): string;
  /** Pool threads a low-priority job left low (their return refused: a privilege dropped since the probe). */
  priorityRestoreFailures(): number;
  /** Lane jobs moved at their start off a CPU that ran another lane job (native/threadpool/cpu_spread.h). */
  spreadMoves(): number;
  /** Per tid [cpuNs, runQueueWaitNs, timeslices] into `out` (NaN: unreadable); false where the platform has no schedstat. */
  readThreadTimes(tids: Int32Array, out: Float64Array): boolean;
  NativeCipher: new (algorithm: string, flags: number, tagLength: number, key: Bytes, iv: Bytes) => NativeCipher;
  /** [OpenSSL mode, key length, iv length, block size, AEAD, OpenSSL's name], or undefined when OpenSSL cannot run it. */
  cipherInfo(name: string): [number, number, number, number, boolean, string] | undefined;
  /** Whether the running OpenSSL has this EVP_KDF (ARGON2ID: OpenSSL 3.2 and later). */
  kdfAvailable(name: string): boolean;
  /** [output size in bytes, is an XOF, OpenSSL's name] or undefined for a digest OpenSSL does not know. */
  digestInfo(name: string): [number, boolean, string] | undefined;
  /** The codes shared with this file (checkConstants). */
  readonly constants: unknown;
  scryptParamsValid(N: number, r: number, p: number, maxmem: number): boolean;
  isDetached(view: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): boolean;
  /**
   * From now on the calling thread's loop waits for I/O with SIGPROF blocked (libuv's
   * UV_LOOP_BLOCK_SIGNAL): V8's CPU sampler no longer cuts the wait short, which libuv's idle
   * time would lose. For the loop's lifetime. 0, or a libuv error code.
   */
  blockProfilerSignalInPoll(): number;
  /** Cancels queued pool jobs, asks running ones to stop, joins watchdog threads: for process 'exit'. */
  abortForExit(): void;
  /**
   * Native objects alive in this process: observer cores not yet freed (each is freed in its
   * last handle's close callback), job allocations (in flight or recycled) and work queues
   * (one per ThreadPool). For leak tests.
   */
  liveObjects(): {
    observerCores: number;
    jobs: number;
    workQueues: number;
    watchdogs: number;
    watchdogThreads: number;
  };
  NativeStallWatchdog: new (
    thresholdNs: number,
    repeatNs: number,
    stacks: boolean,
    fd: number,
    maxFrames: number,
    threadId: number,
    stackProvider: unknown,
    stackUnavailable: string,
    emit: (stallJson: string) => void,
    /** Ask the stack addon for the async context too: the request, the user's fields. */
    attribution: boolean,
  ) => NativeStallWatchdog;
  /** This thread's request table (native/loop/request_table.h): the arrays it reads (layout: src/loop/request-slots.ts). */
  setRequestSlots(meta: Float64Array, text: Uint8Array, textStride: number, timeOffsetNs: number): void;
  NativeLiveReportSubscription: new (onLine: (reportJson: string) => void) => NativeLiveReportSubscription;
}

function load(): NativeAddon {
  const override = process.env.UVSCOPE_ADDON;
  // node-gyp-build only when no override names the addon (a sanitizer build's copy may have none).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = (override ? require(path.resolve(override)) : require('node-gyp-build')(path.join(__dirname, '..'))) as NativeAddon;
  checkConstants(addon.constants);
  return addon;
}

/** Throws ERR_UVSCOPE_ADDON_MISMATCH unless the addon's shared codes are the ones compiled in here. */
export function checkConstants(constants: unknown): void {
  // Through JSON: in another realm (jest's), the addon's objects have another Object.prototype.
  if (isDeepStrictEqual(JSON.parse(JSON.stringify(constants ?? null)), SHARED_CONSTANTS)) return;
  const error = new Error(
    `uvscope: the native addon does not match this lib/ (another build's?): its constants are ${JSON.stringify(constants)}, ` +
      `expected ${JSON.stringify(SHARED_CONSTANTS)}; rebuild with npm run build:native && npm run build`,
  );
  throw Object.assign(error, { code: 'ERR_UVSCOPE_ADDON_MISMATCH' });
}

export const native: NativeAddon = load();

// process.exit() skips environment teardown: libuv's shutdown waits for every queued pool job,
// and watchdog threads would outlive the loop they read. Cancel uvscope's queued jobs, stop its
// running ones and join its watchdog threads first. (Natural exit and worker termination go
// through the async cleanup hook instead.)
process.on('exit', () => native.abortForExit());
