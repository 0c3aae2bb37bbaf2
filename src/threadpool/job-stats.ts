/**
 * A pool's job statistics as `ThreadPool.stats()` gives them: the array the native queue fills
 * (`NativeWorkQueue.stats()`: the queue's own fields, then a block of job fields for every job and
 * one per kernel) read into {@link ThreadPoolStats} and {@link JobStats}, and the names of a
 * job's outcomes in the order the native side numbers them (`OUTCOMES`, used by the job records
 * and the exporters). Lifetime: stateless; each ThreadPool keeps one array (`newStatsArray()`)
 * for its life and refills it at each `stats()`.
 * @module
 */
import { HistogramSummary, readSummary, SUMMARY_FIELDS } from '../histogram/summary';
import { KERNEL_NAMES, KernelName, native } from '../native';

/** Counts and timing distributions of jobs (ns). */
export interface JobStats {
  submitted: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Input bytes processed. */
  bytes: number;
  /** Submission until a pool thread started the job. */
  queueWait: HistogramSummary;
  /** Start to finish on the pool thread. */
  run: HistogramSummary;
  /** Finished on the pool thread until the promise was settled on the loop. */
  returnDelay: HistogramSummary;
}

/** A snapshot of a pool's statistics since creation or `resetStats()`. */
export interface ThreadPoolStats extends JobStats {
  /** Submitted and not yet settled. */
  inFlight: number;
  /** Waiting: in uvscope's own FIFO or in libuv's queue. */
  queued: number;
  /** Running on pool threads right now. */
  running: number;
  /** Most jobs of this pool seen running at once. */
  maxConcurrencySeen: number;
  /** Window length, ns. */
  windowNs: number;
  /** Input bytes per second of window. */
  bytesPerSecond: number;
  /** Per kernel, for the kernels used in the window. */
  kernels: Partial<Record<KernelName, JobStats>>;
}

/** @internal Outcomes of a pool job, in the order the native statistics number them (0, 1, 2). */
export const OUTCOMES = ['completed', 'failed', 'cancelled'] as const;

/** An array for `NativeWorkQueue.stats()` to fill: the queue's fields, then the jobs' and each kernel's. */
export function newStatsArray(): Float64Array {
  return new Float64Array(
    native.NativeWorkQueue.queueFields + (1 + native.NativeWorkQueue.kernelCount) * native.NativeWorkQueue.kernelFields,
  );
}

function readJobStats(numbers: Float64Array, at: number): JobStats {
  return {
    submitted: numbers[at],
    completed: numbers[at + 1],
    failed: numbers[at + 2],
    cancelled: numbers[at + 3],
    bytes: numbers[at + 4],
    queueWait: readSummary(numbers, at + 5),
    run: readSummary(numbers, at + 5 + SUMMARY_FIELDS),
    returnDelay: readSummary(numbers, at + 5 + 2 * SUMMARY_FIELDS),
  };
}

/** The statistics in `numbers`, as `NativeWorkQueue.stats()` filled it. */
export function readPoolStats(numbers: Float64Array): ThreadPoolStats {
  const queueFields = native.NativeWorkQueue.queueFields;
  const kernelFields = native.NativeWorkQueue.kernelFields;
  const windowNs = numbers[4];
  const overall = readJobStats(numbers, queueFields);
  const kernels: Partial<Record<KernelName, JobStats>> = {};
  KERNEL_NAMES.forEach((name, i) => {
    const at = queueFields + (1 + i) * kernelFields;
    if (numbers[at] > 0) kernels[name] = readJobStats(numbers, at);
  });
  return {
    ...overall,
    inFlight: numbers[0],
    queued: numbers[1],
    running: numbers[2],
    maxConcurrencySeen: numbers[3],
    windowNs,
    bytesPerSecond: windowNs > 0 ? (overall.bytes * 1e9) / windowNs : 0,
    kernels,
  };
}
