/**
 * Stall report lines (the JSON a StallWatchdog writes while a loop is blocked) as the lines a
 * person reads on stderr while `uvscope trace` runs: `stall: main thread blocked 412 ms in
 * timers`, then the innermost frames. Pure functions over the parsed report (loop/stall-report-format.ts parses the line): the CLI parent
 * formats without loading the native addon. The line's format is declared once, in
 * loop/stall-report-format.ts (addon-free too). Lifetime: none (stateless).
 * @internal
 * @module
 */

import type { LiveStallReport } from '../../loop/stall-report-format';

export function threadName(threadId: number): string {
  return threadId === 0 ? 'main thread' : `worker ${threadId}`;
}

/** The human lines of one report: the summary line, then up to `frames` frames, indented. */
export function formatStallReport(report: Pick<LiveStallReport, 'threadId' | 'elapsedNs' | 'phase' | 'inNative' | 'stack' | 'dropped'>, frames = 3): string[] {
  const lines = [
    `stall: ${threadName(report.threadId)} blocked ${Math.round(report.elapsedNs / 1e6)} ms in ${report.phase}` +
      (report.inNative ? ' (inside a native call)' : ''),
  ];
  for (const frame of (report.stack ?? []).slice(0, frames)) {
    const where = frame.url ? `${frame.url}:${frame.line}:${frame.column}` : '<native>';
    lines.push(`    at ${frame.functionName || '<anonymous>'} (${where})`);
  }
  if (report.dropped) {
    lines.push(`    (${report.dropped} earlier report${report.dropped === 1 ? '' : 's'} of this thread could not be written: the reader fell behind)`);
  }
  return lines;
}
