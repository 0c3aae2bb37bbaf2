/**
 * A lane's admission: the core every lane call goes through (lane-queue.ts hands it each
 * submission). It lets at most `concurrency` of the lane's jobs into the pool under the lane at
 * once and keeps the others in its FIFO (at most `maxQueued`; beyond, a call is refused with
 * `ERR_UVSCOPE_LANE_FULL`), hands them over in order as slots free, checks at hand-over that the
 * caller's views a waiting job reads or writes in place are still attached, wipes a waiting job's
 * private copies of secrets once the native side has copied them (or the job leaves), removes a
 * waiting job whose signal aborts, and keeps the lane's counters and lane-wait histogram. Every
 * job of the lane carries JobFlag.Spread (and JobFlag.LowPriority for a `'low'` lane): its
 * `pool`, the pool under the lane, adds them (job-flags.ts).
 *
 * Lifetime: the lane's; it holds its waiting jobs (see lane.ts for why none is left behind).
 * @module
 */
import { AbortError, codedError, invalidArgValue } from '../errors';
import { LogHistogram } from '../histogram/log-histogram';
import type { HistogramSummary } from '../histogram/summary';
import { JobFlag, native, NativeWorkQueue } from '../native';
import { wipe } from './inputs';
import { withJobFlag } from './job-flags';
import type { LanePriority } from './lane-priority';

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

const DETACHED = 'must not be a detached buffer';

function nowNs(): number {
  return Number(process.hrtime.bigint());
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
 * The admission of a lane's jobs. A job goes to the pool at once when `free()` (then `now()`
 * counts it), is refused when `full()` (`refuse()`), and otherwise waits (`wait()`). A slot frees
 * when a job's promise settles; the next waiting job is then submitted before any reaction of
 * the caller to that settlement runs, so a job submitted from such a reaction goes behind
 * those already waiting.
 * @internal
 */
export class LaneAdmission {
  /** The pool under the lane, every submission flagged as a lane job's (job-flags.ts). */
  readonly pool: NativeWorkQueue;
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
    this.pool = withJobFlag(pool, priority === 'low' ? JobFlag.Spread | JobFlag.LowPriority : JobFlag.Spread);
    this.concurrency = concurrency;
    this.maxQueued = maxQueued;
    this.priority = priority;
  }

  /** A waiting job with this id leaves the lane and rejects with `reason`; false if no job waits with it. */
  cancel(cancelId: number, reason: unknown): boolean {
    const job = this.#waitingById.get(cancelId);
    if (job === undefined) return false;
    this.#remove(job);
    this.#cancelled++;
    wipeAll(job.secrets);
    job.reject(reason ?? new AbortError());
    return true;
  }

  // --- the lane's statistics -----------------------------------------------------------------

  stats(): LaneStats {
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

  resetStats(): void {
    this.#submitted = 0;
    this.#completed = 0;
    this.#failed = 0;
    this.#cancelled = 0;
    this.#rejected = 0;
    this.#laneWait = new LogHistogram();
  }

  // --- admission -----------------------------------------------------------------------------

  /** A job may go to the pool now: a slot is free and nobody waits ahead of it. */
  free(): boolean {
    return this.#running < this.concurrency && this.#head === undefined;
  }

  full(): boolean {
    return this.#queued >= this.maxQueued;
  }

  refuse(): Promise<never> {
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
  now<T>(promise: Promise<T> | undefined): Promise<T> {
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

  wait<T>(
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
      promise = job.start(this.pool);
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
