/**
 * `uvscope/prometheus`: the event loop and thread pool metrics of uvscope on a prom-client
 * `Registry`, read from uvscope's native snapshots at scrape time (nothing is recorded per event
 * in JavaScript).
 *
 * prom-client is an optional peer dependency: `require('uvscope')` never loads it, and requiring
 * `uvscope/prometheus` without it installed throws an Error that says so.
 *
 * Every duration distribution is a Prometheus **histogram** (`_bucket{le}`, `_sum`, `_count`),
 * cumulative since the collector started and monotonic across resets of its source, built from
 * the native histogram's buckets at scrape time: histograms of many processes (or of prom-client
 * cluster workers) add up bucket by bucket, and `rate()` of their buckets gives any recent time
 * window. Summaries over a sliding window are optional (`quantiles`).
 * @module
 */
export { collectDefaultUvMetrics } from './export/prometheus';
export type { UvPrometheusCollector, UvPrometheusOptions } from './export/prometheus';
export type { UvMetricsHandle } from './export/sampler';
export { DEFAULT_JOB_BUCKETS, DEFAULT_LOOP_BUCKETS } from './export/buckets';
export type { UvBuckets } from './export/buckets';
export type { SlidingWindowOptions } from './export/sliding-quantiles';
