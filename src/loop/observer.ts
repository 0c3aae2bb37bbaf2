/**
 * `LoopObserver`: live, per-phase measurements of the libuv event loop of the calling thread
 * (main thread or a worker_thread), recorded natively by loop watchers.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';

import { invalidArgType, invalidState, validateBoolean, validateNumber, validateObject } from '../errors';
import { HistogramSummary, readSummary as summary, SUMMARY_FIELDS as HISTOGRAM_FIELDS } from '../histogram/summary';
import { threadId } from 'node:worker_threads';

import { native, PhaseCode } from '../native';

import { LONG_ITERATION_CHANNEL, LongIterationEvent } from '../channels';

export type { HistogramSummary } from '../histogram/summary';
export type { LongIterationEvent } from '../channels';
export { LONG_ITERATION_CHANNEL } from '../channels';
import { MarkerPhase, Phase, PHASE_NAMES } from './phases';

export type { MarkerPhase, Phase } from './phases';
export { MARKER_PHASE_CODES } from './phases';
import type { TraceColumns } from './trace-columns';

export type { TraceColumns } from './trace-columns';

/** One phase transition, as seen by a native marker handle. */
export interface PhaseEvent {
  /** Which marker ran. */
  phase: MarkerPhase;
  /** When, on libuv's monotonic clock in ns: comparable with `process.hrtime.bigint()`. */
  timeNs: bigint;
  /** Loop iteration number since `start()`, counted at each `prepare` (the first is 1). */
  iteration: number;
}



/** The longest iteration above the threshold in the window, and where its time went (ns). */
export interface LongestIteration {
  durationNs: number;
  pollWaitNs: number;
  pollWorkNs: number;
  outsidePollNs: number;
  /** When it ended (its closing `prepare`), on the monotonic clock. */
  endedAtNs: bigint;
}

/** A snapshot of everything recorded since `start()` or the last `reset()`. */
export interface LoopStats {
  /** Complete iterations seen (prepare to prepare). */
  iterations: number;
  /** Duration of one whole turn of the loop, prepare to prepare. */
  iteration: HistogramSummary;
  /** Time blocked in the kernel waiting for I/O in each poll phase (libuv's `uv_metrics_idle_time`). */
  pollWait: HistogramSummary;
  /** The rest of each poll phase: running I/O callbacks (and the poll syscall itself). */
  pollWork: HistogramSummary;
  /** From check to the next prepare: setImmediate, close callbacks, timers, pending callbacks, idle. */
  outsidePoll: HistogramSummary;
  /** Share of the window the loop was not waiting in poll: 0 (idle) to 1 (busy). Same definition as `performance.eventLoopUtilization()`. */
  utilization: number;
  /** Length of the window, ns. */
  windowNs: number;
  /** Time the loop spent waiting for I/O in the window, ns (`utilization = 1 - idleNs / windowNs`). */
  idleNs: number;
  /** Events the poll phase processed in the window (libuv >= 1.45 `uv_metrics_info`; absent otherwise). Completed pool work counts too. */
  events?: number;
  /** Events that were already waiting when poll was entered, summed over the window (libuv >= 1.45; absent otherwise). */
  eventsWaiting?: number;
  /** libuv's own iteration count over the window (libuv >= 1.45; absent otherwise). */
  loopCount?: number;
  /** Iterations that kept the loop busy longer than `blockThresholdMs` (duration minus poll wait). */
  longIterations: {
    count: number;
    thresholdNs: number;
    /** The longest of them, or null when there was none. */
    longest: LongestIteration | null;
  };
  /** Trace ring buffer state. */
  trace: { capacity: number; buffered: number; dropped: number };
  /**
   * Where the observer's times come from; always `process.hrtime`'s clock (CLOCK_MONOTONIC,
   * ns). `'tsc'` (x86-64 Linux): read from the CPU's timestamp counter, mapped to that clock and
   * re-anchored to it every millisecond and on every move to another CPU, for less than a clock
   * call per phase marker; `'hrtime'`: a `uv_hrtime()` call each time (other platforms, no
   * invariant counter, no rseq: glibc older than 2.35, `GLIBC_TUNABLES=glibc.pthread.rseq=0`,
   * valgrind; or `UVSCOPE_LOOP_CLOCK=hrtime`). The first 50 ms of a `'tsc'` observer read
   * `uv_hrtime()` while the counter's rate is measured. `resyncs`: times
   * the counter disagreed with the clock (a migrated VM) and was calibrated again; after 8 the
   * observer reads `uv_hrtime()`. See docs/loop-observer.md.
   */
  clock: { source: 'tsc' | 'hrtime'; resyncs: number };
  /** Window start and end (now, or when `stop()` was called), monotonic clock, ns. */
  windowStartNs: bigint;
  windowEndNs: bigint;
}

const longIterationChannel = diagnosticsChannel.channel(LONG_ITERATION_CHANNEL);

/** Options of {@link LoopObserver}. */
export interface LoopObserverOptions {
  /**
   * Run a `uv_idle_t` handle and report 'idle' markers. Default `false`.
   *
   * **Warning:** while an idle handle is active libuv polls with a zero timeout, so the loop
   * never sleeps and spins one core at 100%, even when unref'd. Attaching an 'idle' listener
   * turns it on too, until the last one is removed.
   */
  idle?: boolean;
  /**
   * Events kept in the native trace ring buffer (`trace()` drains it). 0 (default) turns
   * tracing off. When full, the oldest events are overwritten and counted as dropped.
   * Integer in [0, 16777216]; each event costs 24 bytes. An iteration records 2 events
   * (prepare, check), 4 with phase markers (close, timers too), so a buffer of N events
   * holds N / 2 (or N / 4) iterations: drain it at least that often.
   */
  traceCapacity?: number;
  /**
   * An iteration counts in `longIterations` (and is reported as 'longIteration') when its busy
   * time, its duration minus the time it waited for I/O in poll, exceeds this. Default 50 ms.
   */
  blockThresholdMs?: number;
  /**
   * Arm the 'timers' and 'close' markers each iteration (a 0 ms unref'd timer and a handle
   * closed in check). Default: only while 'timers' / 'close' listeners exist. They cost about
   * 150 ns per iteration and double the trace volume; `currentPhase()` can only say 'timers'
   * or 'close' with them, and a trace only splits the time after check with them.
   */
  phaseMarkers?: boolean;
}

/**
 * Running observers, held strongly: like an active timer, an observer that was started stays
 * alive (and keeps reporting to its listeners) until stop() or close(), even if the caller
 * keeps no reference. A stopped one that nobody references is collected and its handles closed.
 */
const running = new Set<LoopObserver>();

const MARKER_EVENTS: Readonly<Record<MarkerPhase, PhaseCode>> = {
  timers: PhaseCode.Timers,
  idle: PhaseCode.Idle,
  prepare: PhaseCode.Prepare,
  check: PhaseCode.Check,
  close: PhaseCode.Close,
};
const MAX_TRACE_CAPACITY = 1 << 24;

function isMarkerEvent(name: string | symbol): name is MarkerPhase {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(MARKER_EVENTS, name);
}

export interface LoopObserver {
  on(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  once(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  off(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  addListener(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  removeListener(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  prependListener(event: MarkerPhase, listener: (event: PhaseEvent) => void): this;
  on(event: 'longIteration', listener: (event: LongIterationEvent) => void): this;
  once(event: 'longIteration', listener: (event: LongIterationEvent) => void): this;
  off(event: 'longIteration', listener: (event: LongIterationEvent) => void): this;
  on(event: 'newListener' | 'removeListener', listener: (event: string | symbol) => void): this;
}

/**
 * Watches the libuv loop of the thread that creates it. Unref'd by default: it never keeps
 * the process alive. Listeners for 'prepare', 'check', 'idle', 'timers' and 'close' receive a
 * {@link PhaseEvent} per iteration; without listeners no JavaScript runs per iteration.
 */
export class LoopObserver extends EventEmitter {
  readonly #native;
  readonly #idleOption: boolean;
  readonly #markersOption: boolean | undefined;
  readonly #traceCapacity: number;
  readonly #blockThresholdNs: number;
  readonly #numbers = new Float64Array(native.NativeLoopObserver.snapshotFields);
  readonly #times = new BigUint64Array(native.NativeLoopObserver.timeFields);
  #closed = false;
  #running = false;

  constructor(options: LoopObserverOptions = {}) {
    super();
    validateObject('options', options);
    const { idle = false, traceCapacity = 0, blockThresholdMs = 50, phaseMarkers } = options ?? {};
    validateBoolean('options.idle', idle);
    validateNumber('options.traceCapacity', traceCapacity, { min: 0, max: MAX_TRACE_CAPACITY, integer: true });
    validateNumber('options.blockThresholdMs', blockThresholdMs, { min: 0, max: 3_600_000 });
    validateBoolean('options.phaseMarkers', phaseMarkers);
    this.#idleOption = idle;
    this.#markersOption = phaseMarkers;
    this.#traceCapacity = traceCapacity;
    this.#blockThresholdNs = Math.round(blockThresholdMs * 1e6);
    this.#native = new native.NativeLoopObserver(traceCapacity, this.#blockThresholdNs);
    // The native side holds this callback strongly; through a WeakRef it does not keep the
    // observer alive, so an observer dropped without close() is collected and closed.
    const self = new WeakRef(this);
    const thresholdNs = this.#blockThresholdNs;
    this.#native.setEmitter((code, timeNs, iteration, durationNs, pollWaitNs, pollWorkNs, outsidePollNs) => {
      if (code === PhaseCode.LongIteration) {
        const event: LongIterationEvent = {
          iteration,
          durationNs,
          pollWaitNs,
          pollWorkNs,
          outsidePollNs,
          thresholdNs,
          endedAtNs: timeNs,
          threadId,
        };
        if (longIterationChannel.hasSubscribers) longIterationChannel.publish(event);
        self.deref()?.emit('longIteration', event);
        return;
      }
      const phase = PHASE_NAMES[code] as MarkerPhase;
      self.deref()?.emit(phase, { phase, timeNs, iteration } satisfies PhaseEvent);
    });
    this.#installHooks();
    this.#configure();
  }

  override removeAllListeners(event?: string | symbol): this {
    super.removeAllListeners(event);
    // Removing everything (or every hook listener) removes our own hooks too: put them back.
    if (event === undefined || event === 'newListener' || event === 'removeListener') {
      super.removeAllListeners('newListener');
      super.removeAllListeners('removeListener');
      this.#installHooks();
    }
    this.#configure();
    return this;
  }

  #installHooks(): void {
    this.on('newListener', (name: string | symbol) => {
      if (isMarkerEvent(name)) queueMicrotask(() => this.#configure());
    });
    this.on('removeListener', (name: string | symbol) => {
      if (isMarkerEvent(name)) this.#configure();
    });
  }

  /** Whether the observer is recording. */
  get running(): boolean {
    return this.#running;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts recording; begins a new stats window. No-op when already running. */
  start(): this {
    this.#live('start').start();
    this.#running = true;
    running.add(this);
    return this;
  }

  /** Stops recording; `stats()` keeps reporting the window up to now. Harmless when closed. */
  stop(): this {
    if (!this.#closed) this.#native.stop();
    this.#running = false;
    running.delete(this);
    return this;
  }

  /** Releases the native handles for good. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#running = false;
    running.delete(this);
    this.#native.close();
  }

  /** Makes the observer keep the process alive while it runs. */
  ref(): this {
    this.#live('ref').ref();
    return this;
  }

  /** Lets the process exit while the observer runs (the default). */
  unref(): this {
    this.#live('unref').unref();
    return this;
  }

  /** Clears the statistics and the trace buffer and starts a new window now. */
  reset(): this {
    this.#live('reset').reset();
    return this;
  }

  /** A snapshot of the current window. Calls no JavaScript per iteration to produce it. */
  stats(): LoopStats {
    const numbers = this.#numbers;
    const times = this.#times;
    this.#live('stats').snapshot(numbers, times);
    let at = 4 * HISTOGRAM_FIELDS;
    const iterations = numbers[at++];
    const windowNs = numbers[at++];
    const idleNs = numbers[at++];
    const metricsAvailable = numbers[at++] === 1;
    const events = numbers[at++];
    const eventsWaiting = numbers[at++];
    const loopCount = numbers[at++];
    const longCount = numbers[at++];
    const longestNs = numbers[at++];
    const longestPollWaitNs = numbers[at++];
    const longestPollWorkNs = numbers[at++];
    const longestOutsidePollNs = numbers[at++];
    const stats: LoopStats = {
      iterations,
      iteration: summary(numbers, 0),
      pollWait: summary(numbers, HISTOGRAM_FIELDS),
      pollWork: summary(numbers, 2 * HISTOGRAM_FIELDS),
      outsidePoll: summary(numbers, 3 * HISTOGRAM_FIELDS),
      utilization: windowNs > 0 ? 1 - idleNs / windowNs : 0,
      windowNs,
      idleNs,
      longIterations: {
        count: longCount,
        thresholdNs: this.#blockThresholdNs,
        longest:
          longCount > 0
            ? {
                durationNs: longestNs,
                pollWaitNs: longestPollWaitNs,
                pollWorkNs: longestPollWorkNs,
                outsidePollNs: longestOutsidePollNs,
                endedAtNs: times[2],
              }
            : null,
      },
      trace: {
        capacity: this.#traceCapacity,
        buffered: this.#native.traceBuffered(),
        dropped: this.#native.traceDropped(),
      },
      clock: this.#clock(),
      windowStartNs: times[0],
      windowEndNs: times[1],
    };
    if (metricsAvailable) Object.assign(stats, { events, eventsWaiting, loopCount });
    return stats;
  }

  /** Drains the native trace ring buffer: every buffered event, oldest first. */
  trace(): PhaseEvent[] {
    const [times, iterations, phases] = this.#live('trace').drainTrace();
    const events: PhaseEvent[] = new Array(times.length);
    for (let i = 0; i < times.length; i++) {
      events[i] = { phase: PHASE_NAMES[phases[i]] as MarkerPhase, timeNs: times[i], iteration: iterations[i] };
    }
    return events;
  }

  /**
   * Drains the native trace ring buffer as columns (typed arrays): the same events as `trace()`
   * without an object per event, and with each poll phase's wait for I/O on its check entry.
   */
  traceColumns(): TraceColumns {
    const [timesNs, iterations, phases, pollWaitsNs] = this.#live('traceColumns').drainTrace();
    return { timesNs, iterations, phases, pollWaitsNs };
  }

  /** Trace events overwritten because the ring buffer was full, since start or reset. */
  get traceDropped(): number {
    return this.#closed ? 0 : this.#native.traceDropped();
  }

  /**
   * The phase the calling code runs in, as far as the markers tell: 'poll' between prepare
   * and check, 'check' after check. Only with phase markers on can it say 'timers' (after the
   * timer marker) or 'close' (after the close marker); without them anything after check
   * reads 'check'. 'unknown' before the first marker and while stopped.
   */
  currentPhase(): Phase {
    if (this.#closed) return 'unknown';
    return PHASE_NAMES[this.#native.currentPhase()] ?? 'unknown';
  }

  /**
   * @internal Native bucket read-out of histogram `which` (0 iteration, 1 pollWait, 2 pollWork,
   * 3 outsidePoll) into `out` (see src/histogram/native-buckets.ts); returns the numbers written.
   */
  readBuckets(which: number, out: Float64Array): number {
    return this.#live('stats').buckets(which, out);
  }

  #clock(): LoopStats['clock'] {
    const [source, resyncs] = this.#native.clockInfo();
    return { source, resyncs };
  }

  #live(method: string) {
    if (this.#closed) throw invalidState(`LoopObserver.${method}() called after close()`);
    return this.#native;
  }

  #configure(): void {
    if (this.#closed) return;
    let mask = 1 << PhaseCode.LongIteration; // rare by definition: always reported
    for (const [name, code] of Object.entries(MARKER_EVENTS)) {
      if (this.listenerCount(name) > 0) mask |= 1 << code;
    }
    const idle = this.#idleOption || this.listenerCount('idle') > 0;
    const markers =
      this.#markersOption ?? (this.listenerCount('timers') > 0 || this.listenerCount('close') > 0);
    this.#native.configure(idle, markers, mask);
  }
}
