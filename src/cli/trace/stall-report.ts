/**
 * Stall report lines (the JSON a StallWatchdog writes while a loop is blocked) as the lines a
 * person reads on stderr while `uvscope trace` runs: `stall: main thread blocked 2.05 s in poll,
 * 99% on CPU, GET /range?n=50000, tenant=acme`, then the innermost frames. The first line is
 * always one line (the request's URL and the context's values are cut and their control
 * characters escaped). Pure functions over the parsed report (loop/stall-report-format.ts parses
 * the line), and StallLineMemory, which carries a stall's request and context to its later
 * reports that have none (a report taken while the thread is inside a native call names
 * nothing). The CLI parent formats without loading the native addon. Lifetime: a memory lives as
 * long as the reader of one report stream.
 * @internal
 * @module
 */

import type { LiveStallReport, StallContext, StallRequest } from '../../loop/stall-report-format';

/** The request's `METHOD URL` is cut to this many characters in the line. */
const MAX_REQUEST_CHARS = 120;
/** Context fields shown, and each value's characters. */
const MAX_CONTEXT_FIELDS = 4;
const MAX_CONTEXT_CHARS = 40;

export function threadName(threadId: number): string {
  return threadId === 0 ? 'main thread' : `worker ${threadId}`;
}

/** Control characters escaped (a URL or a context value must not break the line), cut to `max` characters. */
function oneLine(text: string, max: number): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

/** `412 ms` below a second, `2.05 s` from there. */
export function blockedText(elapsedNs: number): string {
  return elapsedNs < 1e9 ? `${Math.round(elapsedNs / 1e6)} ms` : `${(elapsedNs / 1e9).toFixed(2)} s`;
}

/** `tenant=acme userId=42` (the first MAX_CONTEXT_FIELDS fields, `+n` for the rest). */
export function contextText(context: StallContext): string {
  const entries = Object.entries(context);
  const shown = entries.slice(0, MAX_CONTEXT_FIELDS).map(([key, value]) => `${oneLine(key, MAX_CONTEXT_CHARS)}=${oneLine(String(value), MAX_CONTEXT_CHARS)}`);
  if (entries.length > MAX_CONTEXT_FIELDS) shown.push(`+${entries.length - MAX_CONTEXT_FIELDS}`);
  return shown.join(' ');
}

export type HumanReport = Pick<LiveStallReport, 'threadId' | 'elapsedNs' | 'phase' | 'inNative' | 'stack' | 'dropped' | 'cpuNs' | 'request' | 'context'>;

/** The summary line of one report: the thread, how long, where, the CPU's share, the request, the context. */
export function stallLine(report: HumanReport): string {
  const parts = [`stall: ${threadName(report.threadId)} blocked ${blockedText(report.elapsedNs)} in ${report.phase}${report.inNative ? ' (inside a native call)' : ''}`];
  if (report.cpuNs !== undefined && report.elapsedNs > 0) parts.push(`${Math.round(Math.min(1, Math.max(0, report.cpuNs / report.elapsedNs)) * 100)}% on CPU`);
  if (report.request) parts.push(oneLine(`${report.request.method} ${report.request.url}`, MAX_REQUEST_CHARS));
  if (report.context && Object.keys(report.context).length) parts.push(contextText(report.context));
  return parts.join(', ');
}

/** The human lines of one report: the summary line, then up to `frames` frames, indented. */
export function formatStallReport(report: HumanReport, frames = 3): string[] {
  const lines = [stallLine(report)];
  for (const frame of (report.stack ?? []).slice(0, frames)) {
    const where = frame.url ? `${frame.url}:${frame.line}:${frame.column}` : '<native>';
    lines.push(`    at ${frame.functionName || '<anonymous>'} (${where})`);
  }
  if (report.dropped) {
    lines.push(`    (${report.dropped} earlier report${report.dropped === 1 ? '' : 's'} of this thread could not be written: the reader fell behind)`);
  }
  return lines;
}

/**
 * The request and context of each thread's current stall, as its reports arrive: a report that
 * names none (taken inside a native call) gets those of the last report of the same stall that
 * did. One entry per thread (pid and threadId), replaced when the thread's next stall begins.
 */
export class StallLineMemory {
  readonly #threads = new Map<string, { stall: number; request?: StallRequest; context?: StallContext }>();

  /** The report, with the stall's last known request and context where it has none. */
  fill<T extends Pick<LiveStallReport, 'pid' | 'threadId' | 'stall' | 'request' | 'context'>>(report: T): T & Pick<LiveStallReport, 'request' | 'context'> {
    const key = `${report.pid}:${report.threadId}`;
    let known = this.#threads.get(key);
    if (!known || known.stall !== report.stall) this.#threads.set(key, (known = { stall: report.stall }));
    if (report.request) known.request = report.request;
    if (report.context) known.context = report.context;
    return { ...report, request: report.request ?? known.request, context: report.context ?? known.context };
  }
}
