/**
 * Every diagnostics_channel uvscope publishes on, by name, with the payload each carries: the one
 * place a subscriber (or a module of uvscope's own) looks them up. Names and types only: the
 * publishers (loop/, threadpool/, requests/) create their channel objects themselves. Addon-free.
 * The public entry points re-export the names from where they always did.
 */

import type { KernelName } from './native';

// --- The thread pool: uvscope's own jobs (threadpool/). ---

/** What diagnostics_channel `uvscope:threadpool:job` publishes for every settled job. */
export interface JobRecord {
  kernel: KernelName;
  outcome: 'completed' | 'failed' | 'cancelled';
  /** Monotonic ns (process.hrtime.bigint() clock). startedAt/finishedAt are 0n for a job cancelled before it ran. */
  queuedAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  settledAt: bigint;
  queueWaitNs: number;
  runNs: number;
  returnDelayNs: number;
  /** Index of the pool thread that ran it (process-wide, in order of first use), -1 if it never ran. */
  thread: number;
  bytes: number;
  /** The HTTP request it was submitted for: see {@link PoolRequestRecord.httpRequestId}. */
  httpRequestId?: number;
}

/** The diagnostics_channel every settled job is published on (only while subscribed). */
export const JOB_CHANNEL = 'uvscope:threadpool:job';
/** @internal Published (no message) for each job submitted with reporting on: the request monitor counts it in flight. */
export const JOB_SUBMIT_CHANNEL = 'uvscope:threadpool:job-submit';

/** What {@link SATURATION_CHANNEL} publishes for each saturation sample: the probe job's queue wait. */
export interface SaturationEvent {
  queueWaitNs: number;
}

/** The diagnostics_channel each saturation sample is published on: `{ queueWaitNs }` (typed as `SaturationEvent`). */
export const SATURATION_CHANNEL = 'uvscope:threadpool:saturation';

// --- Node's own pool requests (requests/). ---

/** One settled pool request, as published on {@link POOL_REQUEST_CHANNEL}. */
export interface PoolRequestRecord {
  /** `fs.stat`, `fs` (operation unknown), `dns.lookup`, `crypto.pbkdf2`, `zlib`, `uvscope.sha256`... */
  kind: string;
  outcome: 'completed' | 'failed' | 'cancelled';
  /** When it was submitted, on uvscope's clock (`nowNs()`, process.hrtime.bigint()), ns. */
  submittedAtNs: number;
  /** Submitted to the start of its callback, ns: queue wait, run time and the return to the loop. */
  latencyNs: number;
  /**
   * The HTTP request the code that submitted it ran for ({@link HttpRequestRecord.id}), present
   * only while uvscope's request tracker runs (a trace, or a stall watchdog with `requests`) and
   * it knew the request: on Node 24 and later wherever the request's code went (awaits,
   * callbacks), on Node 20 and 22 only from the request's synchronous handling and the callbacks
   * of work that handling submitted (http-request-context.ts).
   */
  httpRequestId?: number;
}

/** The channel each settled request of Node's own is published on (not uvscope's jobs: see JOB_CHANNEL). */
export const POOL_REQUEST_CHANNEL = 'uvscope:threadpool:request';

// --- The loop (loop/). ---

/**
 * An iteration whose busy time (its duration minus the time it waited for I/O in poll) exceeded
 * `blockThresholdMs`, reported when it ends: as the observer's
 * 'longIteration' event and on diagnostics_channel {@link LONG_ITERATION_CHANNEL}. Durations in ns.
 */
export interface LongIterationEvent {
  /** The iteration that was long (numbered as in the observer's phase events). */
  iteration: number;
  durationNs: number;
  pollWaitNs: number;
  pollWorkNs: number;
  outsidePollNs: number;
  thresholdNs: number;
  /** When it ended (the next prepare), monotonic clock. */
  endedAtNs: bigint;
  /** The thread whose loop it was: 0 for the main thread, else the worker's threadId. */
  threadId: number;
}

/** The diagnostics_channel every long iteration is published on (payload: {@link LongIterationEvent}). */
export const LONG_ITERATION_CHANNEL = 'uvscope:loop:long-iteration';

/** The diagnostics_channel every stall is published on after recovery (payload: `StallEvent`, declared with the stall report in loop/stall-watchdog.ts). */
export const STALL_CHANNEL = 'uvscope:loop:stall';

/**
 * An HTTP request a server on this thread finished (answered, or its connection closed first),
 * as uvscope's request tracker saw it (loop/http-requests.ts; running while a stall watchdog
 * with `requests` on runs). Times on the monotonic clock, ns.
 */
export interface HttpRequestRecord {
  /** The tracker's id, as stall reports' requests are numbered on this thread. */
  id: number;
  method: string;
  /** As received: path and query. */
  url: string;
  protocol: 'http' | 'http2';
  /** The status sent (0 when none was). */
  statusCode: number;
  /** False when the connection closed (or the stream was reset) before the response was sent whole. */
  completed: boolean;
  startedAtNs: bigint;
  /** When it ended; for a record with `inFlight`, when the trace ended. */
  endedAtNs: bigint;
  /**
   * Never on the channel: set on the records a trace makes, when its recording ends, for the
   * requests still in flight then (loop/http-requests.ts `httpRequestsInFlight()`): `endedAtNs`
   * is the trace's end, `statusCode` 0 and `completed` false (the request had not ended).
   */
  inFlight?: true;
}

/** The diagnostics_channel finished HTTP requests are published on (payload: {@link HttpRequestRecord}). */
export const HTTP_REQUEST_CHANNEL = 'uvscope:http:request';
