/**
 * Lanes: admission control for uvscope's jobs. A lane lets at most `concurrency` of its jobs
 * into libuv's queue (waiting there or running on a pool thread) at once; the others wait in
 * the lane, in a JavaScript FIFO, so fs, dns.lookup, zlib and node:crypto requests made
 * meanwhile never queue behind them in libuv's single FIFO. Beyond `maxQueued` waiting jobs a
 * call rejects at once with `ERR_UVSCOPE_LANE_FULL`.
 *
 * A lane's calls are a ThreadPool's own (threadpool.ts: the same validation, copies, wipes,
 * abort wiring and errors, at the call): that ThreadPool's native queue is a {@link LaneQueue}
 * (lane-queue.ts), which hands a job to the native queue of the pool under the lane at once
 * while the lane has room, and otherwise keeps it until a slot frees. lane-admission.ts owns
 * that FIFO and the lane's counters and lane-wait histogram; lane-queue.ts what a waiting job
 * keeps of its arguments (private copies of what the native side would have copied during the
 * call, wiped once it has its own); this file the lane's options and the caller-facing lane
 * (`createLaneOn`). Every lane job carries JobFlag.Spread (job-flags.ts): on its pool thread it
 * moves off a CPU where another lane job runs (native/threadpool/cpu_spread.h), which lets a
 * lane of `concurrency` = CPUs keep them all busy.
 *
 * Lifetime: a lane lives as long as its caller holds it. A waiting job is held by the lane and
 * every job in flight keeps the lane alive through its settlement reaction; a job waits only
 * while `concurrency` of the lane's jobs are in flight, so none is left behind. On environment
 * teardown (a worker terminated) waiting jobs are dropped with the lane, unsettled, as the
 * native queue drops its own.
 * @module
 */
import { invalidArgType, outOfRange, validateNumber } from '../errors';
import type { NativeWorkQueue } from '../native';
import { LaneAdmission, LaneStats } from './lane-admission';
import { LanePriority, lanePriority } from './lane-priority';
import { LaneQueue } from './lane-queue';

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
  readonly #admission: LaneAdmission;

  constructor(admission: LaneAdmission) {
    this.#admission = admission;
  }

  get concurrency(): number {
    return this.#admission.concurrency;
  }

  get maxQueued(): number {
    return this.#admission.maxQueued;
  }

  stats(): LaneStats {
    return this.#admission.stats();
  }

  resetStats(): void {
    this.#admission.resetStats();
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
  const admission = new LaneAdmission(pool, concurrency, maxQueued, priority);
  const calls = makePool(new LaneQueue(admission), Math.min(concurrency, 1024));
  const lane = new Lane(admission);
  for (const name of LANE_METHODS) {
    Object.defineProperty(lane, name, { value: calls[name].bind(calls), enumerable: true });
  }
  return lane as unknown as Pick<P, LaneMethod> & LaneControl;
}
