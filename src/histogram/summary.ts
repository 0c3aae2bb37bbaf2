/**
 * Summaries of distributions: the shape every uvscope histogram is reported in, and a small
 * JS-side summariser for samples collected in JavaScript (saturation probes).
 * @module
 */

/** Summary of a distribution of durations. All values in nanoseconds except `count`. */
export interface HistogramSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}

/** Reads a summary written natively (count min max mean p50 p90 p99 p999) at `at`. */
export function readSummary(numbers: Float64Array, at: number): HistogramSummary {
  return {
    count: numbers[at],
    min: numbers[at + 1],
    max: numbers[at + 2],
    mean: numbers[at + 3],
    p50: numbers[at + 4],
    p90: numbers[at + 5],
    p99: numbers[at + 6],
    p999: numbers[at + 7],
  };
}

export const SUMMARY_FIELDS = 8;

/** Summarises raw samples exactly (nearest-rank percentiles). */
export function summarize(samples: readonly number[]): HistogramSummary {
  const count = samples.length;
  if (count === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(count - 1, Math.max(0, Math.ceil(q * count) - 1))];
  return {
    count,
    min: sorted[0],
    max: sorted[count - 1],
    mean: sorted.reduce((sum, v) => sum + v, 0) / count,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    p999: at(0.999),
  };
}
