/**
 * The summary `uvscope trace` prints on stderr, from the trace file's content: per thread its
 * iterations and utilization, its longest iterations with their phase split and the functions
 * that ran in them; per process its pool threads' busy and run-queue ratios over the run; stalls;
 * the slowest HTTP requests with the stalls and long iterations of their time and the pool work
 * they submitted (how much of it linked by time only), and those still in flight when the trace
 * ended, with their time so far; Node's pool requests by kind with p50/p99; what was dropped to
 * keep memory bounded. Pure functions.
 * @internal
 * @module
 */
import { analyzeTrace } from './analysis';
import { requestDurationQuantile, requestsByKind, SlowRequest, slowestRequests } from './model-queries';
import type { LongIteration, TraceFile, TraceModel } from './trace-model';

const ms = (v: number) => `${v.toFixed(2)} ms`;
const pct = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;

function splitText(l: LongIteration): string {
  const s = l.split;
  if (l.iteration === 0) return 'startup (main script and modules, before the loop first turned)';
  const parts = [`poll ${ms(s.pollWaitMs + s.pollWorkMs)} (waiting ${ms(s.pollWaitMs)}, I/O callbacks ${ms(s.pollWorkMs)})`];
  if (s.checkMs) parts.push(`check ${ms(s.checkMs)}`);
  if (s.timersMs) parts.push(`timers ${ms(s.timersMs)}`);
  if (s.pendingMs) parts.push(`pending ${ms(s.pendingMs)}`);
  return parts.join(', ');
}

const pct0 = (ratio: number) => `${Math.round(ratio * 100)}%`;

/** The user's context fields of a stall, `tenant=acme userId=42` (the first four). */
function contextFields(context: Record<string, unknown>): string {
  return Object.entries(context)
    .slice(0, 4)
    .map(([key, value]) => `${key}=${String(value).slice(0, 40)}`.replace(/[\u0000-\u001f\u007f]/g, ' '))
    .join(' ');
}

/** Up to `max` items joined, and how many more. */
function some(items: string[], max: number): string {
  return items.slice(0, max).join(', ') + (items.length > max ? `, ${items.length - max} more` : '');
}

/** ` (2 linked by time only)`: pool work whose record named no request, counted for it because submitted while it was in flight. */
export const byTimeText = (byTime: number) => (byTime ? ` (${byTime} linked by time only)` : '');

/** The lines of one slow request: its stalls (its own, then those it waited for), long iterations and pool work. */
export function slowRequestLines(r: SlowRequest, threadCount: number): string[] {
  const q = r.request;
  const where = threadCount > 1 ? `, ${r.thread.name} of pid ${r.thread.pid}` : '';
  const lines = [
    q.inFlight
      ? `  ${q.name}: ${ms(q.durationMs)} so far${where}`
      : `  ${q.name}: ${ms(q.durationMs)}, ${q.status || 'no status'}${q.completed ? '' : ' (not completed: the connection closed first)'}${where}`,
  ];
  const stallText = (s: SlowRequest['stalls'][number]) => `${ms(s.durationMs)} in ${s.phase}${s.onCpu !== undefined ? `, ${pct0(s.onCpu)} on CPU` : ''}`;
  for (const s of r.stalls.filter((x) => x.own).slice(0, 3)) lines.push(`    its stall: ${stallText(s)}${s.context ? `, ${contextFields(s.context)}` : ''}`);
  const others = r.stalls.filter((x) => !x.own);
  const whose = (s: SlowRequest['stalls'][number]) => [s.request, s.context && contextFields(s.context)].filter(Boolean).join(', ');
  if (others.length) lines.push(`    waited for stalls: ${some(others.map((s) => `${stallText(s)}${whose(s) ? ` (${whose(s)})` : ''}`), 3)}`);
  if (r.long.length) {
    lines.push(`    long iterations while in flight: ${some(r.long.map((l) => `${l.iteration} (${ms(l.durationMs)}${l.own ? ', its stall ran in it' : ''})`), 4)}`);
  }
  if (r.pool.count) {
    const longest = r.pool.longest!;
    lines.push(`    Node pool requests it submitted: ${r.pool.count}${byTimeText(r.pool.byTime)}, latency ${ms(r.pool.latencyMs)} in all, longest ${longest.kind} ${ms(longest.latencyMs)}`);
  }
  if (r.jobs.count) lines.push(`    uvscope jobs it submitted: ${r.jobs.count}${byTimeText(r.jobs.byTime)}, queue wait ${ms(r.jobs.queueWaitMs)} in all`);
  return lines;
}

/** A window of a bounded recording, as much of it as the summary reads (WindowInfo in format.ts; read structurally: files before it have none). */
interface WindowView {
  startUs: number;
  endUs: number;
  http?: { count: number; p50Ms: number; p99Ms: number; maxMs: number };
}

interface BoundedView {
  detail?: 'bounded' | 'full';
  windows?: WindowView[];
  spans?: { startUs: number; endUs: number }[];
  dropped?: { windows?: number; spans?: number };
  leftOut?: { markers?: number; requests?: number; jobs?: number; httpRequests?: number };
  cpuSamplesOmitted?: number;
}

/** `  recorded bounded: 600 windows over 600.2 s, full detail in 12 spans (3.40 s)`, for a thread of a bounded recording. */
function boundedText(info: unknown): string | undefined {
  const b = info as BoundedView | undefined;
  if (b?.detail !== 'bounded' || !Array.isArray(b.windows)) return undefined;
  const w = b.windows;
  const overS = w.length ? (w[w.length - 1].endUs - w[0].startUs) / 1e6 : 0;
  const spans = b.spans ?? [];
  const spanS = spans.reduce((sum, s) => sum + (s.endUs - s.startUs), 0) / 1e6;
  const dropped = [b.dropped?.windows ? `${b.dropped.windows} oldest windows` : '', b.dropped?.spans ? `${b.dropped.spans} oldest spans` : ''].filter(Boolean).join(', ');
  const l = b.leftOut ?? {};
  const left = [
    l.markers ? `${l.markers} loop markers` : '',
    l.requests ? `${l.requests} pool requests` : '',
    l.jobs ? `${l.jobs} jobs` : '',
    l.httpRequests ? `${l.httpRequests} HTTP requests` : '',
    b.cpuSamplesOmitted ? `${b.cpuSamplesOmitted} CPU sample times (in the call tree)` : '',
  ].filter(Boolean);
  return (
    `  recorded bounded: ${w.length} windows over ${overS.toFixed(1)} s, full detail in ${spans.length} span${spans.length === 1 ? '' : 's'} (${spanS.toFixed(2)} s)` +
    (left.length ? `; summed in the windows, not in detail: ${left.join(', ')}` : '') +
    (dropped ? `; dropped to bound memory: ${dropped}` : '')
  );
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
};

/** HTTP requests over a bounded recording's windows: their count, and the windows' quantiles (medians, the worst). */
function windowHttp(model: TraceModel): { count: number; p50Ms: number; p99MedianMs: number; p99MaxMs: number; maxMs: number } | undefined {
  const windows = model.threads.flatMap((t) => ((t.info as BoundedView | undefined)?.windows ?? []).filter((w) => w.http && w.http.count > 0));
  if (!windows.length) return undefined;
  return {
    count: windows.reduce((sum, w) => sum + w.http!.count, 0),
    p50Ms: median(windows.map((w) => w.http!.p50Ms)),
    p99MedianMs: median(windows.map((w) => w.http!.p99Ms)),
    p99MaxMs: Math.max(...windows.map((w) => w.http!.p99Ms)),
    maxMs: Math.max(...windows.map((w) => w.http!.maxMs)),
  };
}

/** `model`: the file's analyzeTrace(), when the caller has it already. */
export function formatSummary(file: TraceFile, model: TraceModel = analyzeTrace(file), longPerThread = 3, slowRequests = 5): string {
  const lines = [''];
  const processes = new Set(model.threads.map((t) => t.pid)).size;
  lines.push(`uvscope trace: ${processes} process${processes === 1 ? '' : 'es'}, ${model.threads.length} thread${model.threads.length === 1 ? '' : 's'}, ${((model.endUs - model.startUs) / 1e6).toFixed(2)} s`);
  for (const t of model.threads) {
    const info = t.info;
    const iterations = info?.iterations ?? t.iterationsSeen ?? new Set(t.loop.map((e) => e.args?.iteration)).size - 1;
    const head = `${t.process}, ${t.name}: ${iterations} iterations`;
    const detail = info?.utilization !== undefined ? `, utilization ${(info.utilization * 100).toFixed(1)}%, iteration p50 ${ms(info.iterationP50Ms!)} p99 ${ms(info.iterationP99Ms!)}` : '';
    lines.push(`${head}${detail}${info && !info.complete ? ' (ended before its last batch: a terminated worker)' : ''}`);
    const recording = boundedText(info);
    if (recording) lines.push(recording);
    const longCount = t.long.filter((l) => l.iteration !== 0).length;
    lines.push(`  long iterations (> ${model.blockMs} ms busy): ${longCount}`);
    for (const l of t.long.slice(0, longPerThread)) {
      lines.push(`  ${l.iteration === 0 ? 'startup' : `iteration ${l.iteration}`}: ${ms(l.durationMs)}: ${splitText(l)}`);
      if (l.top.length) lines.push(`    top functions (self): ${l.top.map((f) => `${f.name} ${ms(f.selfMs)}`).join(', ')}`);
    }
    if (info?.cpuUnavailable) lines.push(`  no CPU samples: ${info.cpuUnavailable}`);
    const d = info?.dropped;
    if (d && (d.markers || d.jobs || d.requests || d.utilization || d.longIterations || d.httpRequests)) {
      lines.push(
        `  dropped to bound memory (the oldest): ${d.markers} loop markers, ${d.requests} pool requests, ${d.jobs} jobs, ${d.utilization} utilization samples, ${d.longIterations} long iterations, ${d.httpRequests ?? 0} HTTP requests`,
      );
    }
    const c = t.capped;
    if (c) {
      const parts = (
        [
          ['loop slices', c.slices],
          ['waits', c.waits],
          ['stalls', c.stalls],
          ['uvscope jobs', c.jobs],
          ['Node pool requests', c.poolRequests],
          ['HTTP requests', c.httpRequests],
          ['CPU samples', c.samples],
          ['utilization points', c.utilization],
        ] as const
      )
        .filter(([, n]) => n)
        .map(([name, n]) => `${n} ${name}`);
      lines.push(`  left out of this summary and the report to bound the reader's memory (the trace file has them; the longest/slowest are kept): ${parts.join(', ')}`);
    }
  }
  for (const p of model.processes) {
    const pool = p.poolThreads;
    if (pool) {
      const found = pool.threads.length === pool.expectedThreads ? `${pool.threads.length}` : `${pool.threads.length} of ${pool.expectedThreads}`;
      lines.push(
        `${p.title}, pool threads (${found}): busy ${pct(pool.busyRatio)}` +
          (pool.runQueueRatio !== undefined ? `, waiting for a CPU ${pct(pool.runQueueRatio)}` : '') +
          ` of their time over ${(pool.windowMs / 1000).toFixed(2)} s`,
      );
    } else if (p.poolThreadsUnavailable) {
      lines.push(`${p.title}, pool threads: not measured (${p.poolThreadsUnavailable})`);
    }
  }
  const stalls = model.threads.flatMap((t) => t.stalls.map((s) => ({ t, s })));
  const stallCount = model.threads.reduce((sum, t) => sum + Math.max(t.stallsSeen ?? 0, t.stalls.length), 0);
  const threshold = file.uvscope?.stallMs ?? stalls[0]?.s.args?.thresholdMs;
  if (threshold || stalls.length) {
    const longest = stalls.reduce<(typeof stalls)[number] | undefined>((max, x) => (max && Number(max.s.args?.durationMs) >= Number(x.s.args?.durationMs) ? max : x), undefined);
    lines.push(
      `stalls${threshold !== undefined ? ` (> ${threshold} ms)` : ''}: ${stallCount}` +
        (longest ? `, longest ${ms(Number(longest.s.args?.durationMs))} in ${longest.s.args?.phase} (${longest.t.name} of pid ${longest.t.pid})` : ''),
    );
  }
  const slowest = slowestRequests(model, slowRequests);
  const perWindow = windowHttp(model);
  if (slowest.length || perWindow) {
    // The requests in flight at the end are among the records (and their counts): counted apart.
    const inFlight = model.threads.flatMap((t) => t.httpRequests.filter((r) => r.inFlight).map((request) => ({ thread: t, request })));
    const kept = model.threads.reduce((sum, t) => sum + Math.max(t.httpRequestsSeen ?? 0, t.httpRequests.length), 0) - inFlight.length;
    const finished = model.threads.reduce((sum, t) => sum + Math.max(t.info?.httpRequests ?? 0, t.httpRequestsSeen ?? 0, t.httpRequests.length), 0) - inFlight.length;
    const total = Math.max(finished, perWindow?.count ?? 0);
    const p50Ms = requestDurationQuantile(model, 0.5);
    if (p50Ms === undefined && !perWindow) {
      lines.push(`HTTP requests: none finished; the slowest:`);
    } else if (perWindow && total > kept) {
      // A bounded recording: the requests' detail only around long iterations; their latency over the run from the windows.
      lines.push(
        `HTTP requests: ${total} finished (${kept} in full detail, around long iterations); per window of the run: p50 ${ms(perWindow.p50Ms)} (median of the windows'), p99 ${ms(perWindow.p99MedianMs)} (median) to ${ms(perWindow.p99MaxMs)} (worst window), longest ${ms(perWindow.maxMs)}${slowest.length ? '; the slowest in detail:' : ''}`,
      );
    } else {
      lines.push(
        `HTTP requests: ${total} finished${total > kept ? ` (the newest ${kept} kept)` : ''}, p50 ${ms(p50Ms!)} p99 ${ms(requestDurationQuantile(model, 0.99)!)}${model.httpDurationsMs && (model.httpDurationsSeen ?? 0) > model.httpDurationsMs.length ? ` (of a uniform sample of ${model.httpDurationsMs.length})` : ''}; the slowest:`,
      );
    }
    for (const r of slowest) lines.push(...slowRequestLines(r, model.threads.length));
    if (inFlight.length) {
      const longest = inFlight.sort((a, b) => b.request.durationMs - a.request.durationMs).map(({ thread, request }) => `${request.method} ${request.url} ${ms(request.durationMs)}${model.threads.length > 1 ? ` (${thread.name} of pid ${thread.pid})` : ''}`);
      lines.push(`  still in flight when the trace ended: ${inFlight.length} (drawn to the end, time so far): ${some(longest, 5)}`);
    }
  }
  const jobs = model.threads.flatMap((t) => t.jobs);
  if (jobs.length) {
    const slowest = [...jobs].sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, 3);
    const waits = [...jobs].sort((a, b) => Number(b.args?.queueWaitMs) - Number(a.args?.queueWaitMs)).slice(0, 3);
    const jobsLeftOut = model.threads.reduce((sum, t) => sum + (t.capped?.jobs ?? 0), 0);
    lines.push(`uvscope pool jobs: ${jobs.length + jobsLeftOut}${jobsLeftOut ? ` (the longest ${jobs.length} looked at)` : ''}`);
    lines.push(`  slowest: ${slowest.map((j) => `${j.name} ${ms((j.dur ?? 0) / 1000)}`).join(', ')}`);
    lines.push(`  longest queue waits: ${waits.map((j) => `${j.name} ${ms(Number(j.args?.queueWaitMs))}`).join(', ')}`);
  }
  const kinds = requestsByKind(model);
  if (kinds.length) {
    lines.push(`Node pool requests: ${kinds.reduce((sum, [, k]) => sum + k.count, 0)} (by kind; p50/p99 the largest of the threads')`);
    for (const [kind, k] of kinds.slice(0, 8)) {
      lines.push(`  ${kind}: ${k.count}${k.failed ? ` (${k.failed} failed)` : ''}, p50 ${ms(k.p50Ms)} p99 ${ms(k.p99Ms)}`);
    }
  }
  return lines.join('\n');
}
