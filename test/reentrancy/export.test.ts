/**
 * Re-entrancy suite, exporters: from a user collection callback running in the same Prometheus
 * scrape or OpenTelemetry collection as uvscope's (test/reentrancy/fixtures/reentrancy-points-export.js), a
 * callback aborts, closes (the collector too), stops, hashes, encrypts, has its worker terminated
 * or calls process.exit(); nothing may crash, hang, settle twice or leak, and the next collection
 * still works. Each scenario runs in a child process (test/reentrancy/harness.ts).
 */
import { describeReentrancy } from './harness';

describeReentrancy(['prometheus-collect', 'otel-callback', 'otel-producer']);
