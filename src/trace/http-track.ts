/**
 * A thread's HTTP requests in the trace (the finished requests uvscope's request tracker
 * published on `uvscope:http:request`, recorded by thread-recorder.ts, and those still in flight
 * when the recording ended: in-flight-requests.ts) and the links between
 * them and the loop's trouble:
 * - each request as an async slice pair (`ph` `b`/`e`), so that requests in flight at once are
 *   drawn side by side: in the category and with the `detail` of a `performance.measure()`
 *   entry of DevTools' extensibility API (`devtools.track`), which is how DevTools' Performance
 *   panel draws async slices on a track of their own (one per thread, in the `HTTP requests`
 *   group); Perfetto and chrome://tracing draw them as the process's async slices;
 * - a stall to the request its reports named (the report's request, matched to the record by
 *   method, URL and start time: the report carries no id);
 * - a long iteration to the requests a stall report inside it named (the code that blocked ran
 *   for them) and to the requests in flight while it ran (they waited for it: which of them ran
 *   code in it, the loop's data does not tell).
 * Pure functions, addon-free (the CLI parent reads the trace with them). Lifetime: none.
 * @internal
 * @module
 */
import type { HttpRequestRecord } from '../channels';
import type { StallEvent, StallRequest } from '../loop/stall-watchdog';
import { IN_FLIGHT_NOTE } from './in-flight-requests';
import type { TraceEvent } from './trace-event';

/** The category of the request slices: DevTools draws async slices of this category only (with a `detail.devtools` track). */
export const HTTP_REQUEST_CATEGORY = 'blink.user_timing';
/** Marks uvscope's request slices among other events of that category (args.uvscope). */
export const HTTP_REQUEST_MARK = 'http-request';
/** DevTools' track group of the request tracks. */
export const HTTP_TRACK_GROUP = 'HTTP requests';
/** A slice name is cut to this many characters (the full URL is in args). */
const MAX_NAME_CHARS = 200;
/** Requests named per long iteration (their number is in full). */
export const MAX_LINKED_REQUESTS = 10;
/**
 * A stall report's request and the tracker's record of it read the clock a few µs apart (the
 * native table's start, then the record's): the record that started nearest, within this, is it.
 */
const MATCH_WINDOW_NS = 100_000_000n;

/** `GET /path?query`, cut to MAX_NAME_CHARS, control characters escaped (one line). */
export function requestName(method: string, url: string): string {
  const name = `${method || '?'} ${url}`.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return name.length > MAX_NAME_CHARS ? `${name.slice(0, MAX_NAME_CHARS - 1)}…` : name;
}

/** The DevTools track of a thread's requests (in group HTTP_TRACK_GROUP). */
export function requestTrackName(pid: number, threadName: string): string {
  return `${threadName} (pid ${pid})`;
}

/** A request, as a stall or a long iteration refers to it: `id` when its record is known. */
export interface RequestRef {
  name: string;
  id?: number;
}

/**
 * The records of one thread by the tracker's id, and by method and URL (nearest start) as a
 * fallback, to find the one a stall report named. A report's
 * URL is cut at 2,048 bytes: a record whose URL begins with a cut one matches too.
 */
export class RequestIndex {
  readonly #byName = new Map<string, HttpRequestRecord[]>();
  readonly #byId = new Map<number, HttpRequestRecord>();
  readonly #long: HttpRequestRecord[] = [];

  constructor(records: readonly HttpRequestRecord[]) {
    for (const r of records) {
      this.#byId.set(r.id, r);
      const key = `${r.method} ${r.url}`;
      let list = this.#byName.get(key);
      if (!list) this.#byName.set(key, (list = []));
      list.push(r);
      if (Buffer.byteLength(r.url) > 2000) this.#long.push(r);
    }
  }

  /** The record of the request a report named, when it finished while recorded. */
  find(request: StallRequest): HttpRequestRecord | undefined {
    // The tracker's id: exact (the checks guard against a record of another thread's numbering).
    const byId = this.#byId.get(request.id);
    if (byId && byId.method === request.method && byId.url.startsWith(request.url)) return byId;
    const exact = this.#byName.get(`${request.method} ${request.url}`) ?? [];
    const candidates = exact.length ? exact : this.#long.filter((r) => r.method === request.method && r.url.startsWith(request.url));
    let best: HttpRequestRecord | undefined;
    let bestNs = MATCH_WINDOW_NS + 1n;
    for (const r of candidates) {
      const d = r.startedAtNs > request.startedAtNs ? r.startedAtNs - request.startedAtNs : request.startedAtNs - r.startedAtNs;
      if (d < bestNs) [best, bestNs] = [r, d];
    }
    return best;
  }

  /** The reference to a report's request: with its record's id when found. */
  ref(request: StallRequest): RequestRef {
    const record = this.find(request);
    return { name: requestName(request.method, request.url), ...(record ? { id: record.id } : {}) };
  }
}

/** The request of a stall: the watchdog's choice (the first report that named one, else its late stack). */
export function stallRequestOf(stall: StallEvent): StallRequest | undefined {
  return stall.request ?? stall.reports.find((r) => r.request)?.request ?? stall.lateStack?.request;
}

/** The share of a report's time the blocked thread was on a CPU (0 to 1), when the report has `cpuNs`. */
export function cpuShare(report: { cpuNs?: number; elapsedNs: number }): number | undefined {
  if (report.cpuNs === undefined || !(report.elapsedNs > 0)) return undefined;
  return Math.min(1, Math.max(0, report.cpuNs / report.elapsedNs));
}

/** What a long iteration is linked to. */
export interface LongIterationRequests {
  /** Requests a stall report inside the iteration named: the blocking code ran for them. */
  stalled: RequestRef[];
  /** How many finished requests were in flight during the iteration (started before it ended, ended after it began). */
  inFlight: number;
  /** The first MAX_LINKED_REQUESTS of those, in order of start. */
  inFlightSample: RequestRef[];
}

/**
 * Links each iteration (`[startNs, endNs]`) to requests: through the stalls that began in it
 * and by overlap with the records. One sweep over both sorted by start: the requests still in
 * flight at an iteration are kept, those that ended before it are let go (iterations of a thread
 * do not overlap).
 */
export function linkIterations(
  iterations: readonly { startNs: bigint; endNs: bigint }[],
  stalls: readonly StallEvent[],
  records: readonly HttpRequestRecord[],
  index: RequestIndex = new RequestIndex(records),
): LongIterationRequests[] {
  const order = iterations.map((_, i) => i).sort((a, b) => (iterations[a].startNs < iterations[b].startNs ? -1 : iterations[a].startNs > iterations[b].startNs ? 1 : 0));
  const sorted = [...records].sort((a, b) => (a.startedAtNs < b.startedAtNs ? -1 : a.startedAtNs > b.startedAtNs ? 1 : 0));
  const out: LongIterationRequests[] = new Array(iterations.length);
  let next = 0;
  let active: HttpRequestRecord[] = [];
  for (const i of order) {
    const { startNs, endNs } = iterations[i];
    while (next < sorted.length && sorted[next].startedAtNs < endNs) active.push(sorted[next++]);
    active = active.filter((r) => r.endedAtNs > startNs);
    const stalled: RequestRef[] = [];
    for (const stall of stalls) {
      if (stall.startedAtNs < startNs || stall.startedAtNs >= endNs) continue;
      // Every report's request: a stall can run code of several requests (their continuations in one callback's microtasks).
      const named = [stallRequestOf(stall), ...stall.reports.map((r) => r.request), stall.lateStack?.request];
      for (const request of named) {
        if (!request) continue;
        const ref = index.ref(request);
        if (!stalled.some((s) => s.name === ref.name && s.id === ref.id)) stalled.push(ref);
      }
    }
    out[i] = {
      stalled,
      inFlight: active.length,
      inFlightSample: active.slice(0, MAX_LINKED_REQUESTS).map((r) => ({ name: requestName(r.method, r.url), id: r.id })),
    };
  }
  return out;
}

/** A trace event of this module's kinds: an async slice's begin or end. */
type AsyncEvent = TraceEvent & { cat: string; ph: 'b' | 'e'; id2: { local: string }; tid: number; ts: number };

/** The async id of a request's slices: unique in a trace of several processes (DevTools pairs them by category, id and name alone). */
export function requestSliceId(pid: number, tid: number, id: number): string {
  return `http:${pid}:${tid}:${id}`;
}

/**
 * A thread's requests as async slice pairs, in the trace's µs (`us` of a monotonic ns time).
 * Args of the begin event: the request (`id`, `method`, `url`, `protocol`, `status`,
 * `completed`, `durationMs`) and `stalls`, the stalls whose report named it; `detail`: DevTools'
 * track (colour `error` for a request with a stall of its own, `warning` for one not completed).
 * A request still in flight when the trace ended (`inFlight`: in-flight-requests.ts) ends at
 * that end; its name ends with `(in flight at trace end)`, its args have `inFlight: true` and
 * `note`, its `durationMs` is its time so far.
 */
export function httpRequestEvents(
  pid: number,
  tid: number,
  threadName: string,
  records: readonly HttpRequestRecord[],
  us: (ns: bigint) => number,
  stallsByRequest: ReadonlyMap<number, number> = new Map(),
): AsyncEvent[] {
  return [...httpRequestEventStream(pid, tid, threadName, records, us, stallsByRequest)];
}

/** httpRequestEvents() one at a time, each built when it is read. */
export function* httpRequestEventStream(
  pid: number,
  tid: number,
  threadName: string,
  records: readonly HttpRequestRecord[],
  us: (ns: bigint) => number,
  stallsByRequest: ReadonlyMap<number, number> = new Map(),
): Generator<AsyncEvent> {
  const track = requestTrackName(pid, threadName);
  for (const r of records) {
    const name = r.inFlight ? `${requestName(r.method, r.url)} (${IN_FLIGHT_NOTE})` : requestName(r.method, r.url);
    const durationMs = Number(r.endedAtNs - r.startedAtNs) / 1e6;
    const stalls = stallsByRequest.get(r.id) ?? 0;
    const devtools = {
      dataType: 'track-entry',
      track,
      trackGroup: HTTP_TRACK_GROUP,
      color: stalls ? 'error' : r.completed ? 'primary' : 'warning',
      tooltipText: r.inFlight
        ? `${name}: ${durationMs.toFixed(2)} ms so far${stalls ? `, ${stalls} stall${stalls === 1 ? '' : 's'}` : ''}`
        : `${name}: ${r.statusCode || 'no status'}, ${durationMs.toFixed(2)} ms${stalls ? `, ${stalls} stall${stalls === 1 ? '' : 's'}` : ''}${r.completed ? '' : ', not completed'}`,
      properties: [
        ['status', String(r.statusCode)],
        ['completed', String(r.completed)],
        ['stalls', String(stalls)],
        ['request id', String(r.id)],
        ...(r.inFlight ? [['in flight', IN_FLIGHT_NOTE]] : []),
      ],
    };
    const id2 = { local: requestSliceId(pid, tid, r.id) };
    const args = {
      uvscope: HTTP_REQUEST_MARK,
      id: r.id,
      method: r.method,
      url: r.url,
      protocol: r.protocol,
      status: r.statusCode,
      completed: r.completed,
      durationMs,
      stalls,
      thread: threadName,
      ...(r.inFlight ? { inFlight: true, note: IN_FLIGHT_NOTE } : {}),
      detail: JSON.stringify({ devtools }),
    };
    yield { name, cat: HTTP_REQUEST_CATEGORY, ph: 'b', id2, pid, tid, ts: us(r.startedAtNs), args };
    yield { name, cat: HTTP_REQUEST_CATEGORY, ph: 'e', id2, pid, tid, ts: us(r.endedAtNs) };
  }
}
