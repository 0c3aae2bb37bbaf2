/**
 * Re-entrancy suite, call arguments: getters of an options object run user JavaScript in the
 * middle of a call (test/reentrancy/fixtures/reentrancy-points-getters.js); from there a getter aborts,
 * closes, stops, hashes, encrypts, detaches the call's own inputs and outputs, has its worker
 * terminated or calls process.exit(). The call may fail with a coded error, or succeed with the
 * right result; nothing may crash, hang, leak, or read a detached input as empty. Each scenario
 * runs in a child process (test/reentrancy/harness.ts).
 */
import { describeReentrancy, IN_THREAD_ACTIONS } from './harness';

describeReentrancy(
  [
    'getter-hash',
    'getter-hash-signal',
    'getter-hmac',
    'getter-hashmany',
    'getter-hasher-update',
    'getter-encrypt',
    'getter-encrypt-output',
    'getter-decrypt',
  ],
  [...IN_THREAD_ACTIONS, 'detach'],
);
