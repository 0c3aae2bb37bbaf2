/**
 * `uvscope/opentelemetry`: the event loop and thread pool metrics of uvscope for OpenTelemetry,
 * read from uvscope's native statistics when the SDK collects (nothing is recorded per event in
 * JavaScript), in two forms:
 *
 * - {@link UvMetricProducer}, for `@opentelemetry/sdk-metrics` readers (`metricProducers`):
 *   every metric, the duration distributions as real histograms (explicit buckets, sum, count),
 *   which aggregate across processes. The API has no asynchronous histogram instrument, hence a
 *   producer.
 * - {@link registerUvMetrics}, for any `Meter` of the API alone: observable instruments, each
 *   distribution as gauges, one per statistic (`uvscope.eventloop.iteration.duration.p99`, ...),
 *   as the semantic conventions do for `nodejs.eventloop.delay.*`.
 *
 * @opentelemetry/api is an optional peer dependency: `require('uvscope')` never loads it, and
 * requiring `uvscope/opentelemetry` without it installed throws an Error that says so.
 *
 * Names follow the OpenTelemetry semantic conventions for Node.js runtime metrics where the
 * meaning matches (`nodejs.eventloop.utilization`, `nodejs.eventloop.time`), `uvscope.*`
 * elsewhere.
 * @module
 */
export { registerUvMetrics } from './export/opentelemetry';
export type { UvOpenTelemetryHandle, UvOpenTelemetryOptions } from './export/opentelemetry';
export type { UvMetricsHandle } from './export/sampler';
export { UvMetricProducer } from './export/otel-producer';
export type { UvMetricProducerOptions } from './export/otel-producer';
export { DEFAULT_JOB_BUCKETS, DEFAULT_LOOP_BUCKETS } from './export/buckets';
export type { UvBuckets } from './export/buckets';
