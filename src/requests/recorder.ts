/**
 * The hub between what sees Node's pool requests (the wrappers of wrapper-source.ts, or the
 * async_hooks hook of hook-source.ts) and the monitors counting them: one recorder per thread
 * (module state is per thread), alive for the life of the thread, active while at least one
 * monitor is. It numbers requests (a monitor ignores those numbered before it started), reads
 * the clock, tells every running monitor (a {@link Sink}) about each submission and settlement,
 * publishes each settled request on `uvscope:threadpool:request` while it has subscribers, and
 * hands uvscope's own jobs (from their job channels) to the monitors.
 * @internal
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';

import { JOB_CHANNEL, JOB_SUBMIT_CHANNEL, JobRecord, POOL_REQUEST_CHANNEL, PoolRequestRecord } from '../channels';

const requestChannel = diagnosticsChannel.channel(POOL_REQUEST_CHANNEL);

/** What a running monitor is told. Times are performance.now() ms. */
export interface Sink {
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
  callback: ((...args: unknown[]) => unknown) | undefined = undefined;
  slot: symbol | undefined = undefined;
  /** fs: diverted by the `context` setter, not yet seen (named) by a binding wrapper. */
  unnamed = false;
  constructor(
    /** Renamed by fs-requests.ts while still unsubmitted. */
    public kind: string,
    readonly seq: number,
    readonly startMs: number,
  ) {}
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

  add(sink: Sink): void {
    if (this.sinks.length === 0) {
      diagnosticsChannel.subscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.subscribe(JOB_CHANNEL, this.#onJob);
    }
    if (!this.sinks.includes(sink)) this.sinks = [...this.sinks, sink];
  }

  /** Returns whether `sink` was running. */
  remove(sink: Sink): boolean {
    if (!this.sinks.includes(sink)) return false;
    this.sinks = this.sinks.filter((s) => s !== sink);
    if (this.sinks.length === 0) {
      diagnosticsChannel.unsubscribe(JOB_SUBMIT_CHANNEL, this.#onJobSubmitted);
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, this.#onJob);
    }
    return true;
  }

  /** A request of `kind` about to be submitted: numbered and timed now, told to the monitors by submit() (or settle()). */
  create(kind: string): TrackedRequest {
    return new TrackedRequest(kind, this.#seq++, performance.now());
  }

  /** `request` is in flight (unless it settled already, synchronously inside its submission). */
  submit(request: TrackedRequest): void {
    if (request.state !== RequestState.Created) return;
    request.state = RequestState.InFlight;
    const sinks = this.sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i].submitted(request.kind, request.startMs);
  }

  /** `request` turned out not to be on its way to the pool; a no-op once it settled. */
  withdraw(request: TrackedRequest): void {
    const was = request.state;
    request.state = RequestState.Done;
    if (was !== RequestState.InFlight) return;
    const nowMs = performance.now();
    for (const sink of this.sinks) sink.withdrawn(request.kind, request.seq, nowMs);
  }

  /** `request`'s callback is starting (or its promise settled): settled now; a no-op the second time. */
  settle(request: TrackedRequest, failed: boolean): void {
    const was = request.state;
    if (was === RequestState.Done) return;
    request.state = RequestState.Done;
    const sinks = this.sinks;
    if (sinks.length === 0) return;
    const endMs = performance.now();
    if (was === RequestState.Created) for (let i = 0; i < sinks.length; i++) sinks[i].submitted(request.kind, request.startMs);
    const latencyNs = (endMs - request.startMs) * 1e6;
    const outcome = failed ? 'failed' : 'completed';
    for (let i = 0; i < sinks.length; i++) sinks[i].settled(request.kind, request.seq, outcome, latencyNs, endMs, false);
    this.publish(request.kind, outcome, request.startMs, latencyNs);
  }

  /** Publishes one settled request of Node's on the request channel, if it has subscribers. */
  publish(kind: string, outcome: PoolRequestRecord['outcome'], startMs: number, latencyNs: number): void {
    if (requestChannel.hasSubscribers) {
      requestChannel.publish({ kind, outcome, submittedAtNs: toClockNs(startMs), latencyNs } satisfies PoolRequestRecord);
    }
  }

  #onJobSubmitted = () => {
    const now = performance.now();
    for (const sink of this.sinks) sink.submitted(undefined, now);
  };

  #onJob = (message: unknown) => {
    const job = message as JobRecord;
    const now = performance.now();
    const kind = `uvscope.${job.kernel}`;
    const latencyNs = Number(job.settledAt - job.queuedAt);
    // Jobs submitted before a monitor started were not counted in by it: the sink tells by time.
    for (const sink of this.sinks) sink.settled(kind, -Number(job.queuedAt), job.outcome, latencyNs, now, false);
  };
}
