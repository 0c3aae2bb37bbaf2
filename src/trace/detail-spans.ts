/**
 * Which detail a bounded recording (thread-recorder.ts) keeps around its thread's long
 * iterations: the spans of full detail, and the records that overlap them. When a long
 * iteration ends, its span takes at once the ring's newest `turnsBefore` turns (at most
 * BEFORE_MAX_NS before the iteration) and the iteration, and at the next flushes the oldest
 * `turnsAfter` turns after it, for up to AFTER_MAX_NS (the span stays open until then); at the
 * other flushes the ring is trimmed to what a next span would take (`ringKeep`). The thread's
 * startup (its first line to its first loop marker) is a span too. Pool requests and jobs are
 * held up to HOLD_NS (at most MAX_PENDING) and kept when they overlap a span (the open one or
 * the RECENT_SPANS newest); HTTP requests are decided when their window closes (its slowest are
 * kept too). Those still in flight when the recording ends are not decided here: the recorder
 * keeps them all, up to a cap (in-flight-requests.ts). The other records, and the markers
 * trimmed or overwritten outside the spans, are counted in `left`. The ring is the recorder's (`MarkerRing`: what is drained goes into its
 * batch, what is left out makes a gap there), the time the caller's, and the records kept go
 * into the lists it passes. Lifetime: the recorder's (bounded only); the closed spans and
 * `left` go with each batch (`take()`).
 * @internal
 * @module
 */
import { sliceColumns, type TraceColumns } from '../loop/trace-columns';
import type { HttpRequestRecord, JobRecord, LongIterationEvent, PoolRequestRecord } from '../channels';

/** A stretch of full detail, monotonic ns. */
export interface DetailSpan {
  startNs: bigint;
  endNs: bigint;
}

/** Records left out of the detail (summarized in the windows only). */
export interface LeftOut {
  markers: number;
  requests: number;
  jobs: number;
  httpRequests: number;
}

/**
 * The thread's marker ring as the spans take from it (the recorder's: the markers added go
 * into its batch, and markers left out before them are a gap there).
 */
export interface MarkerRing {
  /** Markers in the ring. */
  buffered(): number;
  /** Forgets all but the newest `keep` markers (a gap before the next added). */
  trim(keep: number): void;
  /** The oldest markers (at most `max`), oldest first, removed from the ring. */
  drain(max?: number): TraceColumns;
  /** Adds drained markers to the batch; `afterGap`: markers right before them were left out. */
  add(columns: TraceColumns, afterGap?: boolean): void;
  /** Markers the ring overwrote that nothing counted yet, counted now as left out (a gap): how many. */
  overwritten(): number;
}

/** How far before a long iteration its leading turns may reach, ns. */
const BEFORE_MAX_NS = 200_000_000n;
/** How long after a long iteration its span waits for its `turnsAfter` turns, ns (a flush closes it then). */
const AFTER_MAX_NS = 200_000_000n;
/** Bounded: a record that overlaps no span is left out once it ended this long ago (a span may still begin before it). */
const HOLD_NS = 400_000_000n;
/** Bounded: records waiting for that decision, at most (the oldest are left out). */
const MAX_PENDING = 100_000;
/** Spans a late record is matched against. */
const RECENT_SPANS = 64;

/**
 * Markers the ring keeps for `turns` turns before a long iteration: 4 a turn and more (a turn
 * can have 5: the timers marker stepping behind a late timer), cut to whole turns by iteration
 * number once drained.
 */
const ringKeep = (turns: number) => (turns + 2) * 8;

const overlaps = (s: DetailSpan, fromNs: bigint, toNs: bigint) => fromNs <= s.endNs && toNs >= s.startNs;

export class DetailSpans {
  readonly #options: { turnsBefore?: number; turnsAfter?: number };
  /** Spans closed since the last batch. */
  #spans: DetailSpan[] = [];
  #left: LeftOut = { markers: 0, requests: 0, jobs: 0, httpRequests: 0 };
  // Records waiting to be kept or left out.
  #pendingRequests: PoolRequestRecord[] = [];
  #pendingJobs: JobRecord[] = [];
  #pendingHttp: HttpRequestRecord[] = [];
  /**
   * The span being filled: from its first drained marker; it closes at the first flush that
   * has its `turnsAfter` turns after the last long iteration in it, or AFTER_MAX_NS after it.
   */
  #openSpan?: DetailSpan;
  /** Markers the open span still takes after its last long iteration, and until when. */
  #afterLeft = 0;
  #afterUntilNs = 0n;
  #recentSpans: DetailSpan[] = [];
  /** Spans since the CPU chunk began (its samples inside them are kept). */
  #cpuSpans: DetailSpan[] = [];
  /** The thread's startup (its first line to its first loop marker) is a span too; open until that marker. */
  #startupSpan?: DetailSpan;

  /** `startNs`: when recording began; `options`: the recorder's (turns before and after a long iteration, default 50). */
  constructor(startNs: bigint, options: { turnsBefore?: number; turnsAfter?: number }) {
    this.#options = options;
    this.#startupSpan = { startNs, endNs: 1n << 63n };
    this.#recentSpans.push(this.#startupSpan);
    this.#cpuSpans.push(this.#startupSpan);
  }

  /** A pool request to keep or leave out (`decideRecords`). */
  request(request: PoolRequestRecord): void {
    this.#pendingRequests.push(request);
  }

  /** A job to keep or leave out (`decideRecords`). */
  job(job: JobRecord): void {
    this.#pendingJobs.push(job);
  }

  /** An HTTP request to keep or leave out when its window closes (`decideHttp`). */
  http(request: HttpRequestRecord): void {
    this.#pendingHttp.push(request);
  }

  /** A long iteration ended (its markers the ring's newest): a span takes it and the turns before it, or the open one goes on. */
  longIteration(event: LongIterationEvent, ring: MarkerRing): void {
    // The ring holds the turns before it and the iteration (its last markers): the newest
    // `turnsBefore` turns and the iteration are kept, O(1), and only they are copied.
    this.#left.markers += ring.overwritten();
    // An open span first takes the turns after its own long iteration (the oldest buffered).
    if (this.#openSpan && this.#afterLeft > 0) this.#takeAfter(ring);
    const turnsBefore = this.#options.turnsBefore ?? 50;
    const keep = ringKeep(turnsBefore);
    const buffered = ring.buffered();
    if (buffered > keep) {
      ring.trim(keep);
      this.#left.markers += buffered - keep;
      // Turns left out between the two: the open span ends at its last marker, a new one begins.
      if (this.#openSpan) this.#closeSpan();
    }
    let columns = ring.drain();
    const iterationStartNs = event.endedAtNs - BigInt(Math.round(event.durationNs));
    const fromNs = iterationStartNs - BEFORE_MAX_NS;
    // A new span: whole turns, the newest `turnsBefore` before the iteration (an open one goes on without a cut).
    const fromIteration = this.#openSpan ? -Infinity : event.iteration - turnsBefore;
    let from = 0;
    while (from < columns.timesNs.length && (columns.timesNs[from] < fromNs || columns.iterations[from] < fromIteration)) from++;
    if (from > 0) {
      this.#left.markers += from;
      columns = sliceColumns(columns, from);
    }
    ring.add(columns, from > 0);
    if (!this.#openSpan) this.#openSpan = { startNs: columns.timesNs.length ? columns.timesNs[0] : iterationStartNs, endNs: event.endedAtNs };
    else this.#openSpan.endNs = event.endedAtNs;
    this.#afterLeft = (this.#options.turnsAfter ?? 50) * 4;
    this.#afterUntilNs = event.endedAtNs + AFTER_MAX_NS;
  }

  /**
   * At a flush: the open span takes its turns after so far, and closes when it has them all,
   * when AFTER_MAX_NS passed, or `cut`; with no span open, the ring is trimmed to its newest
   * `turnsBefore` turns.
   */
  flush(ring: MarkerRing, nowNs: bigint, cut: boolean): void {
    // Overwritten before this flush: the oldest, left out (with a span open, its first turns
    // after the long iteration: the span keeps the next ones, after a gap).
    this.#left.markers += ring.overwritten();
    if (this.#openSpan) {
      // The turns after its last long iteration: the oldest since that iteration's drain.
      if (this.#afterLeft > 0) this.#takeAfter(ring);
      if (cut || this.#afterLeft <= 0 || nowNs >= this.#afterUntilNs) this.#closeSpan();
    }
    // While a span waits for its turns after, the ring keeps them (it is not trimmed).
    const keep = ringKeep(this.#options.turnsBefore ?? 50);
    const buffered = ring.buffered();
    if (!this.#openSpan && buffered > keep) {
      ring.trim(keep);
      this.#left.markers += buffered - keep;
    }
  }

  /** The end of the run in detail: the newest turns and those since the last flush, in a last span ending at `nowNs`. */
  finish(ring: MarkerRing, nowNs: bigint): void {
    if (!this.#openSpan) this.#left.markers += ring.overwritten();
    const columns = ring.drain();
    ring.add(columns);
    if (columns.timesNs.length) {
      const span = this.#openSpan ?? { startNs: columns.timesNs[0], endNs: nowNs };
      span.endNs = nowNs;
      this.#openSpan = span;
      this.#closeSpan();
    } else if (this.#openSpan) {
      this.#openSpan.endNs = nowNs;
      this.#closeSpan();
    }
  }

  /** Bounded: the open span takes the oldest buffered markers, as many as it still wants after its long iteration. */
  #takeAfter(ring: MarkerRing): void {
    const columns = ring.drain(this.#afterLeft);
    const n = columns.timesNs.length;
    if (n === 0) return;
    ring.add(columns);
    this.#afterLeft -= n;
    this.#openSpan!.endNs = columns.timesNs[n - 1];
  }

  /** The startup span ends at the first marker. */
  endStartup(atNs: bigint): void {
    const span = this.#startupSpan;
    if (!span) return;
    this.#startupSpan = undefined;
    span.endNs = atNs;
    this.#spans.push(span);
  }

  #closeSpan(): void {
    const span = this.#openSpan!;
    this.#openSpan = undefined;
    this.#spans.push(span);
    this.#recentSpans.push(span);
    if (this.#recentSpans.length > RECENT_SPANS) this.#recentSpans.shift();
    this.#cpuSpans.push(span);
    if (this.#cpuSpans.length > 10_000) this.#cpuSpans.shift();
  }

  /** The spans since the CPU chunk began (a new chunk begins); `openUntilNs`: with the open span so far, cut there. */
  takeCpuSpans(openUntilNs?: bigint): DetailSpan[] {
    const spans = this.#cpuSpans;
    this.#cpuSpans = [];
    return openUntilNs !== undefined && this.#openSpan ? [...spans, { ...this.#openSpan, endNs: openUntilNs }] : spans;
  }

  #overlapsSpan(fromNs: bigint, toNs: bigint): boolean {
    if (this.#openSpan && toNs >= this.#openSpan.startNs) return true;
    for (let i = this.#recentSpans.length - 1; i >= 0; i--) if (overlaps(this.#recentSpans[i], fromNs, toNs)) return true;
    return false;
  }

  /**
   * Keeps the pending records that overlap a span (into `requests` and `jobs`), leaves out those
   * that ended more than HOLD_NS ago (or all, `all`: the last batch), keeps the rest pending. HTTP
   * requests are decided when their window closes (its slowest are kept whole: `decideHttp`).
   */
  decideRecords(nowNs: bigint, all: boolean, requests: PoolRequestRecord[], jobs: JobRecord[]): void {
    const horizonNs = nowNs - HOLD_NS;
    const decide = <T>(pending: T[], kept: T[], range: (r: T) => [bigint, bigint], kind: 'requests' | 'jobs'): T[] => {
      const rest: T[] = [];
      for (const r of pending) {
        const [fromNs, toNs] = range(r);
        if (this.#overlapsSpan(fromNs, toNs)) kept.push(r);
        else if (all || toNs < horizonNs) this.#left[kind]++;
        else rest.push(r);
      }
      if (rest.length > MAX_PENDING) this.#left[kind] += rest.splice(0, rest.length - MAX_PENDING).length;
      return rest;
    };
    this.#pendingRequests = decide(this.#pendingRequests, requests, (r) => {
      const from = BigInt(Math.round(r.submittedAtNs));
      return [from, from + BigInt(Math.round(r.latencyNs))];
    }, 'requests');
    this.#pendingJobs = decide(this.#pendingJobs, jobs, (j) => [j.queuedAt, j.settledAt], 'jobs');
  }

  /** A window closed: its pending HTTP requests are kept (into `kept`) when among its `slowest` or overlapping a span, else left out. */
  decideHttp(slowest: HttpRequestRecord[], kept: HttpRequestRecord[]): void {
    const slow = new Set(slowest);
    for (const r of this.#pendingHttp) {
      if (slow.has(r) || this.#overlapsSpan(r.startedAtNs, r.endedAtNs)) kept.push(r);
      else this.#left.httpRequests++;
    }
    this.#pendingHttp = [];
  }

  /** The spans closed and the counts left out since the last batch (the next batch's begin empty). */
  take(): { spans: DetailSpan[]; left: LeftOut } {
    const taken = { spans: this.#spans, left: this.#left };
    this.#spans = [];
    this.#left = { markers: 0, requests: 0, jobs: 0, httpRequests: 0 };
    return taken;
  }
}
