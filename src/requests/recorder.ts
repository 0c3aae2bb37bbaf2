/**
 * The hub between what sees Node's pool requests (the wrappers of wrapper-source.ts, or the
 * async_hooks hook of hook-source.ts) and the monitors counting them: one recorder per thread
 * (module state is per thread), alive for the life of the thread, active while at least one
 * monitor is. It numbers requests (a monitor ignores those numbered before it started), reads
 * the clock, tells every running monitor (a {@link Sink}) about each submission and settlement,
 * publishes each settled request on `uvscope:threadpool:request` while it has subscribers (with
 * the HTTP request it was submitted for, noted at submission while the HTTP tracker runs:
 * http-request-context.ts; the trampolines call its callback as that request's), and hands
 * uvscope's own jobs (from their job channels) to the monitors.
 *
 * The wrapper source's submissions and settlements, one per request each, are written to a log
 * (a Float64Array of 1024 events) that the monitors fold into their counts a batch at a time:
 * when it is full, before any other event is told, and before a monitor is added, removed or
 * read. Per request that touches a few bytes of one array instead of each monitor's counts and
 * histograms, whose cache lines the pool thread, sharing a CPU with the loop, has evicted by the
 * time a request completes (measured: the monitor's bookkeeping cost 3-5% of an fs.stat done
 * one at a time that way, the log less than 1%).
 * @internal
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';

import { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, JobRecord, POOL_REQUEST_CHANNEL, PoolRequestRecord } from '../channels';
import { currentHttpRequestId } from '../http-request-context';

const requestChannel = diagnosticsChannel.channel(POOL_REQUEST_CHANNEL);

/** The log's event types (an event's code is kind id x 4 + type). */
export const LoggedEvent = { Submitted: 0, Completed: 1, Failed: 2 } as const;
/** Doubles per event in the log: code, seq, time (performance.now() ms), latency ns (settled events). */
export const EVENT_SIZE = 4;
const LOG_EVENTS = 1024;

/** Kinds by id, for the log (ids are per thread, for its life). */
const kindNames: string[] = [];
const kindIds = new Map<string, number>();

/** The id of `kind` in the log. */
export function kindId(kind: string): number {
  let id = kindIds.get(kind);
  if (id === undefined) {
    id = kindNames.length;
    kindNames.push(kind);
    kindIds.set(kind, id);
  }
  return id;
}

/** What a running monitor is told. Times are performance.now() ms. */
export interface Sink {
  /** Events of the log, `length` doubles from the start of `log` (see {@link EVENT_SIZE}); `kinds` names the kind ids. */
  consume(log: Float64Array, length: number, kinds: readonly string[]): void;
  /** A request of `kind` entered flight at `atMs`; `kind` is undefined for uvscope's jobs, whose kernel is told when they settle. */
  submitted(kind: string | undefined, atMs: number): void;
  /** A request in flight turned out to be of kind `to`, not `from` (hook source: fs requests named after their init). */
  relabeled(from: string, to: string): void;
  /** A request's callback is starting: it is no longer in flight (hook source, which settles it when the callback ends). */
  returned(kind: string, seq: number, atMs: number): void;
  /** A request told as submitted never went to the pool after all (its submission failed without a callback). */
  withdrawn(kind: string, seq: number, atMs: number): void;
  /** Settled; `returned` was told already unless `counted` is false. */
  settled(kind: string, seq: number, outcome: PoolRequestRecord['outcome'], latencyNs: number, atMs: number, counted: boolean): void;
}

/** A request's state in the recorder: numbered and timed, told to the monitors, settled. */
export const RequestState = { Created: 0, InFlight: 1, Done: 2 } as const;
type RequestStateValue = (typeof RequestState)[keyof typeof RequestState];

/**
 * One request seen by the wrapper source, from just before its submission until its callback
 * starts. `callback` and `slot` say where the callback it replaced with a trampoline went
 * (see callbacks.ts).
 */
export class TrackedRequest {
  state: RequestStateValue = RequestState.Created;
  /** `kind`'s id in the log. */
  kindId: number;
  callback: ((...args: unknown[]) => unknown) | undefined = undefined;
  slot: symbol | undefined = undefined;
  /** fs: diverted by the `context` setter, not yet seen (named) by a binding wrapper. */
  unnamed = false;
  /** The HTTP request it was submitted for, 0 when none is known (http-request-context.ts). */
  httpRequestId = 0;
  constructor(
    /** Renamed by fs-requests.ts while still unsubmitted (with kindId). */
    public kind: string,
    id: number,
    readonly seq: number,
    readonly startMs: number,
  ) {
    this.kindId = id;
  }

  rename(kind: string, id: number): void {
    this.kind = kind;
    this.kindId = id;
  }
}

/**
 * performance.now() (ms) to uvscope's ns clock. Both read the same monotonic clock; the offset
 * comes from the tightest of a few hrtime-bracketed reads, since the first performance.now()
 * call of a process is slow (~50 µs here, by which a single pair of reads was off).
 */
const clockOffsetNs = (() => {
  let tightestNs = Infinity;
  let offsetNs = 0;
  for (let i = 0; i < 5; i++) {
    const before = process.hrtime.bigint();
    const nowMs = performance.now();
    const gapNs = Number(process.hrtime.bigint() - before);
    if (gapNs < tightestNs) {
      tightestNs = gapNs;
      offsetNs = Number(before) + gapNs / 2 - nowMs * 1e6;
    }
  }
  return offsetNs;
})();
const toClockNs = (ms: number) => ms * 1e6 + clockOffsetNs;

/** Whether a value Node returned is a promise (instanceof first: cheap, but false for another realm's). */
export const isPromise = (value: unknown): value is Promise<unknown> => value instanceof Promise || types.isPromise(value);

export class RequestRecorder {
  /** The running monitors; replaced, never changed, so that a sink added or removed while they are told is not skipped or told twice. */
  sinks: readonly Sink[] = [];
  #seq = 0;
  #log = new Float64Array(LOG_EVENTS * EVENT_SIZE);
  /** Doubles of the log in use. */
  #logged = 0;

  /** The number the next request gets: a monitor counts requests numbered from here. */
  nextSeq(): number {
    return this.#seq;
  }

  /** A number for a request the hook source tracks. */
  takeSeq(): number {
    return this.#seq++;
  }

  get active(): boolean {
    return this.sinks.length > 0;
  }

  /** Hands the log to every running monitor and empties it. */
  flush(): void {
    const length = this.#logged;
    if (length === 0) return;
    this.#logged = 0;
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i].consume(this.#log, length, kindNames);
  }

  /** The running monitors, for telling them an event directly: the log is flushed first, so that they learn events in order. */
  sinksNow(): readonly Sink[] {
    this.flush();
    return this.sinks;
  }

  add(sink: Sink): void {
    this.flush();
    if (this.sinks.length === 0) {
      diagnosticsChannel.subscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.subscribe(JOB_CHANNEL, this.#onJob);
    }
    if (!this.sinks.includes(sink)) this.sinks = [...this.sinks, sink];
  }

  /** Returns whether `sink` was running. */
  remove(sink: Sink): boolean {
    if (!this.sinks.includes(sink)) return false;
    this.flush();
    this.sinks = this.sinks.filter((s) => s !== sink);
    if (this.sinks.length === 0) {
      diagnosticsChannel.unsubscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, this.#onJob);
    }
    return true;
  }

  #append(type: number, request: TrackedRequest, atMs: number, latencyNs: number): void {
    if (this.#logged === this.#log.length) this.flush();
    const log = this.#log;
    const at = this.#logged;
    log[at] = request.kindId * 4 + type;
    log[at + 1] = request.seq;
    log[at + 2] = atMs;
    log[at + 3] = latencyNs;
    this.#logged = at + EVENT_SIZE;
  }

  /** A request of `kind` (`id` its kindId()) about to be submitted: numbered and timed now, told to the monitors by submit() (or settle()). */
  create(kind: string, id: number): TrackedRequest {
    const request = new TrackedRequest(kind, id, this.#seq++, performance.now());
    request.httpRequestId = currentHttpRequestId();
    return request;
  }

  /** `request` is in flight (unless it settled already, synchronously inside its submission). */
  submit(request: TrackedRequest): void {
    if (request.state !== RequestState.Created) return;
    request.state = RequestState.InFlight;
    if (this.sinks.length > 0) this.#append(LoggedEvent.Submitted, request, request.startMs, 0);
  }

  /** `request` turned out not to be on its way to the pool; a no-op once it settled. */
  withdraw(request: TrackedRequest): void {
    const was = request.state;
    request.state = RequestState.Done;
    if (was !== RequestState.InFlight) return;
    const nowMs = performance.now();
    for (const sink of this.sinksNow()) sink.withdrawn(request.kind, request.seq, nowMs);
  }

  /** `request`'s callback is starting (or its promise settled): settled now; a no-op the second time. */
  settle(request: TrackedRequest, failed: boolean): void {
    const was = request.state;
    if (was === RequestState.Done) return;
    request.state = RequestState.Done;
    if (this.sinks.length === 0) return;
    const endMs = performance.now();
    if (was === RequestState.Created) this.#append(LoggedEvent.Submitted, request, request.startMs, 0);
    const latencyNs = (endMs - request.startMs) * 1e6;
    this.#append(failed ? LoggedEvent.Failed : LoggedEvent.Completed, request, endMs, latencyNs);
    this.publish(request.kind, failed ? 'failed' : 'completed', request.startMs, latencyNs, request.httpRequestId);
  }

  /** Publishes one settled request of Node's on the request channel, if it has subscribers (`httpRequestId` 0: none known). */
  publish(kind: string, outcome: PoolRequestRecord['outcome'], startMs: number, latencyNs: number, httpRequestId: number): void {
    if (!requestChannel.hasSubscribers) return;
    const submittedAtNs = toClockNs(startMs);
    requestChannel.publish(
      (httpRequestId === 0 ? { kind, outcome, submittedAtNs, latencyNs } : { kind, outcome, submittedAtNs, latencyNs, httpRequestId }) satisfies PoolRequestRecord,
    );
  }

  #onJobSubmitted = () => {
    const now = performance.now();
    for (const sink of this.sinksNow()) sink.submitted(undefined, now);
  };

  #onJob = (message: unknown) => {
    const job = message as JobRecord;
    const now = performance.now();
    const kind = `uvscope.${job.kernel}`;
    const latencyNs = Number(job.settledAt - job.queuedAt);
    // Jobs submitted before a monitor started were not counted in by it: the sink tells by time.
    for (const sink of this.sinksNow()) sink.settled(kind, -Number(job.queuedAt), job.outcome, latencyNs, now, false);
  };
}
