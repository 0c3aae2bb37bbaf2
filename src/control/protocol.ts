/**
 * The control channel's wire format, declared once: what `uvscope top` and `uvscope trace
 * --attach` (the client) and the `uvscope/agent` preload (the server, in the traced process)
 * say to each other over the process's Unix domain socket, and what the agent's threads tell
 * its main thread over a BroadcastChannel. Newline-delimited JSON, UTF-8, one object a line:
 * the client sends requests `{ id, cmd, ... }`; the agent answers each with `{ id, ok: true,
 * ... }` or `{ id, ok: false, error }`, in order, and after `subscribe` also pushes events
 * (`{ event: 'stall', stall }`, no id) as they happen; a `trace` request gets
 * `{ event: 'trace-started', requestId }` before its reply (no `id`: not a reply). `live` asks
 * every thread's watchdog to write its live stall reports (the stall-report line format,
 * loop/stall-report-format.ts) to a FIFO the client made and reads: a stall in progress blocks
 * the thread that would answer on the socket, but not its watchdog thread. Times are ns unless
 * a name says otherwise; bigints never cross the wire. Addon-free (the CLI imports it).
 * @internal
 * @module
 */

/** Protocol version, in `hello`. A client refuses an agent with another major. */
export const PROTOCOL_VERSION = 1;

/** A request line longer than this (bytes, without the newline) closes the connection. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Replies and events waiting for a client that does not read: above this, events are dropped (counted) and a reply closes the connection. */
export const MAX_PENDING_BYTES = 1024 * 1024;
/** Connections served at once; more are closed at once. */
export const MAX_CONNECTIONS = 32;

/** How often each thread's figures are taken (the window of `stats`), ms. */
export const STATS_INTERVAL_MS = 1000;

/** Limits of a `trace` request. */
export const TRACE_LIMITS = {
  durationMs: { min: 100, max: 3_600_000 },
  blockMs: { min: 1, max: 3_600_000 },
  stallMs: { min: 10, max: 3_600_000 },
  sampleUs: { min: 50, max: 1_000_000 },
} as const;

export type Request =
  | { id: number; cmd: 'hello' }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'subscribe' }
  | { id: number; cmd: 'live'; fifo: string }
  | { id: number; cmd: 'trace'; durationMs: number; dir: string; blockMs: number; stallMs: number; sampleUs: number; maxMarkers?: number; originNs?: string };

export interface HelloReply {
  protocol: number;
  pid: number;
  /** `node app.js --port 3000` (the process's title as traces name it, without the pid). */
  title: string;
  node: string;
  uvscope: string;
  /** The threads the agent runs in now: 0 is the main thread. */
  threads: number[];
  /** The agent's stall threshold, ms. */
  stallMs: number;
  /** Connections the agent serves now (this one included). */
  connections: number;
}

/** One kind of Node's pool requests (fs.stat, dns.lookup, crypto.pbkdf2, zlib, uvscope jobs) over the last window. */
export interface PoolKindStats {
  /** Settled per second. */
  perS: number;
  /** Submitted to callback, ns. */
  p99Ns: number;
  failed: number;
  inFlight: number;
}

/** A stall as the agent tells it: one line's worth. */
export interface StallSummary {
  threadId: number;
  /** The thread's stall number (1, 2, ...). */
  stall: number;
  durationNs: number;
  phase: string;
  /** Share of the stall the blocked thread spent on a CPU (its last report's cpuNs / elapsedNs); absent where unknown. */
  cpuShare?: number;
  /** `GET /path` of the HTTP request it ran for. */
  request?: string;
  /** The innermost JavaScript frame `fn file:line`, when a stack was taken. */
  frame?: string;
  /** When it began, monotonic ns (a decimal string): the live reports of the same stall have it too. */
  startedAtNs: string;
  /** When it ended, ms since the epoch. */
  endedAtMs: number;
}

/** A stall's request as StallSummary.request says it: `GET /path`. */
export function requestText(request: { method: string; url: string }): string {
  return `${request.method} ${request.url}`.slice(0, 200);
}

/** A frame as StallSummary.frame says it: `fn file:line`. */
export function frameText(frame: { functionName: string; url: string; line: number }): string {
  const where = frame.url ? ` ${frame.url.replace(/^.*\//, '')}:${frame.line}` : '';
  return `${frame.functionName || '(anonymous)'}${where}`.slice(0, 200);
}

/** One thread's figures over the last window (STATS_INTERVAL_MS). */
export interface ThreadStats {
  threadId: number;
  /** 'main' or `worker <threadId>`. */
  name: string;
  windowNs: number;
  /** Share of the window the loop was not waiting for I/O (as performance.eventLoopUtilization()). */
  utilization: number;
  iterationsPerS: number;
  iterationP99Ns: number;
  /** Longest iteration of the window, ns. */
  iterationMaxNs: number;
  /** Stalls since the agent started on this thread; absent when it has no watchdog. */
  stalls?: number;
  lastStall?: StallSummary;
  /** Node's pool requests this thread made, by kind. */
  pool: Record<string, PoolKindStats>;
  /** HTTP requests this thread's servers finished. */
  http: { perS: number; p99Ns: number };
  /** Why there is no watchdog (the addon could not start one), when so. */
  watchdogUnavailable?: string;
  /** When the figures were taken, ms since the epoch. */
  atMs: number;
}

export interface StatsReply {
  pid: number;
  threads: ThreadStats[];
  /** The pool threads over the last window (Linux), whoever's work they ran; absent while none is known. */
  poolThreads?: { threads: number; expected: number; busyRatio: number; runQueueRatio: number };
  /** Why there are no pool-thread figures. */
  poolThreadsUnavailable?: string;
  /** Events this connection lost because it did not read fast enough. */
  droppedEvents: number;
}

export interface TraceReply {
  /** The trace file written: `<dir>/<pid>.json`. */
  file: string;
  threads: number;
}

export type Reply = { id: number; ok: true } & Partial<HelloReply & StatsReply & TraceReply>;
export type ErrorReply = { id: number | null; ok: false; error: string; code: string };
/**
 * Pushed to the client that asked for a `trace` (`requestId` its request's id), subscribed or
 * not, once the main thread records and its workers have been asked to: the window runs from here.
 */
export type TraceStartedEvent = { event: 'trace-started'; pid: number; requestId: number };
export type Event = { event: 'stall'; pid: number; stall: StallSummary } | TraceStartedEvent;
export type Message = Reply | ErrorReply | Event;

/** Error codes of `ErrorReply`. */
export const ERROR_CODES = {
  badRequest: 'EBADREQUEST',
  unknownCommand: 'EUNKNOWNCMD',
  busy: 'EBUSY',
  badDir: 'EBADDIR',
  failed: 'EFAILED',
} as const;

/** Main thread <-> worker threads of one process, over the BroadcastChannels `agentChannelName('up' | 'down')`. */
export type ThreadMessage =
  | { type: 'stats'; stats: ThreadStats }
  | { type: 'stall'; stall: StallSummary }
  | { type: 'gone'; threadId: number }
  | { type: 'trace-start'; options: { blockMs: number; stallMs: number; sampleUs: number } }
  | { type: 'trace-stop' }
  | { type: 'live'; fifo: string }
  | { type: 'trace-stopped'; threadId: number }
  | { type: 'hello'; threadId: number };

/**
 * The BroadcastChannels of the agent's threads in one process: 'up' (workers to the main
 * thread: stats, stalls, hello, gone, trace-stopped) and 'down' (the main thread to the workers:
 * trace-start, trace-stop, live), so that no worker wakes for another worker's figures.
 */
export const agentChannelName = (direction: 'up' | 'down', pid: number = process.pid): string => `uvscope:agent-${direction}:${pid}`;

/** One line of the wire: JSON and a newline. */
export function encode(message: Message | Request): string {
  return `${JSON.stringify(message)}\n`;
}

/** Splits a byte stream into lines, bounded: a line longer than `maxBytes` is an error (the caller closes). */
export class LineSplitter {
  #buffered = '';
  constructor(private readonly maxBytes: number) {}

  /** The whole lines in `chunk` (with what was buffered); undefined when a line is too long. */
  push(chunk: string): string[] | undefined {
    this.#buffered += chunk;
    const lines = this.#buffered.split('\n');
    this.#buffered = lines.pop()!;
    if (Buffer.byteLength(this.#buffered) > this.maxBytes || lines.some((l) => Buffer.byteLength(l) > this.maxBytes)) return undefined;
    return lines;
  }
}

/** Parses a request line; a string saying what is wrong when it is not a request. */
export function parseRequest(line: string): Request | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (!Number.isSafeInteger(r.id)) return 'id must be an integer';
  if (typeof r.cmd !== 'string') return 'cmd must be a string';
  if (r.cmd === 'trace') {
    if (typeof r.dir !== 'string' || r.dir === '' || r.dir.includes('\0')) return 'dir must be a path';
    for (const [name, { min, max }] of Object.entries(TRACE_LIMITS)) {
      const n = r[name];
      const zero = name === 'stallMs' || name === 'sampleUs';
      if (zero && n === 0) continue;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) return `${name} must be an integer from ${min} to ${max}${zero ? ' or 0' : ''}`;
    }
    if (r.maxMarkers !== undefined && (typeof r.maxMarkers !== 'number' || !Number.isInteger(r.maxMarkers) || r.maxMarkers < 100 || r.maxMarkers > 100_000_000)) {
      return 'maxMarkers must be an integer from 100 to 100000000';
    }
    if (r.originNs !== undefined && (typeof r.originNs !== 'string' || !/^\d{1,20}$/.test(r.originNs))) return 'originNs must be a decimal string';
  }
  if (r.cmd === 'live' && (typeof r.fifo !== 'string' || !r.fifo.startsWith('/') || r.fifo.includes('\0'))) return 'fifo must be an absolute path';
  return r as unknown as Request;
}
