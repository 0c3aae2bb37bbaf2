/**
 * One thread's live figures for the control channel: a LoopObserver in stats mode (no trace
 * ring, no JavaScript per iteration), a StallWatchdog (no report file until a client asks for
 * the live reports: `liveReportsTo(fifo)` starts it again writing them there), a pool-request monitor
 * and a count of the HTTP requests the thread's servers finish. Every STATS_INTERVAL_MS an
 * unref'd timer takes the window's figures and starts a new window (`latest`); each stall
 * that ends goes to `onStall`. Lifetime: from construction to `close()` (at the thread's exit);
 * nothing here keeps the thread alive, and nothing throws into the application: a part that
 * cannot start is left out and said (`watchdogUnavailable`).
 * @internal
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';

import { LoopObserver } from '../loop/observer';
import type { StallEvent, StallWatchdog } from '../loop/stall-watchdog';
import { monitorPoolRequests, PoolRequestMonitor } from '../requests/monitor';
import { LogHistogram } from '../histogram/log-histogram';
import { HTTP_REQUEST_CHANNEL, HttpRequestRecord } from '../channels';
import { frameText, PoolKindStats, requestText, STATS_INTERVAL_MS, StallSummary, ThreadStats } from './protocol';

/** A stall in one line's worth of fields. */
export function summarizeStall(event: StallEvent): StallSummary {
  const summary: StallSummary = {
    threadId: event.threadId,
    stall: event.stall,
    durationNs: event.durationNs,
    phase: event.phase,
    startedAtNs: String(event.startedAtNs),
    endedAtMs: Date.now(),
  };
  const last = event.reports[event.reports.length - 1];
  if (last?.cpuNs !== undefined && last.elapsedNs > 0) summary.cpuShare = Math.min(1, last.cpuNs / last.elapsedNs);
  if (event.request) summary.request = requestText(event.request);
  const frame = event.reports.find((r) => r.stack?.length)?.stack?.[0] ?? event.lateStack?.frames[0];
  if (frame) summary.frame = frameText(frame);
  return summary;
}

export class ThreadStatsCollector {
  readonly #observer: LoopObserver;
  readonly #stallMs: number;
  #watchdog?: StallWatchdog;
  #watchdogUnavailable?: string;
  /** Stalls of the watchdogs replaced by `liveReportsTo`. */
  #stallsBefore = 0;
  readonly #requests?: PoolRequestMonitor;
  readonly #timer: NodeJS.Timeout;
  #http = new LogHistogram();
  readonly #onHttp = (message: unknown) => {
    const record = message as HttpRequestRecord;
    this.#http.record(Number(record.endedAtNs - record.startedAtNs));
  };
  #lastStall?: StallSummary;
  #latest: ThreadStats;
  #closed = false;

  /** `stallMs`: the watchdog's threshold, 0 for none. */
  constructor(
    stallMs: number,
    private readonly onStall: (stall: StallSummary) => void,
    private readonly onStats?: (stats: ThreadStats) => void,
  ) {
    this.#observer = new LoopObserver().start();
    this.#stallMs = stallMs;
    if (stallMs > 0) this.#startWatchdog();
    try {
      this.#requests = monitorPoolRequests();
    } catch {
      // Node's internals not reachable: no pool figures for this thread.
    }
    diagnosticsChannel.subscribe(HTTP_REQUEST_CHANNEL, this.#onHttp);
    this.#latest = this.#take();
    this.#timer = setInterval(() => {
      this.#latest = this.#take();
      try {
        this.onStats?.(this.#latest);
      } catch {
        // as above
      }
    }, STATS_INTERVAL_MS);
    this.#timer.unref();
  }

  #startWatchdog(file?: number): void {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { StallWatchdog: Watchdog } = require('../loop/stall-watchdog') as typeof import('../loop/stall-watchdog');
      const watchdog = new Watchdog({ thresholdMs: this.#stallMs, repeatMs: 0, ...(file !== undefined ? { file } : {}) });
      watchdog.on('stall', (event) => {
        const summary = summarizeStall(event);
        summary.stall += this.#stallsBefore;
        this.#lastStall = summary;
        try {
          this.onStall(summary);
        } catch {
          // A listener's problem stays there.
        }
      });
      this.#watchdog = watchdog.start();
    } catch (error) {
      this.#watchdogUnavailable = String((error as Error).message).split('\n')[0];
    }
  }

  /**
   * From now on the watchdog writes its live reports (one line per stall as it begins, the
   * stall-report line format) to the FIFO at `fifo`, which a client opened for reading: the
   * watchdog is started again with it as its report file (this thread runs, so no stall is in
   * progress). Lines the reader does not take, or taken by nobody once it is gone, are dropped
   * by the watchdog thread, which never waits. Throws when the FIFO cannot be opened (ENXIO:
   * nobody reads it) or is not a FIFO.
   */
  liveReportsTo(fifo: string): void {
    if (this.#closed || this.#stallMs === 0 || !this.#watchdog) return;
    // Checked before the open too: opening a device can do something (a tape rewinds, a modem hangs up).
    const notFifo = () => Object.assign(new Error(`${fifo} is not a FIFO`), { code: 'EINVAL' });
    if (!fs.statSync(fifo).isFIFO()) throw notFifo();
    const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFIFO()) throw notFifo(); // replaced between the two
      this.#stallsBefore += this.#watchdog.stats().stalls;
      this.#watchdog.close();
      this.#watchdog = undefined;
      this.#startWatchdog(fd);
    } finally {
      // The watchdog's report file is a descriptor of its own.
      fs.closeSync(fd);
    }
  }

  /** The last complete window's figures. */
  get latest(): ThreadStats {
    return this.#latest;
  }

  #take(): ThreadStats {
    const loop = this.#observer.stats();
    this.#observer.reset();
    const seconds = loop.windowNs / 1e9;
    const pool: Record<string, PoolKindStats> = {};
    if (this.#requests) {
      const stats = this.#requests.stats();
      this.#requests.reset();
      const windowS = stats.windowNs / 1e9;
      for (const [kind, k] of Object.entries(stats.requests)) {
        const settled = k.completed + k.failed + k.cancelled;
        pool[kind] = { perS: windowS > 0 ? settled / windowS : 0, p99Ns: k.latency.p99, failed: k.failed, inFlight: k.inFlight };
      }
    }
    const http = { perS: seconds > 0 ? this.#http.count / seconds : 0, p99Ns: this.#http.quantile(0.99) };
    this.#http = new LogHistogram();
    const stats: ThreadStats = {
      threadId,
      name: isMainThread ? 'main' : `worker ${threadId}`,
      windowNs: loop.windowNs,
      utilization: loop.utilization,
      iterationsPerS: seconds > 0 ? loop.iterations / seconds : 0,
      iterationP99Ns: loop.iteration.p99,
      iterationMaxNs: loop.iteration.max,
      pool,
      http,
      atMs: Date.now(),
    };
    if (this.#watchdog) stats.stalls = this.#stallsBefore + this.#watchdog.stats().stalls;
    if (this.#lastStall) stats.lastStall = this.#lastStall;
    if (this.#watchdogUnavailable) stats.watchdogUnavailable = this.#watchdogUnavailable;
    return stats;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    diagnosticsChannel.unsubscribe(HTTP_REQUEST_CHANNEL, this.#onHttp);
    this.#requests?.stop();
    this.#watchdog?.close();
    this.#observer.close();
  }
}
