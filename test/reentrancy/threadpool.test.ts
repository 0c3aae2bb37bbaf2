/**
 * Re-entrancy suite, thread pool: at every place where uvscope's pool calls user JavaScript
 * (test/reentrancy/fixtures/reentrancy-points-threadpool.js says where and how each is reached), a callback
 * aborts, closes, stops, hashes, encrypts, has its worker terminated or calls process.exit();
 * nothing may crash, hang, settle twice or leak. Each scenario runs in a child process
 * (test/reentrancy/harness.ts).
 */
import { describeReentrancy } from './harness';

describeReentrancy([
  'job-channel',
  'job-channel-hashmany',
  'job-channel-in-cancel',
  'abort-listener-before',
  'abort-listener-after',
  'job-then',
  'job-submit-channel',
  'saturation-channel',
  'request-channel',
]);
