/**
 * Pure queries over a finished TraceModel (trace-model.ts): self time per function in a time range
 * from a thread's CPU samples (`topFunctions`, which the fold uses for long iterations too); the
 * slowest HTTP requests with the stalls and long iterations of their time and the pool work they
 * submitted (`slowestRequests`: by the records' request ids, by time for records without one); a quantile of the HTTP requests' durations; Node's pool requests by kind.
 * No state: each call reads the model it is given.
 * @internal
 * @module
 */
import type { TraceEvent } from './format';
import type { FunctionTime, HttpRequestModel, Samples, ThreadModel, TraceModel } from './trace-model';

const NOT_CODE = new Set(['(root)', '(idle)']);

/** Self time per function in [fromUs, toUs): each sample counts until the next (at most two intervals). */
export function topFunctions(samples: Samples | undefined, fromUs: number, toUs: number, limit = 5): FunctionTime[] {
  if (!samples) return [];
  const { timesUs, leaves, intervalUs } = samples;
  const self = new Map<string, number>();
  // First sample at or after fromUs (binary search: samples are in time order).
  let lo = 0;
  let hi = timesUs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (timesUs[mid] < fromUs) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < timesUs.length && timesUs[i] < toUs; i++) {
    const next = i + 1 < timesUs.length ? timesUs[i + 1] : timesUs[i] + intervalUs;
    const us = Math.min(next, toUs, timesUs[i] + 2 * intervalUs) - timesUs[i];
    if (NOT_CODE.has(leaves[i]) || us <= 0) continue;
    self.set(leaves[i], (self.get(leaves[i]) ?? 0) + us);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, us]) => ({ name, selfMs: us / 1000 }));
}

/** A slow request with what happened on its thread while it was in flight. */
export interface SlowRequest {
  thread: ThreadModel;
  request: HttpRequestModel;
  /**
   * Stalls while it was in flight. `own`: a report of the stall named this request (its code
   * blocked the loop); the others' it only waited for (`request`: the one they named, if any).
   */
  stalls: { startUs: number; durationMs: number; phase: string; onCpu?: number; own: boolean; request?: string; context?: Record<string, unknown> }[];
  /** Long iterations while it was in flight; `own`: a stall report inside it named this request. */
  long: { iteration: number; startUs: number; durationMs: number; own: boolean }[];
  /**
   * Node's pool requests it submitted: their latency, submitted to callback. Those whose record
   * names an HTTP request (`httpRequestId`) count for that request only; those whose record names
   * none count for every request of the thread in flight when they were submitted (`byTime` of
   * `count`).
   */
  pool: { count: number; byTime: number; latencyMs: number; longest?: { kind: string; latencyMs: number } };
  /** uvscope's pool jobs it submitted, linked as `pool` is: their wait in the queue. */
  jobs: { count: number; byTime: number; queueWaitMs: number };
}

const overlaps = (aUs: number, bUs: number, fromUs: number, toUs: number) => aUs < toUs && bUs > fromUs;

/** The `n` longest HTTP requests of every thread (one in flight at the trace's end by its time so far), each with the stalls, long iterations and pool work of its time on its thread. */
export function slowestRequests(model: TraceModel, n = 5): SlowRequest[] {
  const all = model.threads.flatMap((thread) => thread.httpRequests.map((request) => ({ thread, request })));
  all.sort((a, b) => b.request.durationMs - a.request.durationMs);
  return all.slice(0, n).map(({ thread, request }) => {
    const { startUs: from, endUs: to, id, name } = request;
    const ownStall = (s: TraceEvent) => (s.args?.requestId !== undefined ? s.args.requestId === id : s.args?.request === name);
    const stalls = thread.stalls
      .filter((s) => overlaps(s.ts!, s.ts! + (s.dur ?? 0), from, to))
      .map((s) => ({
        startUs: s.ts!,
        durationMs: Number(s.args?.durationMs),
        phase: String(s.args?.phase),
        ...(typeof s.args?.onCpu === 'number' ? { onCpu: s.args.onCpu } : {}),
        own: ownStall(s),
        ...(typeof s.args?.request === 'string' ? { request: s.args.request } : {}),
        ...(s.args?.context && typeof s.args.context === 'object' ? { context: s.args.context as Record<string, unknown> } : {}),
      }));
    const long = thread.long
      .filter((l) => l.iteration !== 0 && overlaps(l.startUs, l.startUs + l.durationMs * 1000, from, to))
      .sort((a, b) => a.startUs - b.startUs)
      .map((l) => ({ iteration: l.iteration, startUs: l.startUs, durationMs: l.durationMs, own: (l.stallRequests ?? []).some((r) => (r.id !== undefined ? r.id === id : r.name === name)) }));
    // Linked by the record's request id where it has one, else by time: submitted while in flight.
    const submittedBy = (httpRequestId: unknown, submittedUs: number) =>
      typeof httpRequestId === 'number' ? (httpRequestId === id ? 'id' : undefined) : submittedUs >= from && submittedUs <= to ? 'time' : undefined;
    const pool: SlowRequest['pool'] = { count: 0, byTime: 0, latencyMs: 0 };
    for (const r of thread.requests) {
      const link = submittedBy(r.httpRequestId, r.startUs);
      if (link === undefined) continue;
      const latencyMs = (r.endUs - r.startUs) / 1000;
      pool.count++;
      if (link === 'time') pool.byTime++;
      pool.latencyMs += latencyMs;
      if (!pool.longest || latencyMs > pool.longest.latencyMs) pool.longest = { kind: r.kind, latencyMs };
    }
    // uvscope's jobs are on the process's pool tracks (the main thread's model), each naming the thread that submitted it.
    const jobs: SlowRequest['jobs'] = { count: 0, byTime: 0, queueWaitMs: 0 };
    const main = model.threads.find((t) => t.pid === thread.pid && t.tid === 0);
    for (const j of main?.jobs ?? []) {
      const waitMs = Number(j.args?.queueWaitMs ?? 0);
      if (j.args?.thread !== thread.name) continue;
      const link = submittedBy(j.args?.httpRequestId, j.ts! - waitMs * 1000);
      if (link === undefined) continue;
      jobs.count++;
      if (link === 'time') jobs.byTime++;
      jobs.queueWaitMs += waitMs;
    }
    return { thread, request, stalls, long, pool, jobs };
  });
}

/** The q-quantile (0 to 1) of the finished HTTP requests' durations (nearest rank), ms; undefined without requests. */
export function requestDurationQuantile(model: TraceModel, q: number): number | undefined {
  const durations = model.httpDurationsMs ?? Float64Array.from(model.threads.flatMap((t) => t.httpRequests.filter((r) => !r.inFlight).map((r) => r.durationMs))).sort();
  if (!durations.length) return undefined;
  return durations[Math.min(durations.length - 1, Math.max(0, Math.ceil(q * durations.length) - 1))];
}

/** Pool requests by kind over every thread of every process: counts summed, p50/p99 the largest of the threads'. */
export function requestsByKind(model: TraceModel): [string, { count: number; failed: number; p50Ms: number; p99Ms: number }][] {
  const kinds = new Map<string, { count: number; failed: number; p50Ms: number; p99Ms: number }>();
  for (const p of model.processes) {
    for (const t of p.threads) {
      for (const [kind, k] of Object.entries(t.requests ?? {})) {
        if (kind.startsWith('uvscope.')) continue;
        const sum = kinds.get(kind) ?? { count: 0, failed: 0, p50Ms: 0, p99Ms: 0 };
        sum.count += k.count;
        sum.failed += k.failed;
        sum.p50Ms = Math.max(sum.p50Ms, k.p50Ms);
        sum.p99Ms = Math.max(sum.p99Ms, k.p99Ms);
        kinds.set(kind, sum);
      }
    }
  }
  return [...kinds.entries()].sort((a, b) => b[1].count - a[1].count);
}
