/**
 * uvscope: see what the Node.js event loop is doing, phase by phase, and run CPU work on the
 * real libuv thread pool.
 * @packageDocumentation
 */
export { LoopObserver } from './loop-observer';
export type {
  HistogramSummary,
  LongestIteration,
  LoopObserverOptions,
  LoopStats,
  MarkerPhase,
  Phase,
  PhaseEvent,
} from './loop-observer';
export type { CodedError } from './errors';

import { native } from './native';

/** libuv's monotonic clock, in ns: the clock every uvscope timestamp uses. */
export function nowNs(): bigint {
  return native.nowNs();
}

/** The libuv version of the running Node. */
export const uvVersion: string = native.uvVersion;
