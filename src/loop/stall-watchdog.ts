/**
 * `StallWatchdog`: reports a blocked event loop while it is blocked, from a native thread that
 * needs nothing from the blocked one: how long, in which loop phase, and (with the optional
 * stack addon) the JavaScript stack. Lifetime: from `start()` to `close()`; a started watchdog
 * stays alive without references until it is stopped, like a timer.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { threadId } from 'node:worker_threads';

import { invalidArgType, invalidState, outOfRange, validateNumber, validateObject } from '../errors';
import {
  LiveStallReport,
  parseStallReport,
  RawRequest,
  requestOf,
  StallContext,
  StallPhase,
  StallReport,
  StallRequest,
  StallStackFrame,
} from './stall-report-format';
import { acquireHttpRequests, asyncContextFramesInUse, releaseHttpRequests, requestStorage } from './http-requests';
import { ContextLookup, contextLookup, StallContextOptions } from './stall-context';
import { native, NativeStallWatchdog } from '../native';
import { loadStackAddon } from '../stack/load';
import { STALL_CHANNEL } from '../channels';

export { HTTP_REQUEST_CHANNEL, STALL_CHANNEL } from '../channels';
export type { HttpRequestRecord } from '../channels';
export type { LiveStallReport, StallContext, StallPhase, StallReport, StallRequest, StallStackFrame } from './stall-report-format';
export { parseStallReport } from './stall-report-format';
export type { StallContextOptions } from './stall-context';

/** A whole stall, emitted as 'stall' once the watched loop turns again. */
export interface StallEvent {
  threadId: number;
  /** This watchdog's stall number (1, 2, ...). */
  stall: number;
  /** When the blocked stretch began (monotonic clock, ns): the last beat, plus the time poll then waited for I/O. */
  startedAtNs: bigint;
  /** From `startedAtNs` to the first heartbeat after it (or to this callback, if no marker ran since), ns. */
  durationNs: number;
  phase: StallPhase;
  iteration: number;
  /** The reports made while it lasted (the first 100 of them; `reportCount` counts all). */
  reports: StallReport[];
  reportCount: number;
  /**
   * The stack taken when a thread that was inside a native call returned to JavaScript, still
   * within the stall, with the request and context it was working for (as reports have them).
   */
  lateStack?: { capturedAtNs: bigint; frames: StallStackFrame[]; request?: StallRequest; context?: StallContext; contextUnavailable?: string };
  /** The HTTP request the stall happened in: the first report's that has one, else the late stack's. */
  request?: StallRequest;
  /** The user's context fields, found the same way. */
  context?: StallContext;
  thresholdNs: number;
  recovered: true;
}

/** Counts since the watchdog was created. */
export interface StallWatchdogStats {
  /** Stalls detected (including one that is still going on). */
  stalls: number;
  /** The longest and the total duration of the stalls that ended, ns. */
  longestNs: number;
  totalNs: number;
  /** Reports made (first and repeated). */
  reports: number;
  /** Report lines written whole to the report file (0 without one). */
  reportsWritten: number;
  /**
   * Report lines that did not reach the report file: its reader did not keep up (more than
   * 4 MiB waiting) or went away, the disk was full, or the watchdog was closed before they
   * could be written. The next line that gets through says how many (`dropped`).
   */
  reportsDropped: number;
}

/** Options of {@link StallWatchdog}. */
export interface StallWatchdogOptions {
  /** The loop counts as stalled after this long busy without turning, ms. Integer 10 to 3,600,000; default 1000. */
  thresholdMs?: number;
  /** While a stall lasts, one more report every `repeatMs`. 0: only the first. Default `thresholdMs`. */
  repeatMs?: number;
  /**
   * JavaScript stacks from the optional stack addon: `'auto'` (default) when it loads, `true`
   * required (`start()` throws when it cannot load), `false` never.
   */
  stacks?: 'auto' | boolean;
  /**
   * A path (opened for appending; a FIFO without a reader fails with ENXIO) or a file
   * descriptor: every report is written there as one JSON line, while the stall lasts. The
   * watchdog writes to a descriptor of its own, taken at the first `start()` and closed by
   * `close()`: the caller may close theirs at any time. Writing never waits for the reader: a
   * line it has no room for waits in a bounded queue, or is dropped and counted
   * (`stats().reportsDropped`, `dropped` in the next line written).
   */
  file?: string | number;
  /** Frames kept per stack, innermost first. Integer 1 to 1024; default 32. */
  maxFrames?: number;
  /**
   * Name the HTTP request (method, URL, start) a stall happens in, for requests of node:http,
   * node:https and (Node 22+) node:http2 servers on this thread. Default true. Read with the
   * stack, by the optional stack addon: none without it.
   */
  requests?: boolean;
  /** The user's own context to copy into reports (Node 24+): see {@link StallContextOptions}. */
  context?: StallContextOptions;
}

const stallChannel = diagnosticsChannel.channel(STALL_CHANNEL);

/**
 * A report file by path: appended to, created when missing; non-blocking, so that opening a
 * FIFO nobody reads fails (ENXIO) instead of waiting for a reader.
 */
const OPEN_FOR_REPORTS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NONBLOCK;

/** Started watchdogs, held strongly so that one nobody references keeps watching. */
const running = new Set<StallWatchdog>();
/** Live-report subscriptions, held until unsubscribed (a collected one would end silently). */
const subscriptions = new Set<object>();

type RawFrames = StallStackFrame[];
interface RawReport extends Omit<StallReport, 'atNs' | 'request'> {
  atNs: string;
  request?: RawRequest;
}

function report({ request, ...raw }: RawReport): StallReport {
  return { ...raw, atNs: BigInt(raw.atNs), ...requestOf({ request }) };
}

export interface StallWatchdog {
  on(event: 'stall', listener: (stall: StallEvent) => void): this;
  once(event: 'stall', listener: (stall: StallEvent) => void): this;
  off(event: 'stall', listener: (stall: StallEvent) => void): this;
  addListener(event: 'stall', listener: (stall: StallEvent) => void): this;
  removeListener(event: 'stall', listener: (stall: StallEvent) => void): this;
}

/**
 * Watches the loop of the thread that creates it (main thread or a worker) from a native
 * thread. The loop thread only stores a heartbeat at uvscope's markers; no JavaScript runs per
 * iteration and no timer runs in the watched thread. Unref'd by default.
 */
export class StallWatchdog extends EventEmitter {
  readonly #thresholdNs: number;
  readonly #repeatNs: number;
  readonly #stacks: 'auto' | boolean;
  readonly #file: string | number | undefined;
  readonly #maxFrames: number;
  readonly #requests: boolean;
  #context: ContextLookup | undefined;
  #trackingRequests = false;
  #native: NativeStallWatchdog | undefined;
  #refed = false;
  #running = false;
  #closed = false;

  constructor(options: StallWatchdogOptions = {}) {
    super();
    validateObject('options', options);
    const { thresholdMs = 1000, stacks = 'auto', file, maxFrames = 32, requests = true } = options ?? {};
    validateNumber('options.thresholdMs', thresholdMs, { min: 10, max: 3_600_000, integer: true });
    const repeatMs = options?.repeatMs ?? thresholdMs;
    validateNumber('options.repeatMs', repeatMs, { min: 0, max: 3_600_000, integer: true });
    if (repeatMs !== 0 && repeatMs < 10) throw outOfRange('options.repeatMs', '0 or >= 10 && <= 3600000', repeatMs);
    if (stacks !== 'auto' && typeof stacks !== 'boolean') {
      throw invalidArgType('options.stacks', "'auto' or of type boolean", stacks);
    }
    if (file !== undefined) {
      if (typeof file === 'number') {
        validateNumber('options.file', file, { min: 0, max: 2 ** 31 - 1, integer: true });
      } else if (typeof file !== 'string' || file.length === 0 || file.includes('\0')) {
        throw invalidArgType('options.file', 'a non-empty path string or a file descriptor', file);
      }
    }
    validateNumber('options.maxFrames', maxFrames, { min: 1, max: 1024, integer: true });
    this.#thresholdNs = thresholdMs * 1e6;
    this.#repeatNs = repeatMs * 1e6;
    this.#stacks = stacks;
    this.#file = file;
    this.#maxFrames = maxFrames;
    if (typeof requests !== 'boolean') throw invalidArgType('options.requests', 'of type boolean', requests);
    this.#requests = requests;
    this.#context = contextLookup('options.context', options?.context);
  }

  /**
   * Sets (or, with undefined, removes) the user's context copied into reports, as the
   * `context` option does: for a watchdog created before the storage was (the preload's,
   * `require('uvscope/watchdog').watchdog`). One lookup per thread: the last one set wins.
   */
  setContext(context: StallContextOptions | undefined): this {
    this.#live('setContext');
    this.#context = contextLookup('context', context);
    if (this.#running) this.#applyContextLookup();
    return this;
  }

  /** Tells this thread's stack addon what to read of the async context. */
  #applyContextLookup(): void {
    const loaded = loadStackAddon();
    if (!loaded.ok) return;
    loaded.addon.setContextLookup(
      this.#requests ? requestStorage : undefined,
      this.#context?.storage,
      this.#context?.names ?? [],
      this.#context?.paths ?? [],
      asyncContextFramesInUse(),
    );
  }

  /** The threshold, ms. */
  get thresholdMs(): number {
    return this.#thresholdNs / 1e6;
  }

  /** Whether the watchdog thread is running. */
  get running(): boolean {
    return this.#running;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts the watchdog thread. Opens `file` (or duplicates the descriptor) on the first start
   * (an fs error, with its code, when it cannot: EBADF for a descriptor not open for writing)
   * and loads the stack addon (with `stacks: true`, throws `ERR_UVSCOPE_STACKS_UNAVAILABLE` when
   * it cannot). Throws `ERR_UVSCOPE_THREAD_START` when the system cannot start the thread (then
   * nothing of this start is kept). No-op when running.
   */
  start(): this {
    this.#live('start');
    if (this.#running) return this;
    this.#native ??= this.#create();
    this.#native.start();
    this.#running = true;
    running.add(this);
    if (this.#requests && !this.#trackingRequests) {
      this.#trackingRequests = true;
      acquireHttpRequests();
    }
    if (this.#requests || this.#context) this.#applyContextLookup();
    return this;
  }

  /** Stops the watchdog thread (joined before this returns). A stall in progress ends here. */
  stop(): this {
    this.#live('stop');
    this.#native?.stop();
    this.#running = false;
    running.delete(this);
    return this;
  }

  /** Stops for good and releases everything. Idempotent; other methods then throw `ERR_INVALID_STATE`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#running = false;
    running.delete(this);
    if (this.#trackingRequests) {
      this.#trackingRequests = false;
      releaseHttpRequests();
    }
    this.#native?.close();
  }

  /** Keeps the process alive while the watchdog exists (until `unref()` or `close()`). */
  ref(): this {
    this.#live('ref');
    this.#refed = true;
    this.#native?.ref();
    return this;
  }

  /** Lets the process exit while the watchdog runs (the default). */
  unref(): this {
    this.#live('unref');
    this.#refed = false;
    this.#native?.unref();
    return this;
  }

  /** Counts since creation. Never waits for the watchdog's I/O. */
  stats(): StallWatchdogStats {
    this.#live('stats');
    if (!this.#native) return { stalls: 0, longestNs: 0, totalNs: 0, reports: 0, reportsWritten: 0, reportsDropped: 0 };
    const [stalls, longestNs, totalNs, reports, reportsWritten, reportsDropped] = this.#native.stats();
    return { stalls, longestNs, totalNs, reports, reportsWritten, reportsDropped };
  }

  /**
   * Calls `listener` on the calling thread's loop with every report of every watchdog in the
   * process, as it is made, while the watched loop is still blocked (a monitoring tool calls
   * this from a worker of its own). Returns the function that unsubscribes. The subscription
   * does not keep the process alive. Reports wait for the listener's loop in a queue of at most
   * 1,024 lines and 8 MiB: a loop that does not keep up loses the oldest (never the watchdog
   * thread's time: it does not wait for subscribers).
   */
  static onLiveReport(listener: (report: LiveStallReport) => void): () => void {
    if (typeof listener !== 'function') throw invalidArgType('listener', 'of type function', listener);
    const subscription = new native.NativeLiveReportSubscription((line) => listener(parseStallReport(line)));
    subscriptions.add(subscription);
    return () => {
      if (!subscriptions.delete(subscription)) return;
      subscription.close();
    };
  }

  #live(method: string): void {
    if (this.#closed) throw invalidState(`StallWatchdog.${method}() called after close()`);
  }

  #create(): NativeStallWatchdog {
    let provider: unknown;
    let stackUnavailable = '';
    if (this.#stacks !== false || this.#requests || this.#context) {
      const loaded = loadStackAddon();
      if (loaded.ok) {
        provider = loaded.addon.provider();
      } else if (this.#stacks === true) {
        const error = new Error(`StallWatchdog: stacks: true, but ${loaded.reason}`);
        Object.assign(error, { code: 'ERR_UVSCOPE_STACKS_UNAVAILABLE' });
        throw error;
      } else {
        stackUnavailable = loaded.reason;
      }
    }
    // The native side writes to a descriptor of its own (a duplicate, or the same file reopened
    // non-blocking): a path is opened only for the time it takes to make that copy.
    let fd = -1;
    let opened = -1;
    if (typeof this.#file === 'number') fd = this.#file;
    else if (typeof this.#file === 'string') fd = opened = fs.openSync(this.#file, OPEN_FOR_REPORTS, 0o666);
    try {
      return this.#createNative(fd, provider, stackUnavailable);
    } finally {
      if (opened >= 0) fs.closeSync(opened);
    }
  }

  #createNative(fd: number, provider: unknown, stackUnavailable: string): NativeStallWatchdog {
    const self = new WeakRef(this);
    const thresholdNs = this.#thresholdNs;
    const watchdog = new native.NativeStallWatchdog(
      this.#thresholdNs,
      this.#repeatNs,
      this.#stacks !== false,
      fd,
      this.#maxFrames,
      threadId,
      provider,
      stackUnavailable,
      (json) => {
        const raw = JSON.parse(json) as Omit<StallEvent, 'startedAtNs' | 'reports' | 'lateStack' | 'request'> & {
          startedAtNs: string;
          reports: RawReport[];
          lateStack?: { capturedAtNs: string; frames: RawFrames; request?: RawRequest; context?: StallContext; contextUnavailable?: string };
        };
        const event: StallEvent = {
          threadId,
          stall: raw.stall,
          startedAtNs: BigInt(raw.startedAtNs),
          durationNs: raw.durationNs,
          phase: raw.phase,
          iteration: raw.iteration,
          reports: raw.reports.map(report),
          reportCount: raw.reportCount,
          thresholdNs,
          recovered: true,
        };
        if (raw.lateStack) {
          const { request, ...late } = raw.lateStack;
          event.lateStack = { ...late, capturedAtNs: BigInt(late.capturedAtNs), ...requestOf({ request }) };
        }
        const attributed = event.reports.find((r) => r.request) ?? event.lateStack;
        if (attributed?.request) event.request = attributed.request;
        const withContext = event.reports.find((r) => r.context) ?? event.lateStack;
        if (withContext?.context) event.context = withContext.context;
        if (stallChannel.hasSubscribers) stallChannel.publish(event);
        self.deref()?.emit('stall', event);
      },
      this.#requests || this.#context !== undefined,
    );
    if (this.#refed) watchdog.ref();
    return watchdog;
  }
}
