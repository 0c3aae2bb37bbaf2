/**
 * V8's sampling CPU profiler for the calling thread (main thread or a worker), through a
 * `node:inspector` session connected to that thread's own isolate. `start()` to `stop()`: one
 * profile, returned when stopped. A session to the thread's own inspector answers synchronously,
 * so `stop()` works inside a process 'exit' listener.
 *
 * Clock: the profile's `startTime` and sample times are microseconds on V8's TimeTicks, which on
 * Linux read CLOCK_MONOTONIC, the clock of libuv's `uv_hrtime()` and `process.hrtime.bigint()`
 * (checked at start: `startTime` lies between the two clock reads around `Profiler.start`; when
 * it does not, the profile is refused rather than misplaced).
 * Cost: starting logs every compiled function (measured 20-80 ms in a fresh process); samples
 * accumulate inside V8 until `stop()` (about 16 bytes each).
 * Poll waits: V8 takes each sample with a SIGPROF to the thread. A signal ends the loop's
 * epoll_wait early, libuv polls again, and its idle time (`uv_metrics_idle_time`, the poll
 * waits and utilization uvscope reports) counts only the last stretch: at 1 ms sampling an idle
 * loop read as 90% busy. So `start()` has the thread's loop wait with SIGPROF blocked (libuv's
 * UV_LOOP_BLOCK_SIGNAL, made for sampling profilers; for the rest of the loop's life): the
 * signal is taken when the wait ends, and no sample falls inside a wait (trace/format.ts draws
 * the waits as (idle) samples). On Windows V8 samples without a signal; nothing is blocked.
 * Lifetime: the session is disconnected by `stop()`.
 * @internal
 * @module
 */
import inspector from 'node:inspector';

import { native } from '../native';

/** A CPU profile as V8's `Profiler.stop` returns it (times in µs on the monotonic clock). */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

/** How far `startTime` may lie outside the clock reads around `Profiler.start`, µs. */
const CLOCK_SLACK_US = 1000;

export class CpuProfiler {
  readonly #session = new inspector.Session();
  #started = false;
  /** The clock reads around `Profiler.start`, widened by CLOCK_SLACK_US: `startTime` must lie within. */
  #bounds: [number, number] = [0, 0];

  /** Starts sampling every `intervalUs` µs. Throws when the inspector is unavailable or the clock does not match. */
  start(intervalUs: number): void {
    this.#session.connect();
    this.#post('Profiler.enable');
    this.#post('Profiler.setSamplingInterval', { interval: intervalUs });
    const beforeUs = Number(process.hrtime.bigint() / 1000n);
    this.#post('Profiler.start');
    const afterUs = Number(process.hrtime.bigint() / 1000n);
    native.blockProfilerSignalInPoll();
    this.#started = true;
    this.#bounds = [beforeUs - CLOCK_SLACK_US, afterUs + CLOCK_SLACK_US];
  }

  /** Stops and returns the profile (undefined when never started). Disconnects the session. */
  stop(): CpuProfile | undefined {
    if (!this.#started) return undefined;
    this.#started = false;
    try {
      const { profile } = this.#post('Profiler.stop') as { profile: CpuProfile };
      const [from, to] = this.#bounds;
      if (!(profile.startTime >= from && profile.startTime <= to)) {
        throw new Error(`V8's profile clock does not match process.hrtime (start ${profile.startTime} µs, expected ${from}-${to})`);
      }
      return profile;
    } finally {
      this.#session.disconnect();
    }
  }

  #post(method: string, params?: object): unknown {
    let result: unknown;
    let failure: Error | null = null;
    let answered = false;
    this.#session.post(method, params, (error: Error | null, value?: unknown) => {
      answered = true;
      failure = error;
      result = value;
    });
    if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
    if (failure) throw failure;
    return result;
  }
}
