/**
 * Re-entrancy suite, loop instruments: from every LoopObserver event, long-iteration and stall
 * report (events, diagnostics_channel, live reports; test/reentrancy/fixtures/reentrancy-points-loop.js),
 * a callback aborts, closes, stops, hashes, encrypts, has its worker terminated or calls
 * process.exit(); nothing may crash, hang, settle twice or leak. Each scenario runs in a child
 * process (test/reentrancy/harness.ts).
 */
import { describeReentrancy } from './harness';

describeReentrancy([
  'observer-prepare',
  'observer-check',
  'observer-idle',
  'observer-timers',
  'observer-close',
  'long-iteration-event',
  'long-iteration-channel',
  'stall-event',
  'stall-channel',
  'live-report',
  'live-report-cross-thread',
]);
