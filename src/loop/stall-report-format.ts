/**
 * The stall report wire format, declared once: the JSON line a StallWatchdog's native thread
 * builds (native/loop/stall_watchdog.cc, ReportLine and AppendReportFields; `dropped` added by
 * native/loop/report_sink.cc) for the report file and live subscribers, and the report objects
 * the 'stall' event carries. The TypeScript types below, a field table the compiler holds to
 * them (STALL_REPORT_LINE_FIELDS: every field of LiveStallReport, no other), and the parsers.
 * Used by the watchdog (loop/stall-watchdog.ts) and by the CLI parent (cli/trace/), which must
 * not load the addon: this module is addon-free. test/loop/stall-report-format.test.ts holds lines
 * from real stalls against the table. Lifetime: none (types, constants and pure functions).
 * @module
 */
import type { Phase } from './phases';

/** Where the loop was when it stalled: a libuv phase, or `startup` (a main script before the loop first turned). */
export type StallPhase = Phase | 'startup';

/** One JavaScript frame, innermost first in a stack. `line` and `column` are 1-based (0: unknown). */
export interface StallStackFrame {
  functionName: string;
  url: string;
  line: number;
  column: number;
}

/** The HTTP request a stalled thread was working for (as received: no headers, no body). */
export interface StallRequest {
  /** The request tracker's id on this thread (as in `uvscope:http:request`'s records). */
  id: number;
  method: string;
  /** Path and query, as received (cut at 2,048 bytes). */
  url: string;
  /** When the server started it (monotonic clock, ns). */
  startedAtNs: bigint;
}

/** The user's context fields (the watchdog's `context` option): strings (cut at 256 bytes), numbers (null when not finite), booleans. */
export type StallContext = Record<string, string | number | boolean | null>;

/** What the watchdog saw at one moment of a stall. */
export interface StallReport {
  /** When, on libuv's monotonic clock (ns; comparable with `process.hrtime.bigint()`). */
  atNs: bigint;
  /** How long the loop had been blocked at `atNs`, ns. */
  elapsedNs: number;
  /** The phase, from uvscope's markers, refined by the outermost frames of the stack when there is one. */
  phase: StallPhase;
  /** The heartbeat's loop iteration count (prepares seen since the environment's first watchdog started). */
  iteration: number;
  /**
   * CPU time the blocked thread used since the stall began, ns (read by the watchdog thread
   * from the blocked thread's CPU clock: measured from the watchdog's first look inside the
   * stall, at most 50 ms after it began, and extrapolated back to its start). Near `elapsedNs`:
   * computing (a regular expression, `JSON.parse`, `pbkdf2Sync`); near 0: waiting
   * (`Atomics.wait`, a synchronous read of a slow pipe or network file, a lock). Absent where
   * the platform has no per-thread CPU clock (macOS, Windows).
   */
  cpuNs?: number;
  /** The blocked thread's JavaScript stack, innermost first (at most `maxFrames`). */
  stack?: StallStackFrame[];
  /**
   * Only in report-file lines: outermost frames left out of `stack` so that the line fits one
   * atomic write (4 KiB on a pipe, a FIFO, a socket or a terminal; 1 MiB elsewhere). Live
   * reports and the 'stall' event keep them.
   */
  framesOmitted?: number;
  /** With `stack`: from the watchdog's request to the stack taken in the blocked thread, ns. */
  stackCaptureNs?: number;
  /** Why there is no stack: the stack addon could not load, or the environment is shutting down. */
  stackUnavailable?: string;
  /**
   * The HTTP request the thread was working for, when it was inside one a server on this
   * thread is handling (the watchdog's `requests` option; read with the stack, so absent with
   * `inNative`: the stall's `lateStack` has it then).
   */
  request?: StallRequest;
  /** The user's context fields read from the watchdog's `context` storage (Node 24+; read with the stack). */
  context?: StallContext;
  /** Why the user's context cannot be read on this Node (Node 20, 22 without async context frames). */
  contextUnavailable?: string;
  /**
   * The thread did not answer the stack request within 10 ms: it is inside a native call
   * (`crypto.pbkdf2Sync`, `fs.readFileSync` of a pipe, `Atomics.wait`, a long GC). The stack
   * taken when it returns to JavaScript is the stall's `lateStack`.
   */
  inNative?: boolean;
}

/** A report as a live subscriber or the report file receives it, while the stall lasts. */
export interface LiveStallReport extends StallReport {
  type: 'uvscope.stall.report';
  /** Wall-clock time of the report (ISO 8601, UTC). */
  time: string;
  pid: number;
  /** The blocked thread: 0 for the main thread, else the worker's `threadId`. */
  threadId: number;
  /** This watchdog's stall number (1, 2, ...) and this report's number within it (1, 2, ...). */
  stall: number;
  report: number;
  /** When the blocked stretch began (monotonic clock, ns). */
  startedAtNs: bigint;
  thresholdNs: number;
  /**
   * Only in report-file lines: how many of this watchdog's lines before this one could not be
   * written (the reader did not keep up, went away, or the disk was full). Counted in
   * `stats().reportsDropped` too.
   */
  dropped?: number;
}

/** How a field travels in the JSON line. `bigint`: a decimal string (a JSON number would lose precision). */
export type WireFieldType = 'string' | 'number' | 'boolean' | 'bigint' | 'frames' | 'request' | 'context';

/** One field of the line: its JSON type, and whether every line has it. */
export interface WireField {
  type: WireFieldType;
  optional: boolean;
}

/**
 * Every field of a report line, as {@link LiveStallReport} declares it (the mapped type makes a
 * field added to or removed from the interface a compile error here until the table follows).
 * @internal
 */
export const STALL_REPORT_LINE_FIELDS: { readonly [K in keyof LiveStallReport]-?: WireField } = {
  type: { type: 'string', optional: false },
  time: { type: 'string', optional: false },
  pid: { type: 'number', optional: false },
  threadId: { type: 'number', optional: false },
  stall: { type: 'number', optional: false },
  report: { type: 'number', optional: false },
  startedAtNs: { type: 'bigint', optional: false },
  thresholdNs: { type: 'number', optional: false },
  atNs: { type: 'bigint', optional: false },
  elapsedNs: { type: 'number', optional: false },
  phase: { type: 'string', optional: false },
  iteration: { type: 'number', optional: false },
  cpuNs: { type: 'number', optional: true },
  stack: { type: 'frames', optional: true },
  framesOmitted: { type: 'number', optional: true },
  stackCaptureNs: { type: 'number', optional: true },
  stackUnavailable: { type: 'string', optional: true },
  request: { type: 'request', optional: true },
  context: { type: 'context', optional: true },
  contextUnavailable: { type: 'string', optional: true },
  inNative: { type: 'boolean', optional: true },
  dropped: { type: 'number', optional: true },
};

/** The fields of a report in the 'stall' event's `reports` (the line's report fields, without the header or `dropped`). @internal */
export const STALL_REPORT_FIELDS: { readonly [K in keyof StallReport]-?: WireField } = {
  atNs: STALL_REPORT_LINE_FIELDS.atNs,
  elapsedNs: STALL_REPORT_LINE_FIELDS.elapsedNs,
  phase: STALL_REPORT_LINE_FIELDS.phase,
  iteration: STALL_REPORT_LINE_FIELDS.iteration,
  cpuNs: STALL_REPORT_LINE_FIELDS.cpuNs,
  stack: STALL_REPORT_LINE_FIELDS.stack,
  framesOmitted: STALL_REPORT_LINE_FIELDS.framesOmitted,
  stackCaptureNs: STALL_REPORT_LINE_FIELDS.stackCaptureNs,
  stackUnavailable: STALL_REPORT_LINE_FIELDS.stackUnavailable,
  request: STALL_REPORT_LINE_FIELDS.request,
  context: STALL_REPORT_LINE_FIELDS.context,
  contextUnavailable: STALL_REPORT_LINE_FIELDS.contextUnavailable,
  inNative: STALL_REPORT_LINE_FIELDS.inNative,
};

/** The fields of a request. @internal */
export const STALL_REQUEST_FIELDS: { readonly [K in keyof StallRequest]-?: WireField } = {
  id: { type: 'number', optional: false },
  method: { type: 'string', optional: false },
  url: { type: 'string', optional: false },
  startedAtNs: { type: 'bigint', optional: false },
};

/** The fields of a stack frame. @internal */
export const STALL_STACK_FRAME_FIELDS: { readonly [K in keyof StallStackFrame]-?: WireField } = {
  functionName: { type: 'string', optional: false },
  url: { type: 'string', optional: false },
  line: { type: 'number', optional: false },
  column: { type: 'number', optional: false },
};

/** The value of `type` that marks a report line. @internal */
export const STALL_REPORT_TYPE: LiveStallReport['type'] = 'uvscope.stall.report';

function valueMatches(type: WireFieldType, value: unknown, at: string, problems: string[]): void {
  if (type === 'frames') {
    if (!Array.isArray(value)) {
      problems.push(`${at}: expected an array of frames, got ${typeof value}`);
      return;
    }
    value.forEach((frame, i) => problems.push(...wireProblems(STALL_STACK_FRAME_FIELDS, frame, `${at}[${i}]`)));
    return;
  }
  if (type === 'request') {
    problems.push(...wireProblems(STALL_REQUEST_FIELDS, value, at));
    return;
  }
  if (type === 'context') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${at}: expected an object, got ${JSON.stringify(value)}`);
      return;
    }
    for (const [key, field] of Object.entries(value)) {
      if (field !== null && !['string', 'number', 'boolean'].includes(typeof field)) problems.push(`${at}.${key}: expected a primitive, got ${JSON.stringify(field)}`);
    }
    return;
  }
  const ok = type === 'bigint' ? typeof value === 'string' && /^\d+$/.test(value) : typeof value === type;
  if (!ok) problems.push(`${at}: expected ${type === 'bigint' ? 'a decimal string (bigint)' : type}, got ${JSON.stringify(value)}`);
}

/**
 * What in `json` (one parsed JSON object) disagrees with `fields`: a field missing or of
 * another type, or a field not declared. Empty when it matches. @internal
 */
export function wireProblems(fields: { readonly [name: string]: WireField }, json: unknown, at = 'line'): string[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [`${at}: expected an object, got ${JSON.stringify(json)}`];
  const problems: string[] = [];
  const record = json as Record<string, unknown>;
  for (const [name, field] of Object.entries(fields)) {
    if (!(name in record)) {
      if (!field.optional) problems.push(`${at}.${name}: missing`);
      continue;
    }
    valueMatches(field.type, record[name], `${at}.${name}`, problems);
  }
  for (const name of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(fields, name)) problems.push(`${at}.${name}: not declared`);
  }
  return problems;
}

/** Parses one report line (as written to the report file and delivered to live subscribers). */
export function parseStallReport(line: string): LiveStallReport {
  const { request, ...raw } = JSON.parse(line) as Omit<LiveStallReport, 'atNs' | 'startedAtNs' | 'request'> & {
    atNs: string;
    startedAtNs: string;
    request?: RawRequest;
  };
  return { ...raw, atNs: BigInt(raw.atNs), startedAtNs: BigInt(raw.startedAtNs), ...requestOf({ request }) };
}

/** A request as the JSON carries it (`startedAtNs` a decimal string). @internal */
export type RawRequest = Omit<StallRequest, 'startedAtNs'> & { startedAtNs: string };

/** `{ request }` with its bigint, or nothing, for spreading into a parsed report. @internal */
export function requestOf(raw: { request?: RawRequest }): { request?: StallRequest } {
  return raw.request ? { request: { ...raw.request, startedAtNs: BigInt(raw.request.startedAtNs) } } : {};
}

/**
 * Parses one line that may not be a report line (a partial line, another program's output):
 * undefined for those, never a throw. @internal
 */
export function parseStallReportLine(line: string): LiveStallReport | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return undefined;
  }
  const record = raw as Partial<Record<keyof LiveStallReport, unknown>> | null;
  if (!record || typeof record !== 'object' || record.type !== STALL_REPORT_TYPE) return undefined;
  if (typeof record.elapsedNs !== 'number' || typeof record.atNs !== 'string' || typeof record.startedAtNs !== 'string') return undefined;
  return parseStallReport(line);
}
