/**
 * Stall report lines (the JSON a StallWatchdog writes while a loop is blocked) as the lines a
 * person reads on stderr while `uvscope trace` runs: `stall: main thread blocked 412 ms in
 * timers`, then the innermost frames. Pure functions over the parsed JSON: the CLI parent
 * formats without loading the native addon. Lifetime: none (stateless).
 * @internal
 * @module
 */

/** The fields of a report line the CLI uses (see `LiveStallReport`; bigints stay strings here). */
export interface StallReportLine {
  type: string;
  threadId: number;
  stall: number;
  report: number;
  elapsedNs: number;
  phase: string;
  stack?: { functionName: string; url: string; line: number; column: number }[];
  inNative?: boolean;
  stackUnavailable?: string;
  /** Lines of this watchdog before this one that could not be written (the reader fell behind). */
  dropped?: number;
}

/** Parses one line; undefined when it is not a stall report (a partial or foreign line). */
export function parseReportLine(line: string): StallReportLine | undefined {
  try {
    const parsed = JSON.parse(line) as StallReportLine;
    return parsed && parsed.type === 'uvscope.stall.report' && typeof parsed.elapsedNs === 'number' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function threadName(threadId: number): string {
  return threadId === 0 ? 'main thread' : `worker ${threadId}`;
}

/** The human lines of one report: the summary line, then up to `frames` frames, indented. */
export function formatStallReport(report: StallReportLine, frames = 3): string[] {
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
