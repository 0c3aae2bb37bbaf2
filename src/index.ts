/**
 * uvscope: see what the Node.js event loop is doing, phase by phase, and run CPU work on the
 * real libuv thread pool.
 * @packageDocumentation
 */
export { LONG_ITERATION_CHANNEL, LoopObserver, MARKER_PHASE_CODES } from './loop/observer';
export type {
  LongestIteration,
  LongIterationEvent,
  LoopObserverOptions,
  LoopStats,
  MarkerPhase,
  Phase,
  PhaseEvent,
  TraceColumns,
} from './loop/observer';
export { HTTP_REQUEST_CHANNEL, parseStallReport, STALL_CHANNEL, StallWatchdog } from './loop/stall-watchdog';
export type {
  HttpRequestRecord,
  LiveStallReport,
  StallContext,
  StallContextOptions,
  StallEvent,
  StallPhase,
  StallReport,
  StallRequest,
  StallStackFrame,
  StallWatchdogOptions,
  StallWatchdogStats,
} from './loop/stall-watchdog';
export { monitorPoolRequests, POOL_REQUEST_CHANNEL } from './requests/monitor';
export type {
  PoolRequestKindStats,
  PoolRequestMonitor,
  PoolRequestMonitorOptions,
  PoolRequestRecord,
  PoolRequestStats,
} from './requests/monitor';
export { FlightRecorder } from './trace/flight-recorder';
export type { FlightRecorderOptions, FlightRecorderStats } from './trace/flight-recorder';
export type { CodedError } from './errors';
export { AbortError } from './errors';
export type { HistogramSummary } from './histogram/summary';
export {
  algorithms,
  ciphers,
  COPY_LIMIT_BYTES,
  createLane,
  Hasher,
  kdfs,
  maxCipherOutput,
  PoolCipher,
  JOB_CHANNEL,
  measureSize,
  monitorSaturation,
  monitorThreads,
  parsePoolSize,
  poolThreadTimesSupported,
  poolSize,
  SATURATION_CHANNEL,
  ThreadPool,
  threadpool,
} from './threadpool/threadpool';
export type {
  Argon2Algorithm,
  Argon2Parameters,
  BinaryInput,
  BinaryLike,
  CipherKey,
  CipherOptions,
  DecipherOptions,
  DefaultThreadPool,
  EncryptResult,
  HashManyOptions,
  HashOptions,
  InputOptions,
  JobOptions,
  JobRecord,
  JobStats,
  KernelName,
  CipherOutputOptions,
  Lane,
  LaneControl,
  LaneMethod,
  LaneOptions,
  LanePriority,
  LaneStats,
  PoolSize,
  PoolThreadMonitor,
  PoolThreadMonitorOptions,
  PoolThreadStats,
  PoolThreadTimes,
  SaturationMonitor,
  SaturationStats,
  ScryptParams,
  ThreadPoolOptions,
  ThreadPoolStats,
} from './threadpool/threadpool';

import { native } from './native';

/** libuv's monotonic clock, in ns: the clock every uvscope timestamp uses. */
export function nowNs(): bigint {
  return native.nowNs();
}

/** The libuv version of the running Node. */
export const uvVersion: string = native.uvVersion;
