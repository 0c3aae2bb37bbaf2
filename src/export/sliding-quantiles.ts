/**
 * Quantiles over a sliding time window, computed from cumulative native histograms: the
 * window's distribution is the cumulative buckets now minus a snapshot of them taken some
 * time ago. Snapshots are taken at read-outs, at most one per `maxAgeSeconds / ageBuckets`,
 * and kept while younger than `maxAgeSeconds`, so the window reaches back between
 * maxAge - maxAge/ageBuckets (plus the scrape interval) and maxAge seconds, as prom-client's
 * summaries with `maxAgeSeconds` and `ageBuckets` do. Memory: one copy of each distribution's
 * buckets (22 KB) per snapshot kept. Lifetime: the exporter's.
 * @internal
 * @module
 */
import { invalidArgType, outOfRange, validateObject } from '../errors';
import { BUCKETS, quantileNs } from '../histogram/native-buckets';

/** Options of the sliding window. */
export interface SlidingWindowOptions {
  /** How far back the window reaches, seconds. Default 600 (prom-client's default). */
  maxAgeSeconds?: number;
  /** Snapshots the window is made of: the window moves in steps of maxAgeSeconds / ageBuckets. Default 5. */
  ageBuckets?: number;
}

interface Snapshot {
  atMs: number;
  buckets: Map<string, Float64Array>;
}

export class SlidingQuantiles {
  readonly maxAgeMs: number;
  readonly stepMs: number;
  /** Oldest first; the first is empty (taken when the exporter started). */
  #snapshots: Snapshot[];
  /** Snapshot being filled by the current read-out, if one is due. */
  #pending: Snapshot | undefined;
  readonly #window = new Float64Array(BUCKETS);

  constructor(options: Required<SlidingWindowOptions>, nowMs = performance.now()) {
    this.maxAgeMs = options.maxAgeSeconds * 1000;
    this.stepMs = this.maxAgeMs / options.ageBuckets;
    this.#snapshots = [{ atMs: nowMs, buckets: new Map() }];
  }

  /** Starts a read-out at `nowMs`: takes a snapshot if one is due, drops those too old. */
  begin(nowMs = performance.now()): void {
    const newest = this.#snapshots[this.#snapshots.length - 1];
    this.#pending = nowMs - newest.atMs >= this.stepMs ? { atMs: nowMs, buckets: new Map() } : undefined;
    while (this.#snapshots.length > 1 && nowMs - this.#snapshots[0].atMs > this.maxAgeMs) this.#snapshots.shift();
  }

  /**
   * Quantiles (ns) of the distribution `key` over the window, given its cumulative buckets now;
   * undefined when nothing was recorded in the window. Call it for every distribution at every
   * read-out: a snapshot lacks the keys not passed while it was taken (taken as all zeros).
   */
  quantiles(key: string, cumulative: Float64Array, quantiles: readonly number[]): number[] | undefined {
    this.#pending?.buckets.set(key, cumulative.slice());
    const base = this.#snapshots[0].buckets.get(key);
    const window = this.#window;
    let count = 0;
    for (let i = 0; i < BUCKETS; i++) {
      window[i] = cumulative[i] - (base ? base[i] : 0);
      count += window[i];
    }
    if (count <= 0) return undefined;
    return quantiles.map((q) => quantileNs(window, count, q));
  }

  /** Ends a read-out: keeps the snapshot taken, if any. */
  end(): void {
    if (this.#pending) this.#snapshots.push(this.#pending);
    this.#pending = undefined;
  }
}

/** Checks `options.quantiles`: false (default), true (the default window) or window options. */
export function validateQuantiles(value: unknown): Required<SlidingWindowOptions> | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { maxAgeSeconds: 600, ageBuckets: 5 };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType('options.quantiles', 'a boolean or an object { maxAgeSeconds, ageBuckets }', value);
  }
  validateObject('options.quantiles', value);
  const { maxAgeSeconds = 600, ageBuckets = 5 } = value as SlidingWindowOptions;
  if (typeof maxAgeSeconds !== 'number') throw invalidArgType('options.quantiles.maxAgeSeconds', 'of type number', maxAgeSeconds);
  if (!(maxAgeSeconds >= 1 && maxAgeSeconds <= 86_400)) {
    throw outOfRange('options.quantiles.maxAgeSeconds', '>= 1 and <= 86400', maxAgeSeconds);
  }
  if (typeof ageBuckets !== 'number') throw invalidArgType('options.quantiles.ageBuckets', 'of type number', ageBuckets);
  if (!Number.isInteger(ageBuckets) || ageBuckets < 1 || ageBuckets > 60) {
    throw outOfRange('options.quantiles.ageBuckets', 'an integer >= 1 and <= 60', ageBuckets);
  }
  return { maxAgeSeconds, ageBuckets };
}
