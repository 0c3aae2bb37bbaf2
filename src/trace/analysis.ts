/**
 * Reads a uvscope trace (events and its `uvscope` section) back into its model (trace-model.ts),
 * what the summary and the HTML report show: per thread, its iterations, its long iterations with
 * their phase split (poll's wait for I/O apart from its work) and the functions that ran in them
 * (self time from the CPU samples), its stalls, its HTTP requests; per process, Node's pool
 * requests by kind and its pool threads' busy and run-queue ratios over time (the `pool threads`
 * counter). The queries over a finished model (the slowest HTTP requests with the stalls, long
 * iterations and pool work of their time, ...) are model-queries.ts's.
 *
 * `TraceAnalysis` is an incremental fold: `addProcesses()` (a part's uvscope section, before or
 * with its events), `add()` each event in file order, `finish()` the model. It keeps only what
 * the model needs, each capped (`AnalysisLimits`) in the bounded collections of capped.ts: the
 * longest loop slices, waits, stalls, uvscope jobs and Node pool requests, the slowest HTTP
 * requests (their durations for the quantiles, a uniform sample past the cap), the CPU samples
 * (leaf and time), utilization and pool-thread points (every other point dropped each time a
 * series reaches its cap); what the caps left out is counted in `ThreadModel.capped`. So a trace
 * of any length is analysed in bounded memory. Lifetime: one fold per trace read.
 * `analyzeTrace(file)` folds a trace held in memory. Pure functions otherwise.
 * @internal
 * @module
 */
import { Halving, Largest } from './capped';
import { POOL_COUNTER_NAME, POOL_THREAD_CATEGORY, requestThread, TraceEvent } from './format';
import { HTTP_REQUEST_CATEGORY, HTTP_REQUEST_MARK } from './http-track';
import { topFunctions } from './model-queries';
import type { ProcessInfo, ThreadInfo } from './process-collector';
import { AnalysisLimits, CappedCounts, DEFAULT_ANALYSIS_LIMITS, HttpRequestModel, LongIteration, PhaseSplit, PoolModel, Samples, ThreadModel, TraceFile, TraceModel } from './trace-model';
import type { TraceSection } from './trace-reader';

function frameName(callFrame: { functionName: string; url: string; lineNumber: number }): string {
  const fn = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return fn;
  const file = callFrame.url.replace(/^file:\/\//, '').split('/').pop();
  return `${fn} (${file}:${callFrame.lineNumber + 1})`;
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

/** One CPU profile of a thread being read: its node names and, per sample, time and node id. */
interface ProfileRead {
  key: string;
  t: number;
  names: Map<number, string>;
  timesUs: number[];
  ids: number[];
}

/** What a TraceAnalysis keeps of one thread. */
class ThreadFold {
  readonly loop: Largest<TraceEvent>;
  readonly waits: Largest<TraceEvent>;
  readonly stalls: Largest<TraceEvent>;
  readonly requests: Largest<ThreadModel['requests'][number]>;
  readonly http: Largest<HttpRequestModel>;
  readonly utilization: Halving<ThreadModel['utilization'][number]>;
  /** Samples of the thread's finished profiles (time order within each). */
  readonly samples: { timesUs: number[]; leaves: string[] }[] = [];
  sampleCount = 0;
  samplesDropped = 0;
  profile?: ProfileRead;
  /** Per long iteration the section names, its slices' split. */
  splits?: Map<number, TraceEvent[]>;
  startup?: TraceEvent;
  /** The highest iteration seen, and its slices. */
  lastIteration = 0;
  lastSlices: TraceEvent[] = [];
  /** Slices of the last iteration not parsed yet (addLine()). */
  lastLines: string[] = [];
  /** Iteration numbers seen in slices (for a thread without info), counted as they change (slices come in time order). */
  iterationsSeen = 0;
  previousIteration: unknown = Symbol('none');
  httpSeen = 0;
  stallsSeen = 0;
  startUs = Infinity;
  endUs = 0;

  constructor(limits: AnalysisLimits) {
    this.loop = new Largest(limits.maxSlices);
    this.waits = new Largest(limits.maxSlices);
    this.stalls = new Largest(limits.maxStalls);
    this.requests = new Largest(limits.maxPoolRequests);
    this.http = new Largest(limits.maxHttpRequests);
    this.utilization = new Halving(limits.maxPoints);
  }
}

/** The head of a loop slice or wait as format.ts writes it: name, cat, pid, tid, ts, dur, and the iteration when args begin with it. */
const NUMBER = '(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?)';
const SLICE_HEAD = new RegExp(`^\\{"name":"([^"\\\\]*)","cat":"(loop|loop-wait)","ph":"X","pid":(\\d+),"tid":(\\d+),"ts":${NUMBER},"dur":${NUMBER}(?:,"args":\\{"iteration":(\\d+)(?=[,}]))?`);

/** Resolves a profile's sample ids to leaf names and files them with its thread. */
function closeProfile(thread: ThreadFold): void {
  const p = thread.profile;
  if (!p) return;
  thread.profile = undefined;
  if (!p.timesUs.length) return;
  const leaves = p.ids.map((id) => p.names.get(id) ?? '(unknown)');
  thread.samples.push({ timesUs: p.timesUs, leaves });
}

export class TraceAnalysis {
  readonly limits: AnalysisLimits;
  #blockMs?: number;
  readonly #processes: ProcessInfo[] = [];
  readonly #infos = new Map<string, ThreadInfo>();
  readonly #threads = new Map<string, ThreadFold>();
  readonly #processTitles = new Map<number, string>();
  readonly #threadNames = new Map<string, string>();
  readonly #pools = new Map<number, Halving<PoolModel['points'][number]>>();
  readonly #jobs = new Map<number, Largest<TraceEvent>>();
  /** Profile id (per process) → the thread it belongs to. */
  readonly #profileThreads = new Map<string, string>();
  /** HTTP durations (ms) for the quantiles: all of them up to the cap, then a uniform sample (reservoir). */
  #durations = new Float64Array(1024);
  #durationCount = 0;
  #durationsSeen = 0;
  #random = 0x9e3779b9;
  /** addLine()'s last thread (consecutive lines are mostly of one thread). */
  #lastThread?: ThreadFold;
  #lastPid?: string;
  #lastTid?: string;

  constructor(section?: Pick<TraceSection, 'blockMs'> & Partial<TraceSection>, limits: Partial<AnalysisLimits> = {}) {
    this.limits = { ...DEFAULT_ANALYSIS_LIMITS, ...limits };
    if (section?.blockMs !== undefined) this.#blockMs = section.blockMs;
    if (section?.processes) this.addProcesses(section.processes);
  }

  /** A part's processes (its uvscope section): before its events, so that its long iterations' slices are kept. */
  addProcesses(processes: readonly ProcessInfo[]): void {
    for (const p of processes) {
      this.#processes.push(p);
      for (const t of p.threads) {
        const key = `${p.pid}:${t.tid}`;
        this.#infos.set(key, t);
        const thread = this.#threads.get(key);
        if (thread) thread.splits = new Map(t.longIterations.map((l) => [l.iteration, thread.splits?.get(l.iteration) ?? []]));
      }
    }
  }

  #thread(key: string): ThreadFold {
    let thread = this.#threads.get(key);
    if (!thread) {
      thread = new ThreadFold(this.limits);
      const info = this.#infos.get(key);
      if (info) thread.splits = new Map(info.longIterations.map((l) => [l.iteration, []]));
      this.#threads.set(key, thread);
    }
    return thread;
  }

  #nextRandom(): number {
    // xorshift32: a deterministic uniform sample (the same trace gives the same quantiles).
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x >>> 0;
    return this.#random / 0x1_0000_0000;
  }

  #addDuration(ms: number): void {
    this.#durationsSeen++;
    const max = this.limits.maxHttpDurations;
    if (this.#durationCount < max) {
      if (this.#durationCount === this.#durations.length) {
        const grown = new Float64Array(Math.min(max, this.#durations.length * 2));
        grown.set(this.#durations);
        this.#durations = grown;
      }
      this.#durations[this.#durationCount++] = ms;
      return;
    }
    const j = Math.floor(this.#nextRandom() * this.#durationsSeen);
    if (j < max) this.#durations[j] = ms;
  }

  add(e: TraceEvent): void {
    if (e.ph === 'M' && e.name === 'process_name') this.#processTitles.set(e.pid, String(e.args?.name));
    if (e.cat === POOL_THREAD_CATEGORY) {
      if (e.name !== POOL_COUNTER_NAME || e.ts === undefined) return;
      let points = this.#pools.get(e.pid);
      if (!points) this.#pools.set(e.pid, (points = new Halving(this.limits.maxPoints)));
      points.push({ us: e.ts, busy: Number(e.args?.busy), ...(e.args?.runq !== undefined ? { runq: Number(e.args.runq) } : {}) });
      return;
    }
    if (e.cat === 'pool-request' && e.ph === 'X') {
      const owner = requestThread(e.tid ?? 0);
      if (owner !== undefined) {
        const httpRequestId = e.args?.httpRequestId;
        this.#thread(`${e.pid}:${owner}`).requests.push(e.dur ?? 0, {
          kind: e.name,
          startUs: e.ts!,
          endUs: e.ts! + (e.dur ?? 0),
          ...(typeof httpRequestId === 'number' ? { httpRequestId } : {}),
        });
      }
    }
    if (e.cat === 'job') {
      let jobs = this.#jobs.get(e.pid);
      if (!jobs) this.#jobs.set(e.pid, (jobs = new Largest(this.limits.maxJobs)));
      jobs.push(e.dur ?? 0, e);
    }
    if (e.tid === undefined || e.tid >= 1_000_000) return;
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === 'M') {
      if (e.name === 'thread_name') this.#threadNames.set(key, String(e.args?.name));
      this.#thread(key);
      return;
    }
    const thread = this.#thread(key);
    if (e.ts !== undefined) {
      if (e.ts < thread.startUs) thread.startUs = e.ts;
      const end = e.ts + (e.dur ?? 0);
      if (e.ts > thread.endUs) thread.endUs = e.ts;
      if (end > thread.endUs) thread.endUs = end;
    }
    if (e.ph === 'X' && e.cat === 'loop') {
      thread.loop.push(e.dur ?? 0, e);
      const n = Number(e.args?.iteration);
      if (e.args?.iteration !== thread.previousIteration) {
        thread.previousIteration = e.args?.iteration;
        thread.iterationsSeen++;
      }
      if (e.name === 'startup' && !thread.startup) thread.startup = e;
      thread.splits?.get(n)?.push(e);
      if (n > thread.lastIteration) {
        thread.lastIteration = n;
        thread.lastSlices = [e];
        thread.lastLines = [];
      } else if (n === thread.lastIteration && n > 0) thread.lastSlices.push(e);
      return;
    }
    if (e.cat === 'loop-wait') {
      thread.waits.push(e.dur ?? 0, e);
      return;
    }
    if (e.cat === 'stall') {
      thread.stallsSeen++;
      thread.stalls.push(e.dur ?? 0, e);
      return;
    }
    if (e.ph === 'b' && e.cat === HTTP_REQUEST_CATEGORY && e.args?.uvscope === HTTP_REQUEST_MARK) {
      const request = httpRequestOf(e);
      thread.httpSeen++;
      thread.http.push(request.durationMs, request);
      if (!request.inFlight) this.#addDuration(request.durationMs);
      return;
    }
    if (e.ph === 'C') {
      thread.utilization.push({ us: e.ts!, value: Number(e.args?.utilization) });
      return;
    }
    if (e.name === 'Profile' && e.ph === 'P') {
      closeProfile(thread);
      const profileKey = `${e.pid}:${e.id}`;
      this.#profileThreads.set(profileKey, key);
      thread.profile = { key: profileKey, t: e.ts ?? 0, names: new Map(), timesUs: [], ids: [] };
      return;
    }
    if (e.name === 'ProfileChunk' && e.ph === 'P') {
      const owner = this.#threads.get(this.#profileThreads.get(`${e.pid}:${e.id}`) ?? '');
      const p = owner?.profile;
      if (!owner || !p || p.key !== `${e.pid}:${e.id}`) return;
      const data = e.args?.data as { cpuProfile: { nodes?: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[] }; timeDeltas: number[] };
      for (const node of data.cpuProfile.nodes ?? []) p.names.set(node.id, frameName(node.callFrame));
      const samples = data.cpuProfile.samples;
      for (let i = 0; i < samples.length; i++) {
        p.t += data.timeDeltas[i];
        if (owner.sampleCount >= this.limits.maxSamples) {
          owner.samplesDropped++;
          continue;
        }
        owner.sampleCount++;
        p.timesUs.push(p.t);
        p.ids.push(samples[i]);
      }
    }
  }

  /**
   * add() for one event's JSON text (a line of the line layout): the same fold, faster. Most
   * lines of a long trace are loop slices and waits in the key order format.ts writes them;
   * those are read from the line's head with a regular expression and parsed only when the
   * model keeps them (the longest, a long iteration's, the last iteration's at finish()).
   * Any other line is parsed and add()ed. Returns the event when it was parsed.
   */
  addLine(line: string): TraceEvent | undefined {
    const m = SLICE_HEAD.exec(line);
    const iterationText = m?.[7];
    // The head must be the whole event but its args (or have the iteration first in them).
    if (!m || (iterationText === undefined && line.length !== m[0].length + 1) || m[1] === 'startup') {
      const e = JSON.parse(line) as TraceEvent;
      this.add(e);
      return e;
    }
    let thread = this.#lastThread;
    if (!thread || m[3] !== this.#lastPid || m[4] !== this.#lastTid) {
      thread = this.#lastThread = this.#thread(`${m[3]}:${m[4]}`);
      this.#lastPid = m[3];
      this.#lastTid = m[4];
    }
    const ts = Number(m[5]);
    const dur = Number(m[6]);
    if (ts < thread.startUs) thread.startUs = ts;
    if (ts > thread.endUs) thread.endUs = ts;
    if (ts + dur > thread.endUs) thread.endUs = ts + dur;
    let event: TraceEvent | undefined;
    const parsed = () => (event ??= JSON.parse(line) as TraceEvent);
    if (m[2] === 'loop-wait') {
      if (thread.waits.wouldKeep(dur)) thread.waits.push(dur, parsed());
      else thread.waits.skip();
      return event;
    }
    if (thread.loop.wouldKeep(dur)) thread.loop.push(dur, parsed());
    else thread.loop.skip();
    const n = iterationText === undefined ? NaN : Number(iterationText);
    const iteration = iterationText === undefined ? undefined : n;
    if (iteration !== thread.previousIteration) {
      thread.previousIteration = iteration;
      thread.iterationsSeen++;
    }
    const split = thread.splits?.get(n);
    if (split) split.push(parsed());
    if (n > thread.lastIteration) {
      thread.lastIteration = n;
      thread.lastSlices = [];
      thread.lastLines = [line];
    } else if (n === thread.lastIteration && n > 0) thread.lastLines.push(line);
    return event;
  }

  /** The model. `section`: the trace's uvscope section when it was not given to the constructor (its processes are added unless given before). */
  finish(section?: Partial<TraceSection>): TraceModel {
    if (section?.blockMs !== undefined) this.#blockMs = section.blockMs;
    if (section?.processes && this.#processes.length === 0) this.addProcesses(section.processes);
    const blockMs = this.#blockMs ?? 20;
    const threads: ThreadModel[] = [];
    for (const [key, thread] of this.#threads) {
      const [pid, tid] = key.split(':').map(Number);
      closeProfile(thread);
      const info = this.#infos.get(key);
      const samples = samplesOf(thread);
      const long: LongIteration[] = [];
      const startup = thread.startup;
      if (startup && (startup.dur ?? 0) >= blockMs * 1000) {
        long.push({ iteration: 0, startUs: startup.ts!, durationMs: startup.dur! / 1000, split: split([startup]), top: topFunctions(samples, startup.ts!, startup.ts! + startup.dur!) });
      }
      for (const l of info?.longIterations ?? []) {
        const slices = thread.splits?.get(l.iteration) ?? [];
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
      const lastIteration = thread.lastIteration;
      for (const line of thread.lastLines) thread.lastSlices.push(JSON.parse(line) as TraceEvent);
      thread.lastLines = [];
      if (lastIteration > 0 && !long.some((l) => l.iteration === lastIteration)) {
        const slices = thread.lastSlices;
        const s = split(slices);
        const startUs = slices.reduce((a, e) => Math.min(a, e.ts!), Infinity);
        const endUs = slices.reduce((a, e) => Math.max(a, e.ts! + (e.dur ?? 0)), -Infinity);
        const busyMs = (endUs - startUs) / 1000 - s.pollWaitMs;
        if (busyMs >= blockMs) long.push({ iteration: lastIteration, startUs, durationMs: (endUs - startUs) / 1000, split: s, top: topFunctions(samples, startUs, endUs) });
      }
      const jobs = tid === 0 ? this.#jobs.get(pid) : undefined;
      const capped: CappedCounts = {};
      const count = (name: keyof CappedCounts, n: number | undefined) => {
        if (n) capped[name] = n;
      };
      count('slices', thread.loop.dropped);
      count('waits', thread.waits.dropped);
      count('stalls', thread.stalls.dropped);
      count('jobs', jobs?.dropped);
      count('poolRequests', thread.requests.dropped);
      count('httpRequests', thread.http.dropped);
      count('samples', thread.samplesDropped);
      count('utilization', thread.utilization.dropped);
      threads.push({
        pid,
        tid,
        key,
        process: this.#processTitles.get(pid) ?? `pid ${pid}`,
        name: this.#threadNames.get(key) ?? `thread ${tid}`,
        info,
        loop: thread.loop.values(),
        waits: thread.waits.values(),
        stalls: thread.stalls.values(),
        jobs: jobs?.values() ?? [],
        requests: thread.requests.values(),
        httpRequests: thread.http.values().sort((a, b) => a.startUs - b.startUs),
        httpRequestsSeen: thread.httpSeen,
        stallsSeen: thread.stallsSeen,
        iterationsSeen: Math.max(0, thread.iterationsSeen - 1),
        utilization: thread.utilization.points,
        samples,
        long: long.sort((a, b) => b.durationMs - a.durationMs),
        startUs: thread.startUs,
        endUs: thread.endUs,
        ...(Object.keys(capped).length ? { capped } : {}),
      });
    }
    threads.sort((a, b) => a.pid - b.pid || a.tid - b.tid);
    const startUs = threads.reduce((a, t) => Math.min(a, t.startUs), Infinity);
    const endUs = threads.reduce((a, t) => Math.max(a, t.endUs), -Infinity);
    const pools = [...this.#pools.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([pid, points]) => ({ pid, process: this.#processTitles.get(pid) ?? `pid ${pid}`, points: points.points.sort((a, b) => a.us - b.us) }));
    const durations = this.#durations.slice(0, this.#durationCount).sort();
    return {
      threads,
      pools,
      blockMs,
      startUs: Number.isFinite(startUs) ? startUs : 0,
      endUs: Number.isFinite(endUs) ? endUs : 0,
      processes: this.#processes,
      httpDurationsMs: durations,
      httpDurationsSeen: this.#durationsSeen,
    };
  }
}

/** A thread's samples from its profiles, in time order. */
function samplesOf(thread: ThreadFold): Samples | undefined {
  if (!thread.samples.length) return undefined;
  let timesUs: number[];
  let leaves: string[];
  if (thread.samples.length === 1) ({ timesUs, leaves } = thread.samples[0]);
  else {
    const all = thread.samples.flatMap((s) => s.timesUs.map((t, i) => ({ t, leaf: s.leaves[i] }))).sort((a, b) => a.t - b.t);
    timesUs = all.map((x) => x.t);
    leaves = all.map((x) => x.leaf);
  }
  const gaps: number[] = [];
  for (let i = 1; i < timesUs.length; i++) if (timesUs[i] > timesUs[i - 1]) gaps.push(timesUs[i] - timesUs[i - 1]);
  gaps.sort((a, b) => a - b);
  return { timesUs, leaves, intervalUs: gaps.length ? gaps[Math.floor(gaps.length / 2)] : 1000 };
}

/** The model of a trace held in memory (a fold over its events). */
export function analyzeTrace(file: TraceFile, limits: Partial<AnalysisLimits> = {}): TraceModel {
  return analyzeEvents(file.traceEvents, file.uvscope, limits);
}

/** analyzeTrace() over events made as they are read (TraceSession.stream()): none is held beyond the model's caps. */
export function analyzeEvents(events: Iterable<TraceEvent>, section: TraceSection | undefined, limits: Partial<AnalysisLimits> = {}): TraceModel {
  const analysis = new TraceAnalysis(section ?? { blockMs: 20 }, limits);
  for (const e of events) analysis.add(e);
  return analysis.finish();
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
    ...(a.inFlight === true ? { inFlight: true as const } : {}),
  };
}
