/**
 * `uvscope top`'s screen as text: what the processes' agents said (hello, the latest stats,
 * stalls in progress from their watchdogs' live reports, stalls as they ended) laid out in lines of at most `width` columns (cut, never wrapped), per
 * process and thread. A pure function of its model and the time: the terminal handling is in
 * top.ts. Addon-free.
 * @internal
 * @module
 */
import type { HelloReply, StallSummary, StatsReply, ThreadStats } from '../../control/protocol';

/** What top knows of one process. */
export interface ProcessView {
  pid: number;
  hello?: HelloReply;
  stats?: StatsReply;
  /** Since when a stats request waits for its answer (the main thread is busy), ms since the epoch. */
  waitingSinceMs?: number;
  /** Why it cannot be shown (cannot connect, refused). */
  error?: string;
}

export interface StallLine {
  pid: number;
  stall: StallSummary;
  /** When top received it, ms since the epoch. */
  receivedAtMs: number;
}

/** A stall in progress, from its watchdog's first live report (the thread cannot answer on the socket). */
export interface LiveStallLine {
  pid: number;
  threadId: number;
  /** The report's fields, as a StallSummary would say them. */
  phase: string;
  cpuShare?: number;
  request?: string;
  frame?: string;
  inNative?: boolean;
  /** Monotonic ns (decimal), to match the stall's end. */
  startedAtNs: string;
  /** How long it had lasted when the report came, ns, and when that was (ms since the epoch). */
  elapsedNs: number;
  receivedAtMs: number;
}

export interface ScreenModel {
  processes: ProcessView[];
  /** Stalls in progress. */
  inProgress: LiveStallLine[];
  /** Newest last. */
  stalls: StallLine[];
  /** What the screen is about: 'all processes of uid 1000' or the launched command. */
  scope: string;
}

/** A stall newer than this is shown highlighted. */
export const FLASH_MS = 3000;

const REVERSE = '\x1b[7m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

/** Cut to `width` columns (the text is ASCII except for what the app names: one column a code point is close enough; never more). */
export function fit(text: string, width: number): string {
  const clean = text.replace(/[\x00-\x1f\x7f]/g, '?');
  const chars = [...clean];
  return chars.length <= width ? clean : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

function pad(text: string, width: number, right = true): string {
  const t = text.length > width ? text.slice(0, width) : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

export function formatMs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  const ms = ns / 1e6;
  if (ms >= 10_000) return `${(ms / 1000).toFixed(0)}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

function formatRate(perS: number): string {
  if (!Number.isFinite(perS)) return '-';
  if (perS >= 100_000) return `${(perS / 1000).toFixed(0)}k`;
  if (perS >= 10_000) return `${(perS / 1000).toFixed(1)}k`;
  return perS >= 10 ? perS.toFixed(0) : perS.toFixed(1);
}

function percent(ratio: number): string {
  return Number.isFinite(ratio) ? `${Math.round(ratio * 100)}%` : '-';
}

/** `main 1.50 s in timers, 98% on CPU, GET /x, spin app.js:5` */
export function describeStall(stall: StallSummary, threadName: string): string {
  const parts = [`${threadName} blocked ${(stall.durationNs / 1e9).toFixed(2)} s in ${stall.phase}`];
  if (stall.cpuShare !== undefined) parts.push(`${Math.round(stall.cpuShare * 100)}% on CPU`);
  if (stall.request) parts.push(stall.request);
  if (stall.frame) parts.push(stall.frame);
  return parts.join(', ');
}

const threadName = (id: number) => (id === 0 ? 'main' : `worker ${id}`);

/** `STALL IN PROGRESS: main blocked 2.3 s so far in poll, 99% on CPU, GET /x, spin app.js:5` */
export function describeLiveStall(live: LiveStallLine, nowMs: number): string {
  const soFarS = (live.elapsedNs + Math.max(0, nowMs - live.receivedAtMs) * 1e6) / 1e9;
  const parts = [`STALL IN PROGRESS: ${threadName(live.threadId)} blocked ${soFarS.toFixed(1)} s so far in ${live.phase}`];
  if (live.cpuShare !== undefined) parts.push(`${Math.round(live.cpuShare * 100)}% on CPU`);
  if (live.request) parts.push(live.request);
  if (live.frame) parts.push(live.frame);
  else if (live.inNative) parts.push('inside a native call');
  return parts.join(', ');
}

export const HEADER = `${pad('THREAD', 17, false)}${pad('UTIL', 5)}${pad('P99 ms', 8)}${pad('MAX ms', 8)}${pad('ITER/s', 8)}${pad('STALLS', 7)}${pad('HTTP/s', 8)}${pad('HTTP p99', 9)}`;

function threadRow(t: ThreadStats): string {
  return (
    pad(`  ${t.name}`, 17, false) +
    pad(percent(t.utilization), 5) +
    pad(formatMs(t.iterationP99Ns), 8) +
    pad(formatMs(t.iterationMaxNs), 8) +
    pad(formatRate(t.iterationsPerS), 8) +
    pad(t.stalls === undefined ? '-' : String(t.stalls), 7) +
    pad(t.http.perS > 0 ? formatRate(t.http.perS) : '-', 8) +
    pad(t.http.perS > 0 ? formatMs(t.http.p99Ns) : '-', 9)
  );
}

/** `    pool fs.stat 192/s p99 6.0 ms · dns.lookup 2/s p99 1.2 ms` (busiest kinds first). */
function poolRow(t: ThreadStats): string | undefined {
  const kinds = Object.entries(t.pool)
    .filter(([, k]) => k.perS > 0 || k.inFlight > 0)
    .sort(([, a], [, b]) => b.perS - a.perS);
  if (kinds.length === 0) return undefined;
  return `    pool ${kinds.map(([kind, k]) => `${kind} ${formatRate(k.perS)}/s p99 ${formatMs(k.p99Ns)}ms${k.inFlight ? ` (${k.inFlight} in flight)` : ''}`).join(' · ')}`;
}

/** The screen's lines, each at most `width` columns of visible text (styles added after cutting). */
export function renderScreen(model: ScreenModel, width: number, height: number, nowMs: number): string[] {
  const lines: string[] = [];
  const push = (text: string, style = '') => lines.push(style ? `${style}${fit(text, width)}${RESET}` : fit(text, width));
  const clock = new Date(nowMs).toISOString().slice(11, 19);
  const head = `uvscope top · ${model.scope}`;
  const tail = `  ${clock} UTC  q: quit`;
  const room = Math.max(0, width - tail.length);
  push(`${fit(head, room).padEnd(room)}${tail}`, BOLD);
  push(HEADER);
  if (model.processes.length === 0) push('  (no process with uvscope/agent yet)');
  for (const p of model.processes) {
    const title = p.hello ? `${p.hello.title}  ${p.hello.node}` : '';
    let poolText = '';
    if (p.stats?.poolThreads) {
      const pt = p.stats.poolThreads;
      poolText = `  pool ${pt.threads}/${pt.expected} thr busy ${percent(pt.busyRatio)} runq ${percent(pt.runQueueRatio)}`;
    }
    // The pool figures stay whole: the title gives way.
    const room = Math.max(0, width - poolText.length);
    push(`${fit(`${p.pid} ${title}`, room).padEnd(room)}${poolText}`, BOLD);
    if (p.error) {
      push(`  ${p.error}`);
      continue;
    }
    const live = model.inProgress.filter((l) => l.pid === p.pid);
    for (const l of live) push(`  ${describeLiveStall(l, nowMs)}`, REVERSE);
    if (live.length === 0 && p.waitingSinceMs !== undefined && nowMs - p.waitingSinceMs > 1500) {
      push(`  main thread not answering for ${((nowMs - p.waitingSinceMs) / 1000).toFixed(1)} s: blocked (a stall in progress?)`, REVERSE);
    }
    for (const t of p.stats?.threads ?? []) {
      push(threadRow(t));
      const pool = poolRow(t);
      if (pool) push(pool);
      if (t.watchdogUnavailable) push(`    no watchdog: ${t.watchdogUnavailable}`);
    }
  }
  // Stalls, newest first, as many as fit (the newest few seconds highlighted).
  const stallRoom = height - lines.length - 2;
  if (model.stalls.length > 0 && stallRoom > 0) {
    push('');
    push('STALLS (newest first)', BOLD);
    for (const s of [...model.stalls].reverse().slice(0, stallRoom - 1)) {
      const at = new Date(s.stall.endedAtMs).toISOString().slice(11, 19);
      const text = `${at} ${s.pid} ${describeStall(s.stall, threadName(s.stall.threadId))}`;
      push(text, nowMs - s.receivedAtMs < FLASH_MS ? REVERSE : '');
    }
  }
  return lines.slice(0, height);
}
