/**
 * A log-bucketed histogram of durations recorded in JavaScript (Node's own pool requests), with
 * the bucket layout of OpenTelemetry exponential histograms at scale 6: 64 buckets per power of
 * two, so any value is reported within 1.1% (half a bucket) of what was recorded. Owned by the
 * monitor that records into it; memory grows with the range of values seen, never with their
 * number.
 * @internal
 * @module
 */
import type { HistogramSummary } from './summary';

const SCALE_FACTOR = 64 / Math.LN2;

export class LogHistogram {
  /** counts[i] counts the values v with floor(log2(v) * 64) === offset + i. */
  #counts: number[] = [];
  #offset = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  /** Records one duration in ns (values below 1 ns count as 1 ns). */
  record(valueNs: number): void {
    const v = valueNs < 1 ? 1 : valueNs;
    const index = Math.floor(Math.log(v) * SCALE_FACTOR);
    if (this.count === 0 || this.#counts.length === 0) {
      this.#offset = index;
      this.#counts = [0];
    } else if (index < this.#offset) {
      this.#counts = [...new Array<number>(this.#offset - index).fill(0), ...this.#counts];
      this.#offset = index;
    }
    const at = index - this.#offset;
    while (this.#counts.length <= at) this.#counts.push(0);
    this.#counts[at]++;
    this.count++;
    this.sum += valueNs;
    if (valueNs < this.min) this.min = valueNs;
    if (valueNs > this.max) this.max = valueNs;
  }

  /** The value at quantile q: the middle of the bucket holding the nearest rank, within [min, max]. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i];
      if (seen >= rank) {
        const index = this.#offset + i;
        const middle = Math.exp((index + 0.5) / SCALE_FACTOR);
        return Math.min(this.max, Math.max(this.min, middle));
      }
    }
    return this.max;
  }

  /**
   * For each bound (ns, increasing), how many values were at or below it, counting whole
   * buckets: the bucket holding the bound counts in full, so a count may include values up to
   * 1.1% above its bound (one bucket's width).
   */
  countsAtOrBelow(boundsNs: readonly number[]): number[] {
    const result: number[] = [];
    let seen = 0;
    let i = 0;
    for (const bound of boundsNs) {
      const last = Math.floor(Math.log(Math.max(bound, 1)) * SCALE_FACTOR) - this.#offset;
      for (; i < this.#counts.length && i <= last; i++) seen += this.#counts[i];
      result.push(this.count === 0 ? 0 : seen);
    }
    return result;
  }

  summary(): HistogramSummary {
    if (this.count === 0) return { count: 0, min: 0, max: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0 };
    return {
      count: this.count,
      min: this.min,
      max: this.max,
      mean: this.sum / this.count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      p999: this.quantile(0.999),
    };
  }
}
