/**
 * The model of a uvscope trace (`TraceModel`): what an analysis (analysis.ts) makes of a trace
 * (`TraceFile` when held in memory) and the summary and the HTML report show. Per thread
 * (`ThreadModel`), its loop slices, waits, stalls, pool requests, HTTP requests
 * (`HttpRequestModel`), utilization, CPU samples (`Samples`) and long iterations (`LongIteration`:
 * their phase split and the functions that ran in them); per process, its pool threads over time
 * (`PoolModel`). With the caps an analysis keeps the model within (`AnalysisLimits`,
 * `DEFAULT_ANALYSIS_LIMITS`) and what they left out (`CappedCounts`). Types and constants only: a
 * model is plain data, made once by a fold and only read after.
 * @internal
 * @module
 */
import type { TraceEvent } from './format';
import type { ProcessInfo, ThreadInfo } from './process-collector';
import type { TraceSection } from './trace-reader';

export interface TraceFile {
  traceEvents: TraceEvent[];
  uvscope?: TraceSection;
}

export interface FunctionTime {
  /** `name (file:line)`. */
  name: string;
  selfMs: number;
}

export interface PhaseSplit {
  pollWaitMs: number;
  pollWorkMs: number;
  checkMs: number;
  timersMs: number;
  pendingMs: number;
  /** The startup slice (iteration 0 only). */
  startupMs: number;
}

export interface LongIteration {
  iteration: number;
  startUs: number;
  durationMs: number;
  split: PhaseSplit;
  top: FunctionTime[];
  /** HTTP requests a stall report inside it named. */
  stallRequests?: { name: string; id?: number }[];
}

/** A finished HTTP request of a thread (its async slice's begin event). Times in the trace's µs. */
export interface HttpRequestModel {
  id: number;
  /** `GET /path?query` (cut). */
  name: string;
  method: string;
  url: string;
  status: number;
  completed: boolean;
  startUs: number;
  endUs: number;
  /** For one in flight at the trace's end: its time so far. */
  durationMs: number;
  /** Still in flight when the trace ended (drawn to that end; not among the finished requests' durations). */
  inFlight?: true;
}

/** CPU samples of a thread: sample times (µs, trace clock) and the leaf frame's name of each. */
export interface Samples {
  timesUs: number[];
  leaves: string[];
  intervalUs: number;
}

export interface ThreadModel {
  pid: number;
  tid: number;
  key: string;
  process: string;
  name: string;
  info?: ThreadInfo;
  loop: TraceEvent[];
  waits: TraceEvent[];
  stalls: TraceEvent[];
  jobs: TraceEvent[];
  /** Node's pool requests; `httpRequestId`: the HTTP request of this thread that submitted it, where its record knew. */
  requests: { kind: string; startUs: number; endUs: number; httpRequestId?: number }[];
  /** Finished HTTP requests, in order of start. */
  httpRequests: HttpRequestModel[];
  /** HTTP requests in the trace (httpRequests keeps the slowest AnalysisLimits.maxHttpRequests). */
  httpRequestsSeen?: number;
  /** Stalls in the trace (stalls keeps the longest AnalysisLimits.maxStalls). */
  stallsSeen?: number;
  /** Iterations with slices in the trace (for a thread without info). */
  iterationsSeen?: number;
  /** What the analysis left out to bound its memory. */
  capped?: CappedCounts;
  utilization: { us: number; value: number }[];
  samples?: Samples;
  long: LongIteration[];
  startUs: number;
  endUs: number;
}

/** A process's pool threads over time: the `pool threads` counter (ratios of threads × interval). */
export interface PoolModel {
  pid: number;
  process: string;
  points: { us: number; busy: number; runq?: number }[];
}

export interface TraceModel {
  threads: ThreadModel[];
  pools: PoolModel[];
  blockMs: number;
  startUs: number;
  endUs: number;
  processes: ProcessInfo[];
  /** Every HTTP request's duration (ms, ascending), or a uniform sample of AnalysisLimits.maxHttpDurations of them. */
  httpDurationsMs?: Float64Array;
  /** HTTP request durations seen (httpDurationsMs holds all of them when equal to its length). */
  httpDurationsSeen?: number;
}

/** Caps of what a TraceAnalysis keeps (per thread unless said). */
export interface AnalysisLimits {
  /** Loop phase slices (the longest), and as many waits for I/O. */
  maxSlices: number;
  /** Stalls (the longest). */
  maxStalls: number;
  /** uvscope pool jobs per process (the longest). */
  maxJobs: number;
  /** Node pool requests (the longest latency). */
  maxPoolRequests: number;
  /** HTTP requests (the slowest). */
  maxHttpRequests: number;
  /** HTTP request durations kept for the quantiles (a uniform sample past it, over all threads). */
  maxHttpDurations: number;
  /** CPU samples (the first; those past it are counted). */
  maxSamples: number;
  /** Utilization points, and pool-thread points per process (every other point dropped each time it is reached). */
  maxPoints: number;
}

export const DEFAULT_ANALYSIS_LIMITS: AnalysisLimits = {
  maxSlices: 30_000,
  maxStalls: 10_000,
  maxJobs: 50_000,
  maxPoolRequests: 50_000,
  maxHttpRequests: 10_000,
  maxHttpDurations: 2_000_000,
  maxSamples: 2_000_000,
  maxPoints: 20_000,
};

/** What a thread's model left out to stay within AnalysisLimits; present only when something was. */
export interface CappedCounts {
  slices?: number;
  waits?: number;
  stalls?: number;
  jobs?: number;
  poolRequests?: number;
  httpRequests?: number;
  samples?: number;
  /** Utilization points dropped (every other, as the series grew). */
  utilization?: number;
}
