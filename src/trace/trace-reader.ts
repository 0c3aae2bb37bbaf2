/**
 * Reads a trace file back as a stream of events and its `uvscope` section. A uvscope trace
 * file (a process's part, a merged trace, a flight recorder's dump) has the line layout: line 1
 * `{"traceEvents":[`, one event per line (each but the last followed by `,`), and a last line
 * `],"displayTimeUnit":"ms","uvscope":{...}}`. That layout is read line by line in bounded
 * memory (one read buffer and one line at a time): the last line first (read backwards from the
 * end), then the events. Any other valid JSON trace (older uvscope files, Chrome's own, a bare
 * array of events) is read with JSON.parse, whole. A file that begins with the layout's first
 * line but does not end with its last line was cut short (a process killed while writing it):
 * `TraceReadError` with code `ERR_TRACE_TRUNCATED`; one that is not a trace at all:
 * `ERR_TRACE_FORMAT`. Synchronous; a `TraceSource` holds no file descriptor between reads
 * (each `events()` or `eventLines()` pass opens the file and closes it when done or abandoned).
 * @internal
 * @module
 */
import fs from 'node:fs';

import type { TraceEvent } from './format';
import type { ProcessInfo } from './process-collector';

/** The `uvscope` section of a trace file: what the summary needs beside the events. */
export interface TraceSection {
  blockMs: number;
  processes: ProcessInfo[];
  command?: string;
  /** The stall threshold; 0: no watchdog. */
  stallMs?: number;
  /** Part files left out of a merged trace (cut short or unreadable). */
  partsLeftOut?: number;
}

/** Line 1 of the line layout. */
export const TRACE_FIRST_LINE = '{"traceEvents":[';
/** How the last line of the line layout begins (the uvscope section follows on it). */
export const TRACE_LAST_LINE_START = '],"displayTimeUnit":';

/** The last line of the line layout for `section` (no newline). */
export function traceLastLine(section: unknown): string {
  return `],"displayTimeUnit":"ms"${section === undefined ? '' : `,"uvscope":${JSON.stringify(section)}`}}`;
}

export type TraceReadErrorCode = 'ERR_TRACE_TRUNCATED' | 'ERR_TRACE_FORMAT';

/** A file that cannot be read as a trace; `code` says why. */
export class TraceReadError extends Error {
  constructor(
    readonly file: string,
    readonly code: TraceReadErrorCode,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TraceReadError';
  }
}

export interface TraceSource {
  file: string;
  /** 'lines': the line layout, streamed; 'json': parsed whole (the fallback). */
  layout: 'lines' | 'json';
  /** The file's `uvscope` section, when it has one. */
  uvscope?: TraceSection;
  displayTimeUnit?: string;
  /** The events in file order. */
  events(): Generator<TraceEvent>;
  /** Each event's JSON text (the line without its comma; re-serialized in the fallback), in file order. */
  eventLines(): Generator<string>;
}

const CHUNK_BYTES = 1 << 20;

/**
 * The file's lines (without '\n'), from byte `from` to `to`; one chunk in memory (a line longer
 * than a chunk grows it). Each chunk is decoded up to its last newline (a newline byte is never
 * inside a UTF-8 sequence), so a line is never split between two decodings.
 */
function* lines(file: string, from: number, to: number): Generator<string> {
  const fd = fs.openSync(file, 'r');
  try {
    let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let kept = 0; // bytes of a line begun in the previous chunk, at the buffer's start
    let position = from;
    while (position < to) {
      if (kept === buffer.length) {
        const grown = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(grown, 0, 0, kept);
        buffer = grown;
      }
      const n = fs.readSync(fd, buffer, kept, Math.min(buffer.length - kept, to - position), position);
      if (n === 0) break;
      position += n;
      const end = kept + n;
      const last = buffer.lastIndexOf(10, end - 1);
      if (last === -1) {
        kept = end;
        continue;
      }
      const text = buffer.toString('utf8', 0, last);
      buffer.copy(buffer, 0, last + 1, end);
      kept = end - last - 1;
      let at = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', at)) {
        yield text.slice(at, nl);
        at = nl + 1;
      }
      yield text.slice(at);
    }
    if (kept > 0) yield buffer.toString('utf8', 0, kept);
  } finally {
    fs.closeSync(fd);
  }
}

/** The file's first line if it is no longer than `max` bytes (else undefined), and its length with the newline. */
function firstLine(fd: number, max: number): { text: string; bytes: number } | undefined {
  const buffer = Buffer.alloc(max + 1);
  const n = fs.readSync(fd, buffer, 0, max + 1, 0);
  const nl = buffer.subarray(0, n).indexOf(10);
  if (nl === -1) return undefined;
  return { text: buffer.subarray(0, nl).toString('utf8').replace(/\r$/, ''), bytes: nl + 1 };
}

/** The last line (trailing newlines ignored) and the byte where it begins; read backwards in chunks. */
function lastLine(fd: number, size: number): { text: string; at: number } {
  let end = size;
  const one = Buffer.alloc(1);
  // Trailing newlines (an editor's, or none).
  while (end > 0) {
    fs.readSync(fd, one, 0, 1, end - 1);
    if (one[0] !== 10 && one[0] !== 13) break;
    end--;
  }
  const parts: Buffer[] = [];
  let at = end;
  while (at > 0) {
    const from = Math.max(0, at - CHUNK_BYTES);
    const chunk = Buffer.allocUnsafe(at - from);
    fs.readSync(fd, chunk, 0, chunk.length, from);
    const nl = chunk.lastIndexOf(10);
    if (nl !== -1) {
      parts.unshift(chunk.subarray(nl + 1));
      at = from + nl + 1;
      break;
    }
    parts.unshift(chunk);
    at = from;
  }
  return { text: Buffer.concat(parts).toString('utf8'), at };
}

function parseEventLine(file: string, line: string): TraceEvent {
  const text = line.endsWith(',') ? line.slice(0, -1) : line;
  try {
    return JSON.parse(text) as TraceEvent;
  } catch {
    throw new TraceReadError(file, 'ERR_TRACE_FORMAT', `an event line is not JSON: ${text.slice(0, 80)}`);
  }
}

/** The fallback: the whole file parsed (any valid JSON trace: an object with `traceEvents`, or an array of events). */
function parsedWhole(file: string): TraceSource {
  let document: unknown;
  try {
    document = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new TraceReadError(file, 'ERR_TRACE_FORMAT', `not a JSON trace (${(error as Error).message})`);
  }
  const object = Array.isArray(document) ? { traceEvents: document } : (document as { traceEvents?: unknown; uvscope?: TraceSection; displayTimeUnit?: string });
  if (!object || typeof object !== 'object' || !Array.isArray(object.traceEvents)) {
    throw new TraceReadError(file, 'ERR_TRACE_FORMAT', 'not a trace (no traceEvents array)');
  }
  const events = object.traceEvents as TraceEvent[];
  return {
    file,
    layout: 'json',
    uvscope: object.uvscope,
    displayTimeUnit: object.displayTimeUnit,
    *events() {
      yield* events;
    },
    *eventLines() {
      for (const e of events) yield JSON.stringify(e);
    },
  };
}

/**
 * Opens a trace file: its uvscope section now, its events when iterated. Throws TraceReadError
 * (ERR_TRACE_TRUNCATED, ERR_TRACE_FORMAT) or the file system's error (ENOENT, ...).
 */
export function openTrace(file: string): TraceSource {
  const fd = fs.openSync(file, 'r');
  let head: ReturnType<typeof firstLine>;
  let tail: ReturnType<typeof lastLine> | undefined;
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
    head = firstLine(fd, TRACE_FIRST_LINE.length + 1);
    if (head?.text === TRACE_FIRST_LINE) tail = lastLine(fd, size);
  } finally {
    fs.closeSync(fd);
  }
  if (head?.text !== TRACE_FIRST_LINE) return parsedWhole(file);
  if (!tail || tail.at < head.bytes || !tail.text.startsWith(TRACE_LAST_LINE_START)) {
    throw new TraceReadError(file, 'ERR_TRACE_TRUNCATED', 'cut short (no last line: the process was killed while writing it)');
  }
  let closing: { uvscope?: TraceSection; displayTimeUnit?: string };
  try {
    closing = JSON.parse(`{"traceEvents":[${tail.text}`);
  } catch {
    throw new TraceReadError(file, 'ERR_TRACE_TRUNCATED', 'its last line is not JSON (cut short)');
  }
  const from = head.bytes;
  const to = tail.at;
  const eventLines = function* (): Generator<string> {
    for (const line of lines(file, from, to)) {
      const text = line.endsWith('\r') ? line.slice(0, -1) : line;
      if (text === '') continue;
      yield text.endsWith(',') ? text.slice(0, -1) : text;
    }
  };
  return {
    file,
    layout: 'lines',
    uvscope: closing.uvscope,
    displayTimeUnit: closing.displayTimeUnit,
    *events() {
      for (const line of eventLines()) yield parseEventLine(file, line);
    },
    eventLines,
  };
}

/** A whole trace file in memory (tests, small files): its events and section. */
export function readTraceFile(file: string): { traceEvents: TraceEvent[]; uvscope?: TraceSection } {
  const source = openTrace(file);
  const traceEvents: TraceEvent[] = [];
  for (const e of source.events()) traceEvents.push(e);
  return { traceEvents, ...(source.uvscope ? { uvscope: source.uvscope } : {}) };
}
