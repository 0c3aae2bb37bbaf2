/**
 * The report of `uvscope bench` (workload mode): per pool size the medians over the rounds and
 * every run, and the size picked. Built by bench.ts, rendered as a table there and as HTML by
 * html.ts (which is why it lives apart from both). Types only.
 * @internal
 * @module
 */
import type { PoolThreadFigures, RunResult, Workload } from './protocol';
import type { Verdict } from './verdict';

/** Per pool size: the median of each metric over the rounds, and every run. */
export interface SizeSummary {
  size: number;
  measuredSize: number;
  runs: RunResult[];
  wallMs: number;
  jobsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  queueWaitP50Ms: number;
  queueWaitP99Ms: number;
  loopUtilization: number;
  loopDelayP99Ms: number;
  saturationP99Ms: number;
  fsP50Ms?: number;
  fsP99Ms?: number;
  dnsP50Ms?: number;
  dnsP99Ms?: number;
  /** The pool threads' busy and run-queue ratios, medians over the rounds (absent where not measured). */
  pool?: PoolThreadFigures;
}

export interface BenchReport {
  workload: Workload;
  jobs: number;
  concurrency: number;
  repeat: number;
  node: string;
  uv: string;
  cpus: number;
  sizes: SizeSummary[];
  best: Verdict;
}
