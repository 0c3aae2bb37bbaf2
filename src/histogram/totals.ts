/**
 * A native histogram's buckets, count and sum made cumulative since an exporter started and
 * monotonic across resets of their source (LoopObserver.reset(), ThreadPool.resetStats()):
 * what the source held at the last read-out before a reset is kept as a base, as `Totals`
 * does for counters. Lifetime: one per exported distribution, as long as its exporter.
 * @internal
 * @module
 */
import { BUCKETS, readBuckets } from './native-buckets';

export class HistogramTotals {
  /** The source's buckets at the last read-out. */
  readonly #last = new Float64Array(BUCKETS);
  #lastCount = 0;
  #lastSumNs = 0;
  /** What earlier windows of the source held; allocated at the first reset. */
  #base: Float64Array | undefined;
  #baseCount = 0;
  #baseSumNs = 0;
  #cumulative: Float64Array | undefined;

  /**
   * Takes a native read-out (`written` numbers of `readout`, see Histogram::WriteBuckets).
   * `reset`: the source was reset since the previous read-out (a count going down says so too).
   */
  update(readout: Float64Array, written: number, reset: boolean): void {
    const count = written >= 2 ? readout[0] : 0;
    if ((reset || count < this.#lastCount) && this.#lastCount > 0) {
      this.#base ??= new Float64Array(BUCKETS);
      for (let i = 0; i < BUCKETS; i++) this.#base[i] += this.#last[i];
      this.#baseCount += this.#lastCount;
      this.#baseSumNs += this.#lastSumNs;
    }
    const { sumNs } = readBuckets(readout, written, this.#last);
    this.#lastCount = count;
    this.#lastSumNs = sumNs;
    if (this.#base) {
      this.#cumulative ??= new Float64Array(BUCKETS);
      for (let i = 0; i < BUCKETS; i++) this.#cumulative[i] = this.#base[i] + this.#last[i];
    }
  }

  /** Values recorded since the exporter started. */
  get count(): number {
    return this.#baseCount + this.#lastCount;
  }

  /** Their sum, ns. */
  get sumNs(): number {
    return this.#baseSumNs + this.#lastSumNs;
  }

  /** Counts per native bucket since the exporter started; overwritten by the next update(). */
  get buckets(): Float64Array {
    return this.#cumulative ?? this.#last;
  }
}
