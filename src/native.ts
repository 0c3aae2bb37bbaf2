/**
 * The one place that loads the native addon (through node-gyp-build: build/Release first,
 * then prebuilds/), and the typed shape of what it exports. Everything else imports `native`
 * from here. `UVSCOPE_ADDON` may name a .node file to load instead (sanitizer builds).
 * @internal
 * @module
 */
import path from 'node:path';

/** Phase codes written by native/loop_observer.h. */
export const enum PhaseCode {
  Unknown = 0,
  Timers = 1,
  Pending = 2,
  Idle = 3,
  Prepare = 4,
  Poll = 5,
  Check = 6,
  Close = 7,
}

export interface NativeLoopObserver {
  start(): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
  reset(): void;
  configure(idle: boolean, markers: boolean, eventMask: number): void;
  setEmitter(emit: (phase: PhaseCode, timeNs: bigint, iteration: number) => void): void;
  snapshot(numbers: Float64Array, times: BigUint64Array): void;
  drainTrace(): BigUint64Array;
  currentPhase(): PhaseCode;
  traceDropped(): number;
  traceBuffered(): number;
}

export interface NativeLoopObserverConstructor {
  new (traceCapacity: number, blockThresholdNs: number): NativeLoopObserver;
  readonly snapshotFields: number;
  readonly timeFields: number;
}

export interface NativeAddon {
  /** libuv's clock (CLOCK_MONOTONIC), ns. */
  nowNs(): bigint;
  /** libuv version the running Node uses. */
  uvVersion: string;
  NativeLoopObserver: NativeLoopObserverConstructor;
}

function load(): NativeAddon {
  const override = process.env.UVSCOPE_ADDON;
  if (override) return require(path.resolve(override)) as NativeAddon;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
  return nodeGypBuild(path.join(__dirname, '..'));
}

export const native: NativeAddon = load();
