/**
 * The bucket layout of uvscope's native histogram (native/histogram.h), mirrored in TypeScript,
 * and what exporters compute from a histogram's buckets: counts at or below explicit
 * boundaries (Prometheus `le`, OpenTelemetry explicit buckets) and quantiles.
 *
 * Layout: bucket i < 64 holds exactly the value i ns; bucket i >= 64 holds the 2^(e-6) integers
 * from 2^e + s * 2^(e-6), with e = floor(i / 64) + 5 and s = i mod 64 (64 buckets per power of
 * two, each at most 1/64 of its lower edge wide); the last bucket also holds every value above
 * 2^48 ns. A histogram read here is a dense Float64Array of BUCKETS counts.
 * @internal
 * @module
 */

import type { LogHistogram } from './log-histogram';

const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
const MAX_EXPONENT = 47;
/** Buckets of a native histogram. */
export const BUCKETS = (MAX_EXPONENT - SUB_BITS + 2) * SUB;

/** The smallest value bucket `i` holds, ns. */
export function bucketLowNs(i: number): number {
  if (i < SUB) return i;
  const exponent = Math.floor(i / SUB) + SUB_BITS - 1;
  const width = 2 ** (exponent - SUB_BITS);
  return 2 ** exponent + (i % SUB) * width;
}

// Every bucket's largest value, computed once (Math.pow per bucket per scrape was most of a scrape's time).
const HIGH_NS = new Float64Array(BUCKETS);
for (let i = 0; i < BUCKETS - 1; i++) HIGH_NS[i] = bucketLowNs(i + 1) - 1;
HIGH_NS[BUCKETS - 1] = Infinity;

/** The largest value bucket `i` holds, ns (Infinity for the last bucket). */
export function bucketHighNs(i: number): number {
  return HIGH_NS[i];
}

/** The bucket holding `valueNs` (a non-negative integer). */
export function bucketOf(valueNs: number): number {
  if (valueNs < SUB) return valueNs;
  const exponent = Math.floor(Math.log2(valueNs));
  // log2 can round up just below a power of two: correct by one either way.
  const e = 2 ** exponent > valueNs ? exponent - 1 : 2 ** (exponent + 1) <= valueNs ? exponent + 1 : exponent;
  if (e > MAX_EXPONENT) return BUCKETS - 1;
  const sub = Math.floor((valueNs - 2 ** e) / 2 ** (e - SUB_BITS));
  return (e - SUB_BITS + 1) * SUB + sub;
}

/**
 * Boundaries in seconds as whole ns: a value (whole ns) is at or below a bound of b s when it is
 * <= floor(b * 1e9), with a nudge for the float error of the product (20479e-9 * 1e9 is just
 * below 20479).
 */
export function boundsToNs(boundsS: readonly number[]): number[] {
  return boundsS.map((s) => Math.floor(s * 1e9 + 1e-6));
}

/**
 * For each boundary (ns, ascending), the number of recorded values in buckets that lie wholly
 * at or below it: exactly the values <= the highest bucket edge at or below the boundary, which
 * is the boundary itself when it falls on an edge, otherwise less than 1/64 of it below.
 */
export function countsAtOrBelow(buckets: Float64Array, boundsNs: readonly number[]): number[] {
  const counts = new Array<number>(boundsNs.length).fill(0);
  let b = 0;
  let seen = 0;
  for (let i = 0; i < BUCKETS && b < boundsNs.length; i++) {
    const high = HIGH_NS[i];
    while (b < boundsNs.length && high > boundsNs[b]) counts[b++] = seen;
    seen += buckets[i];
  }
  while (b < boundsNs.length) counts[b++] = seen;
  return counts;
}

/** A distribution as the exporters read it: counts at or below each bound, the total count and sum. */
export interface BucketCounts {
  atOrBelow: number[];
  count: number;
  sumNs: number;
}

/**
 * BucketCounts at `boundsS` (seconds, ascending) of a native distribution (its dense buckets)
 * or of a LogHistogram recorded in JavaScript (Node's own pool requests).
 */
export function bucketCounts(source: { buckets: Float64Array; count: number; sumNs: number } | LogHistogram, boundsS: readonly number[]): BucketCounts {
  if ('buckets' in source) return { atOrBelow: countsAtOrBelow(source.buckets, boundsToNs(boundsS)), count: source.count, sumNs: source.sumNs };
  return { atOrBelow: source.countsAtOrBelow(boundsS.map((s) => s * 1e9)), count: source.count, sumNs: source.sum };
}

/**
 * The smallest recorded value v such that at least `quantile` of all values are <= v, as its
 * bucket's midpoint (within 1/128 of the true value above 64 ns, exact below); 0 when empty.
 */
export function quantileNs(buckets: Float64Array, count: number, quantile: number): number {
  if (count <= 0) return 0;
  const rank = Math.min(count, Math.max(1, Math.round(quantile * count)));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += buckets[i];
    if (seen >= rank) {
      const high = bucketHighNs(i);
      return high === Infinity ? bucketLowNs(i) : (bucketLowNs(i) + high) / 2;
    }
  }
  return bucketLowNs(BUCKETS - 1);
}

/**
 * Reads a native bucket read-out (count, sum, then (index, count) pairs; see
 * Histogram::WriteBuckets) of `written` numbers into `into` (cleared first). Returns count and sum.
 */
export function readBuckets(readout: Float64Array, written: number, into: Float64Array): { count: number; sumNs: number } {
  into.fill(0);
  if (written < 2) return { count: 0, sumNs: 0 };
  for (let at = 2; at + 1 < written; at += 2) into[readout[at]] = readout[at + 1];
  return { count: readout[0], sumNs: readout[1] };
}
