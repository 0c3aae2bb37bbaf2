/**
 * The sliding quantile window both exporters use (src/export/sliding-quantiles.ts): quantiles
 * over the native buckets' counts forget what is older than maxAgeSeconds.
 */
import { SlidingQuantiles } from '../../src/export/sliding-quantiles';
import { BUCKETS, bucketOf } from '../../src/histogram/native-buckets';

test('the sliding window: quantiles forget what is older than maxAgeSeconds', () => {
  const window = new SlidingQuantiles({ maxAgeSeconds: 10, ageBuckets: 2 }, 0);
  const cumulative = new Float64Array(BUCKETS);
  const record = (ns: number, n: number) => (cumulative[bucketOf(ns)] += n);
  const p50At = (nowMs: number) => {
    window.begin(nowMs);
    const [p50] = window.quantiles('k', cumulative, [0.5]) ?? [NaN];
    window.end();
    return p50;
  };
  record(1000, 100);
  expect(Math.abs(p50At(1000) - 1000)).toBeLessThanOrEqual(1000 / 128);
  record(1_000_000, 300);
  expect(p50At(6000)).toBeCloseTo(1_000_000, -4); // both in the window: 300 of 400 at 1 ms
  record(5000, 1000);
  // At 12 s the snapshot of 0 s is older than 10 s: the window starts at 6 s, after the 1 µs and 1 ms values.
  expect(p50At(12_000)).toBeCloseTo(5000, -2);
  // Nothing new for a whole window: no quantiles.
  expect(p50At(30_000)).toBeNaN();
  expect(p50At(31_000)).toBeNaN();
});
