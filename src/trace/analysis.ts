/**
 * Reads a uvscope trace file (events and its `uvscope` section) back into what the summary and
 * the HTML report show: per thread, its iterations, its long iterations with their phase split
 * (poll's wait for I/O apart from its work) and the functions that ran in them (self time from
 * the CPU samples), its stalls, its HTTP requests; per process, Node's pool requests by kind and
 * its pool threads' busy and run-queue ratios over time (the `pool threads` counter); the slowest
 * HTTP requests with the stalls, long iterations and pool work of their time. Pure functions.
 * @internal
 * @module
 */
import { POOL_COUNTER_NAME, POOL_THREAD_CATEGORY, requestThread, TraceEvent } from './format';
import { HTTP_REQUEST_CATEGORY, HTTP_REQUEST_MARK } from './http-track';
import type { ProcessInfo, ThreadInfo } from './process-collector';

export interface TraceFile {
  traceEvents: TraceEvent[];
  uvscope?: { blockMs: number; processes: ProcessInfo[]; command?: string; /** The stall threshold; 0: no watchdog. */ stallMs?: number };
}

export interface FunctionTime {
  /** `name (file:line)`. */
  name: string;
  selfMs: number;
}

export interface PhaseSplit {
  pollWaitMs: number;
  pollWorkMs: number;
  checkMs: number;
  timersMs: number;
  pendingMs: number;
  /** The startup slice (iteration 0 only). */
  startupMs: number;
}

export interface LongIteration {
  iteration: number;
  startUs: number;
  durationMs: number;
  split: PhaseSplit;
  top: FunctionTime[];
  /** HTTP requests a stall report inside it named. */
  stallRequests?: { name: string; id?: number }[];
}

/** A finished HTTP request of a thread (its async slice's begin event). Times in the trace's µs. */
export interface HttpRequestModel {
  id: number;
  /** `GET /path?query` (cut). */
  name: string;
  method: string;
  url: string;
  status: number;
  completed: boolean;
  startUs: number;
  endUs: number;
  durationMs: number;
}

/** CPU samples of a thread: sample times (µs, trace clock) and the leaf frame's name of each. */
export interface Samples {
  timesUs: number[];
  leaves: string[];
  intervalUs: number;
}

export interface ThreadModel {
  pid: number;
  tid: number;
  key: string;
  process: string;
  name: string;
  info?: ThreadInfo;
  loop: TraceEvent[];
  waits: TraceEvent[];
  stalls: TraceEvent[];
  jobs: TraceEvent[];
  requests: { kind: string; startUs: number; endUs: number }[];
  /** Finished HTTP requests, in order of start. */
  httpRequests: HttpRequestModel[];
  utilization: { us: number; value: number }[];
  samples?: Samples;
  long: LongIteration[];
  startUs: number;
  endUs: number;
}

/** A process's pool threads over time: the `pool threads` counter (ratios of threads × interval). */
export interface PoolModel {
  pid: number;
  process: string;
  points: { us: number; busy: number; runq?: number }[];
}

export interface TraceModel {
  threads: ThreadModel[];
  pools: PoolModel[];
  blockMs: number;
  startUs: number;
  endUs: number;
  processes: ProcessInfo[];
}

function frameName(callFrame: { functionName: string; url: string; lineNumber: number }): string {
  const fn = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return fn;
  const file = callFrame.url.replace(/^file:\/\//, '').split('/').pop();
  return `${fn} (${file}:${callFrame.lineNumber + 1})`;
}

/** The samples of a thread's Profile/ProfileChunk events. */
function readSamples(events: readonly TraceEvent[]): Samples | undefined {
  const profile = events.find((e) => e.name === 'Profile');
  if (!profile) return undefined;
  const names = new Map<number, string>();
  const timesUs: number[] = [];
  const leaves: string[] = [];
  let t = profile.ts ?? 0;
  const ids: number[] = [];
  for (const chunk of events.filter((e) => e.name === 'ProfileChunk' && e.id === profile.id)) {
    const data = chunk.args?.data as { cpuProfile: { nodes?: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[] }; timeDeltas: number[] };
    for (const node of data.cpuProfile.nodes ?? []) names.set(node.id, frameName(node.callFrame));
    data.cpuProfile.samples.forEach((id, i) => {
      t += data.timeDeltas[i];
      timesUs.push(t);
      ids.push(id);
    });
  }
  for (const id of ids) leaves.push(names.get(id) ?? '(unknown)');
  const gaps = timesUs.slice(1).map((x, i) => x - timesUs[i]).filter((d) => d > 0).sort((a, b) => a - b);
  return { timesUs, leaves, intervalUs: gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1000 };
}

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

function split(slices: readonly TraceEvent[]): PhaseSplit {
  const s: PhaseSplit = { pollWaitMs: 0, pollWorkMs: 0, checkMs: 0, timersMs: 0, pendingMs: 0, startupMs: 0 };
  for (const e of slices) {
    const ms = (e.dur ?? 0) / 1000;
    if (e.name === 'poll') {
      const wait = Number(e.args?.waitMs ?? 0);
      s.pollWaitMs += wait;
      s.pollWorkMs += Math.max(0, ms - wait);
    } else if (e.name === 'check') s.checkMs += ms;
    else if (e.name === 'timers') s.timersMs += ms;
    else if (e.name === 'pending') s.pendingMs += ms;
    else if (e.name === 'startup') s.startupMs += ms;
  }
  return s;
}

export function analyzeTrace(file: TraceFile): TraceModel {
  const blockMs = file.uvscope?.blockMs ?? 20;
  const processes = file.uvscope?.processes ?? [];
  const byThread = new Map<string, TraceEvent[]>();
  const processTitles = new Map<number, string>();
  const threadNames = new Map<string, string>();
  const poolPoints = new Map<number, PoolModel['points']>();
  for (const e of file.traceEvents) {
    if (e.ph === 'M' && e.name === 'process_name') processTitles.set(e.pid, String(e.args?.name));
    if (e.cat === POOL_THREAD_CATEGORY) {
      if (e.name !== POOL_COUNTER_NAME || e.ts === undefined) continue;
      let points = poolPoints.get(e.pid);
      if (!points) poolPoints.set(e.pid, (points = []));
      points.push({ us: e.ts, busy: Number(e.args?.busy), ...(e.args?.runq !== undefined ? { runq: Number(e.args.runq) } : {}) });
      continue;
    }
    if (e.tid === undefined || e.tid >= 1_000_000) continue;
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'M' && e.name === 'thread_name') threadNames.set(key, String(e.args?.name));
    let list = byThread.get(key);
    if (!list) byThread.set(key, (list = []));
    list.push(e);
  }
  const jobsByPid = new Map<number, TraceEvent[]>();
  const requestsByThread = new Map<string, ThreadModel['requests']>();
  for (const e of file.traceEvents) {
    if (e.cat === 'pool-request' && e.ph === 'X') {
      const key = `${e.pid}:${requestThread(e.tid!)}`;
      let list = requestsByThread.get(key);
      if (!list) requestsByThread.set(key, (list = []));
      list.push({ kind: e.name, startUs: e.ts!, endUs: e.ts! + (e.dur ?? 0) });
    }
    if (e.cat !== 'job') continue;
    let list = jobsByPid.get(e.pid);
    if (!list) jobsByPid.set(e.pid, (list = []));
    list.push(e);
  }
  const threads: ThreadModel[] = [];
  for (const [key, events] of byThread) {
    const [pid, tid] = key.split(':').map(Number);
    const loop = events.filter((e) => e.ph === 'X' && e.cat === 'loop');
    const info = processes.find((p) => p.pid === pid)?.threads.find((t) => t.tid === tid);
    const requests = requestsByThread.get(key) ?? [];
    const samples = readSamples(events);
    // Long iterations: those the observer reported (busy time over the threshold, exact split
    // of poll), and a long startup.
    const byIteration = new Map<number, TraceEvent[]>();
    for (const e of loop) {
      const n = Number(e.args?.iteration);
      let list = byIteration.get(n);
      if (!list) byIteration.set(n, (list = []));
      list.push(e);
    }
    const long: LongIteration[] = [];
    const startup = loop.find((e) => e.name === 'startup');
    if (startup && (startup.dur ?? 0) >= blockMs * 1000) {
      long.push({ iteration: 0, startUs: startup.ts!, durationMs: startup.dur! / 1000, split: split([startup]), top: topFunctions(samples, startup.ts!, startup.ts! + startup.dur!) });
    }
    for (const l of info?.longIterations ?? []) {
      const slices = byIteration.get(l.iteration) ?? [];
      const startUs = l.endedAtUs - l.durationMs * 1000;
      long.push({
        iteration: l.iteration,
        startUs,
        durationMs: l.durationMs,
        split: split(slices),
        top: topFunctions(samples, startUs, l.endedAtUs),
        ...(l.stallRequests ? { stallRequests: l.stallRequests } : {}),
      });
    }
    // The last iteration never ended (no next prepare): the observer could not report it; its
    // slices can.
    let lastIteration = 0;
    for (const n of byIteration.keys()) if (n > lastIteration) lastIteration = n;
    if (lastIteration > 0 && !long.some((l) => l.iteration === lastIteration)) {
      const slices = byIteration.get(lastIteration)!;
      const s = split(slices);
      const startUs = Math.min(...slices.map((e) => e.ts!));
      const endUs = Math.max(...slices.map((e) => e.ts! + (e.dur ?? 0)));
      const busyMs = (endUs - startUs) / 1000 - s.pollWaitMs;
      if (busyMs >= blockMs) long.push({ iteration: lastIteration, startUs, durationMs: (endUs - startUs) / 1000, split: s, top: topFunctions(samples, startUs, endUs) });
    }
    const timed = events.filter((e) => e.ts !== undefined && e.ph !== 'M');
    const times = [...timed.map((e) => e.ts!), ...timed.map((e) => e.ts! + (e.dur ?? 0))];
    threads.push({
      pid,
      tid,
      key,
      process: processTitles.get(pid) ?? `pid ${pid}`,
      name: threadNames.get(key) ?? `thread ${tid}`,
      info,
      loop,
      waits: events.filter((e) => e.cat === 'loop-wait'),
      stalls: events.filter((e) => e.cat === 'stall'),
      jobs: tid === 0 ? jobsByPid.get(pid) ?? [] : [],
      requests,
      httpRequests: events.filter((e) => e.ph === 'b' && e.cat === HTTP_REQUEST_CATEGORY && e.args?.uvscope === HTTP_REQUEST_MARK).map(httpRequestOf).sort((a, b) => a.startUs - b.startUs),
      utilization: events.filter((e) => e.ph === 'C').map((e) => ({ us: e.ts!, value: Number(e.args?.utilization) })),
      samples,
      long: long.sort((a, b) => b.durationMs - a.durationMs),
      startUs: times.reduce((a, b) => Math.min(a, b), Infinity),
      endUs: times.reduce((a, b) => Math.max(a, b), 0),
    });
  }
  threads.sort((a, b) => a.pid - b.pid || a.tid - b.tid);
  const startUs = threads.reduce((a, t) => Math.min(a, t.startUs), Infinity);
  const endUs = threads.reduce((a, t) => Math.max(a, t.endUs), -Infinity);
  const pools = [...poolPoints.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([pid, points]) => ({ pid, process: processTitles.get(pid) ?? `pid ${pid}`, points: points.sort((a, b) => a.us - b.us) }));
  return { threads, pools, blockMs, startUs: Number.isFinite(startUs) ? startUs : 0, endUs: Number.isFinite(endUs) ? endUs : 0, processes };
}

function httpRequestOf(e: TraceEvent): HttpRequestModel {
  const a = e.args ?? {};
  const durationMs = Number(a.durationMs);
  return {
    id: Number(a.id),
    name: e.name,
    method: String(a.method),
    url: String(a.url),
    status: Number(a.status),
    completed: a.completed === true,
    startUs: e.ts!,
    endUs: e.ts! + durationMs * 1000,
    durationMs,
  };
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
  /** Node's pool requests the thread submitted while it was in flight (linked by time only): their latency, submitted to callback. */
  pool: { count: number; latencyMs: number; longest?: { kind: string; latencyMs: number } };
  /** uvscope's pool jobs the thread submitted while it was in flight (linked by time only): their wait in the queue. */
  jobs: { count: number; queueWaitMs: number };
}

const overlaps = (aUs: number, bUs: number, fromUs: number, toUs: number) => aUs < toUs && bUs > fromUs;

/** The `n` longest HTTP requests of every thread, each with the stalls, long iterations and pool work of its time on its thread. */
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
    const pool: SlowRequest['pool'] = { count: 0, latencyMs: 0 };
    for (const r of thread.requests) {
      if (r.startUs < from || r.startUs > to) continue;
      const latencyMs = (r.endUs - r.startUs) / 1000;
      pool.count++;
      pool.latencyMs += latencyMs;
      if (!pool.longest || latencyMs > pool.longest.latencyMs) pool.longest = { kind: r.kind, latencyMs };
    }
    // uvscope's jobs are on the process's pool tracks (the main thread's model), each naming the thread that submitted it.
    const jobs: SlowRequest['jobs'] = { count: 0, queueWaitMs: 0 };
    const main = model.threads.find((t) => t.pid === thread.pid && t.tid === 0);
    for (const j of main?.jobs ?? []) {
      const waitMs = Number(j.args?.queueWaitMs ?? 0);
      const submittedUs = j.ts! - waitMs * 1000;
      if (j.args?.thread !== thread.name || submittedUs < from || submittedUs > to) continue;
      jobs.count++;
      jobs.queueWaitMs += waitMs;
    }
    return { thread, request, stalls, long, pool, jobs };
  });
}

/** The q-quantile (0 to 1) of the finished HTTP requests' durations (nearest rank), ms; undefined without requests. */
export function requestDurationQuantile(model: TraceModel, q: number): number | undefined {
  const durations = model.threads.flatMap((t) => t.httpRequests.map((r) => r.durationMs)).sort((a, b) => a - b);
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
