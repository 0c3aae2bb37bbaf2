/**
 * A window of a bounded recording: what a thread's loop and its pool and HTTP work did in one
 * stretch of time (by default a second), summarized so that the whole run is kept at a cost
 * that grows with its length only by a few hundred bytes a window: the loop's iterations, busy
 * and poll-wait time and time per phase (from the native marker sums, trace-observer.ts),
 * Node's pool requests and uvscope's jobs by kind with count and latency (p50/p99/max), HTTP
 * requests with count, by status class and latency, and the stalls. `WindowAccumulator`
 * collects one thread's records as they arrive (on its loop thread) and closes a window when
 * asked. Times in a `LoopWindow` are monotonic ns; the trace file's form is `WindowInfo`
 * (format.ts). Lifetime: the recorder's.
 * @internal
 * @module
 */
import type { HttpRequestRecord, JobRecord, PoolRequestRecord } from '../channels';
import { LogHistogram } from '../histogram/log-histogram';
import type { WindowReading } from './trace-observer';

/** Count and latency of one kind of work in a window, ms. */
export interface KindSummary {
  count: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface HttpSummary {
  count: number;
  /** By status class: `2xx`, `4xx`..., `none` (no status sent). */
  byStatus: Record<string, number>;
  /** Closed (or reset) before the response was sent whole. */
  notCompleted: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** One window of a thread (bounded recording). */
export interface LoopWindow {
  /** First and last loop marker in it (monotonic ns); a window with no marker spans its flushes. */
  startNs: bigint;
  endNs: bigint;
  iterations: number;
  /** The window's time less its poll waits, ms. */
  busyMs: number;
  pollWaitMs: number;
  /** 1 - pollWait / window. */
  utilization: number;
  /** Time per phase slice, ms (poll includes its wait). */
  phasesMs: { poll: number; check: number; timers: number; pending: number };
  longestIterationMs: number;
  longIterations: number;
  stalls: number;
  /** Node's pool requests by kind (fs.stat, dns.lookup...): submission to callback. */
  requests?: Record<string, KindSummary>;
  /** uvscope's jobs by kernel: queued to settled. */
  jobs?: Record<string, KindSummary>;
  http?: HttpSummary;
}

class KindHistograms {
  readonly #kinds = new Map<string, { h: LogHistogram; failed: number }>();

  record(kind: string, latencyNs: number, failed: boolean): void {
    let k = this.#kinds.get(kind);
    if (!k) this.#kinds.set(kind, (k = { h: new LogHistogram(), failed: 0 }));
    k.h.record(latencyNs);
    if (failed) k.failed++;
  }

  summary(): Record<string, KindSummary> | undefined {
    if (!this.#kinds.size) return undefined;
    const out: Record<string, KindSummary> = {};
    for (const [kind, { h, failed }] of this.#kinds) out[kind] = { count: h.count, failed, p50Ms: h.quantile(0.5) / 1e6, p99Ms: h.quantile(0.99) / 1e6, maxMs: h.max / 1e6 };
    return out;
  }
}

const statusClass = (status: number) => (status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'none');

/** The records of the window being filled; `close()` summarizes them with the native sums. */
export class WindowAccumulator {
  #requests = new KindHistograms();
  #jobs = new KindHistograms();
  #http = new LogHistogram();
  #byStatus: Record<string, number> = {};
  #notCompleted = 0;
  #stalls = 0;
  /** The slowest HTTP requests of the window, slowest first (kept whole in the trace). */
  #slowest: HttpRequestRecord[] = [];

  constructor(readonly slowestKept: number) {}

  request(r: PoolRequestRecord): void {
    this.#requests.record(r.kind, r.latencyNs, r.outcome !== 'completed');
  }

  job(j: JobRecord): void {
    this.#jobs.record(j.kernel, Number(j.settledAt - j.queuedAt), j.outcome !== 'completed');
  }

  http(r: HttpRequestRecord): void {
    const ns = Number(r.endedAtNs - r.startedAtNs);
    this.#http.record(ns);
    const cls = statusClass(r.statusCode);
    this.#byStatus[cls] = (this.#byStatus[cls] ?? 0) + 1;
    if (!r.completed) this.#notCompleted++;
    const slowest = this.#slowest;
    if (slowest.length < this.slowestKept || ns > Number(slowest[slowest.length - 1].endedAtNs - slowest[slowest.length - 1].startedAtNs)) {
      let i = slowest.length;
      while (i > 0 && Number(slowest[i - 1].endedAtNs - slowest[i - 1].startedAtNs) < ns) i--;
      slowest.splice(i, 0, r);
      if (slowest.length > this.slowestKept) slowest.pop();
    }
  }

  stall(): void {
    this.#stalls++;
  }

  /** Ends the window [startNs, endNs] (its first and last marker, or the run's end): its summary, and its slowest HTTP requests. */
  close(reading: WindowReading, startNs: bigint, endNs: bigint): { window: LoopWindow; slowest: HttpRequestRecord[] } {
    const spanNs = Number(endNs - startNs);
    const wait = Math.min(reading.pollWaitNs, spanNs);
    const ms = (ns: number) => Math.round(ns / 1000) / 1000;
    const window: LoopWindow = {
      startNs,
      endNs,
      iterations: reading.iterations,
      busyMs: ms(spanNs - wait),
      pollWaitMs: ms(wait),
      utilization: spanNs > 0 ? Math.round((1 - wait / spanNs) * 10_000) / 10_000 : 0,
      phasesMs: { poll: ms(reading.pollNs), check: ms(reading.checkNs), timers: ms(reading.timersNs), pending: ms(reading.pendingNs) },
      longestIterationMs: ms(reading.longestIterationNs),
      longIterations: reading.longIterations,
      stalls: this.#stalls,
    };
    const requests = this.#requests.summary();
    if (requests) window.requests = requests;
    const jobs = this.#jobs.summary();
    if (jobs) window.jobs = jobs;
    if (this.#http.count) {
      const h = this.#http;
      window.http = { count: h.count, byStatus: this.#byStatus, notCompleted: this.#notCompleted, p50Ms: h.quantile(0.5) / 1e6, p99Ms: h.quantile(0.99) / 1e6, maxMs: h.max / 1e6 };
    }
    const slowest = this.#slowest;
    this.#requests = new KindHistograms();
    this.#jobs = new KindHistograms();
    this.#http = new LogHistogram();
    this.#byStatus = {};
    this.#notCompleted = 0;
    this.#stalls = 0;
    this.#slowest = [];
    return { window, slowest };
  }
}
