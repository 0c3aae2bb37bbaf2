/**
 * The recorder's loop observer in trace mode (phase markers into the native ring buffer, long
 * iterations reported), driven through the addon directly for what a bounded recording needs
 * beyond `LoopObserver`: `trim(keep)` forgets all but the newest markers in O(1) without
 * counting them as dropped (they are summarized instead), and `takeWindow()` reads the
 * per-window sums the native side keeps from the same markers (time per slice phase, poll
 * wait, iterations, the longest iteration), so a quiet stretch costs no copy of its markers.
 * Lifetime: from construction to `close()` (also closed by the environment's teardown).
 * @internal
 * @module
 */
import { threadId } from 'node:worker_threads';

import { native, PhaseCode } from '../native';
import type { LongIterationEvent } from '../channels';
import type { TraceColumns } from '../loop/trace-columns';
import { readSummary, SUMMARY_FIELDS } from '../histogram/summary';

/** What the markers tell of one window (native ObserverCore::TakeWindow). */
export interface WindowReading {
  /** The window's first and last marker (the previous window's last marker starts it); 0n: no marker. */
  startNs: bigint;
  endNs: bigint;
  /** Time per slice phase (format.ts phaseSlices), ns; poll includes its wait. */
  pollNs: number;
  checkNs: number;
  timersNs: number;
  pendingNs: number;
  pollWaitNs: number;
  iterations: number;
  longestIterationNs: number;
  longestBusyNs: number;
  longIterations: number;
}

/** The observer's statistics since start (the whole recording). */
export interface RunStats {
  iterations: number;
  utilization: number;
  iterationP50Ns: number;
  iterationP99Ns: number;
  longIterations: number;
  /** Poll wait since start, ns (uv_metrics_idle_time), and when read. */
  idleNs: number;
  windowEndNs: bigint;
}

export class TraceObserver {
  readonly #native;
  readonly #numbers = new Float64Array(native.NativeLoopObserver.snapshotFields);
  readonly #times = new BigUint64Array(native.NativeLoopObserver.timeFields);
  readonly #window = new Float64Array(native.NativeLoopObserver.windowFields);
  readonly #windowTimes = new BigUint64Array(2);
  #closed = false;

  constructor(options: { traceCapacity: number; blockThresholdMs: number; onLongIteration: (event: LongIterationEvent) => void }) {
    const thresholdNs = Math.round(options.blockThresholdMs * 1e6);
    this.#native = new native.NativeLoopObserver(options.traceCapacity, thresholdNs);
    const onLong = options.onLongIteration;
    this.#native.setEmitter((code, timeNs, iteration, durationNs, pollWaitNs, pollWorkNs, outsidePollNs) => {
      if (code !== PhaseCode.LongIteration) return;
      onLong({ iteration, durationNs, pollWaitNs, pollWorkNs, outsidePollNs, thresholdNs, endedAtNs: timeNs, threadId });
    });
    // Markers on; only long iterations call into JavaScript.
    this.#native.configure(false, true, 1 << PhaseCode.LongIteration);
    this.#native.start();
  }

  /** Every buffered marker (at most `max`, the oldest), oldest first (removed from the ring). */
  drain(max?: number): TraceColumns {
    const [timesNs, iterations, phases, pollWaitsNs] = this.#native.drainTrace(max);
    return { timesNs, iterations, phases, pollWaitsNs };
  }

  /** Forgets all but the newest `keep` markers (not counted as dropped). */
  trim(keep: number): void {
    this.#native.trimTrace(keep);
  }

  get buffered(): number {
    return this.#closed ? 0 : this.#native.traceBuffered();
  }

  /** Markers the ring overwrote (full before a drain or trim) since start. */
  get dropped(): number {
    return this.#closed ? 0 : this.#native.traceDropped();
  }

  takeWindow(): WindowReading {
    const n = this.#window;
    const t = this.#windowTimes;
    this.#native.takeWindow(n, t);
    return {
      startNs: t[0],
      endNs: t[1],
      pollNs: n[0],
      checkNs: n[1],
      timersNs: n[2],
      pendingNs: n[3],
      pollWaitNs: n[4],
      iterations: n[5],
      longestIterationNs: n[6],
      longestBusyNs: n[7],
      longIterations: n[8],
    };
  }

  stats(): RunStats {
    const numbers = this.#numbers;
    this.#native.snapshot(numbers, this.#times);
    const iteration = readSummary(numbers, 0);
    const at = 4 * SUMMARY_FIELDS;
    const windowNs = numbers[at + 1];
    const idleNs = numbers[at + 2];
    return {
      iterations: numbers[at],
      utilization: windowNs > 0 ? 1 - idleNs / windowNs : 0,
      iterationP50Ns: iteration.p50,
      iterationP99Ns: iteration.p99,
      longIterations: numbers[at + 7],
      idleNs,
      windowEndNs: this.#times[1],
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}
