/**
 * What passes between `uvscope bench`'s parent and the processes it measures: the workloads and
 * the run configuration handed to a workload child (run.ts), the result line it prints, and the
 * file each process measured under `uvscope bench -- <command>` writes (probe.ts), both with the
 * pool threads' figures (PoolThreadFigures) measured where the work ran. Types and
 * constants only, addon-free: the parent (bench.ts, command-mode.ts) imports this, never the
 * child modules, so it formats and validates without loading the addon. Lifetime: none.
 * @internal
 * @module
 */
import type { PoolRequestKindStats } from '../../requests/monitor';

// --- Workload mode: one child per run (run.ts). ---

export const RESULT_PREFIX = 'UVSCOPE_BENCH_RESULT ';
export const WORKLOADS = ['hash', 'pbkdf2', 'spin', 'sleep', 'fs', 'mixed'] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface RunConfig {
  workload: Workload;
  jobs: number;
  /** Most jobs in flight at once from the JS side. */
  concurrency: number;
}

/**
 * The pool threads over a measured span, from `threadpool.monitorThreads()` in the process that
 * ran the work (Linux only: absent elsewhere, or when no pool thread was found).
 */
export interface PoolThreadFigures {
  /** Pool threads found and measured. */
  threads: number;
  /** Their CPU time over threads × span: 1 = every thread on a CPU all the time. */
  busyRatio: number;
  /** Their time runnable but waiting for a CPU over threads × span (oversubscription); absent where the platform has no such figure. */
  runQueueRatio?: number;
}

/** Percentiles in milliseconds. */
export interface LatencyMs {
  p50: number;
  p99: number;
}

/** One run's measurements (all times in ms, throughput in jobs/s). */
export interface RunResult {
  size: number;
  configuredSize: number;
  measuredSize: number;
  workload: Workload;
  jobs: number;
  wallMs: number;
  jobsPerSec: number;
  latencyMs: LatencyMs;
  queueWaitMs: LatencyMs;
  /** Raw queue waits (ms) of every job, for the distribution chart. */
  queueWaitSamplesMs: number[];
  loopUtilization: number;
  loopDelayP99Ms: number;
  saturationP99Ms: number;
  fsLatencyMs?: LatencyMs;
  dnsLatencyMs?: LatencyMs;
  /** The pool threads over the timed part of the run (from the first job to the last settled). */
  pool?: PoolThreadFigures;
}

// --- Command mode: the preload in every measured process (probe.ts). ---

/** What one measured process writes. Times in ms. */
export interface ProbeResult {
  pid: number;
  argv: string[];
  poolSize: number;
  wallMs: number;
  cpuMs: number;
  loopUtilization: number;
  loopDelayP99Ms: number;
  saturationP99Ms: number;
  requests: Record<string, PoolRequestKindStats>;
  inFlightMax: number;
  inFlightMean: number;
  /** The process's pool threads from when they were found (right after the preload ran) to its exit. */
  pool?: PoolThreadFigures;
}

export const BENCH_DIR_ENV = 'UVSCOPE_BENCH_DIR';
