/**
 * One recording of a process: the main thread's `TraceSession` (its own ThreadRecorder, the
 * batches its workers post, the pool-thread sampler, all in a ProcessCollector) and each
 * worker's `WorkerRecording` (a ThreadRecorder that posts its batches to the main thread every
 * 100 ms and when it ends). `finish()` builds the process's trace and writes it. Started by the
 * preload `uvscope/register` (from the first line of user code to exit) and by any other owner
 * that records a window of a running process.
 *
 * Workers post what they recorded to the main thread every 100 ms and when they end; a worker
 * that is terminated, or still running when the process exits, keeps the loop slices it posted
 * but has no CPU samples (V8 hands its profile only when the worker stops it itself).
 * Lifetime: from construction to `finish()`.
 * @internal
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import { BroadcastChannel, threadId, Worker } from 'node:worker_threads';

import { PoolThreadSampler } from './pool-thread-sampler';
import { ProcessCollector, ProcessInfo } from './process-collector';
import { RecorderOptions, ThreadBatch, ThreadRecorder } from './thread-recorder';
import type { TraceEvent } from './format';
import { TRACE_FIRST_LINE, traceLastLine } from './trace-reader';

/** Workers to the main thread: their batches (a TraceSession or a FlightRecorder collects them). */
/**
 * What a recording is for: each kind has a channel of its own, so that recordings running at
 * once in one process (a flight recorder, an attached window, a launched trace) never take each
 * other's worker batches.
 */
export type RecordingKind = 'trace' | 'flight' | 'attach';
export const channelName = (kind: RecordingKind) => `uvscope:${kind}:${process.pid}`;
/** Main thread to workers: `{ finish: threadId }` asks that worker for its last batch now. */
const controlName = () => `uvscope:trace-control:${process.pid}`;
/** How long `worker.terminate()` waits for the worker's last batch. */
const FINISH_WAIT_MS = 500;
/** How often a thread hands its batch, ms. */
export const TICK_MS = 100;

/** What a process's trace file holds (beside `displayTimeUnit`). */
export interface ProcessTrace {
  traceEvents: TraceEvent[];
  uvscope: { blockMs: number; stallMs: number; processes: ProcessInfo[] };
}

/** A ProcessTrace whose events are made as they are read (TraceSession.stream()). */
export interface ProcessTraceStream {
  traceEvents: Iterable<TraceEvent>;
  uvscope: ProcessTrace['uvscope'];
}

export interface TraceSessionOptions {
  recorder: RecorderOptions;
  /** Loop markers kept per thread. */
  maxMarkers: number;
  /** Pool jobs, pool requests, HTTP requests (each) and detail spans kept per thread (default 200,000). */
  maxRecords?: number;
  /** The trace's time origin (ts 0), monotonic ns. */
  originNs: bigint;
  /** Default 'trace'; the workers' WorkerRecordings must say the same. */
  kind?: RecordingKind;
}

/** A worker's side of a recording: its batches go to the main thread's session. */
export class WorkerRecording {
  readonly #recorder: ThreadRecorder;
  readonly #channel: BroadcastChannel;
  readonly #control = new BroadcastChannel(controlName());
  readonly #tick: NodeJS.Timeout;
  #finished = false;

  constructor(recorder: ThreadRecorder, kind: RecordingKind = 'trace') {
    this.#recorder = recorder;
    this.#channel = new BroadcastChannel(channelName(kind));
    this.#channel.unref();
    this.#control.unref();
    this.#tick = setInterval(() => this.#channel.postMessage(recorder.flush()), TICK_MS);
    this.#tick.unref();
    this.#control.onmessage = (message) => {
      if ((message as { data: { finish?: number } }).data.finish === threadId) this.finish();
    };
  }

  /** Posts the last batch and closes the channels. Idempotent. */
  finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearInterval(this.#tick);
    const last = this.#recorder.finish();
    if (last) this.#channel.postMessage(last);
    this.#control.close();
    this.#channel.close();
  }
}

let terminatePatched = false;
let activeCollector: ProcessCollector | undefined;

/**
 * `worker.terminate()` stops a worker's JavaScript at once: its 'exit' listeners do not run, so
 * its CPU profile would be lost. Asked first, an idle worker hands its last batch (with the
 * profile) before it is terminated; a busy one that does not answer within FINISH_WAIT_MS is
 * terminated without it. Patched once per process; it asks only while a session records.
 */
function finishWorkersBeforeTerminate(): void {
  if (terminatePatched) return;
  terminatePatched = true;
  const control = new BroadcastChannel(controlName());
  control.unref();
  const terminate = Worker.prototype.terminate;
  Worker.prototype.terminate = function (this: Worker, ...args: unknown[]) {
    const id = this.threadId;
    const collector = activeCollector;
    if (!collector || id < 0 || !collector.has(id) || collector.finished(id)) return (terminate as (...a: unknown[]) => Promise<number>).apply(this, args);
    control.postMessage({ finish: id });
    return collector.waitFinished(id, FINISH_WAIT_MS).then(() => (terminate as (...a: unknown[]) => Promise<number>).apply(this, args));
  } as typeof terminate;
}

/** `node app.js --port 3000 (pid 123)`, at most 80 characters before the pid. */
export function processTitle(): string {
  const words = [path.basename(process.argv0), ...process.argv.slice(1).map((a) => (path.isAbsolute(a) ? path.basename(a) : a))];
  const title = words.join(' ');
  return `${title.length > 80 ? `${title.slice(0, 77)}...` : title} (pid ${process.pid})`;
}

/** The main thread's side of a recording. */
export class TraceSession {
  readonly #recorder: ThreadRecorder;
  readonly #options: TraceSessionOptions;
  readonly #collector: ProcessCollector;
  readonly #channel: BroadcastChannel;
  readonly #poolThreads = new PoolThreadSampler();
  readonly #tick: NodeJS.Timeout;
  #trace?: ProcessTrace;
  #stream?: ProcessTraceStream;

  /** `recorder`: the main thread's, started by the caller (first, so that its CPU samples cover what follows). */
  constructor(recorder: ThreadRecorder, options: TraceSessionOptions) {
    this.#recorder = recorder;
    this.#options = options;
    this.#collector = new ProcessCollector({ maxMarkers: options.maxMarkers, maxRecords: options.maxRecords ?? 200_000 });
    this.#channel = new BroadcastChannel(channelName(options.kind ?? 'trace'));
    activeCollector = this.#collector;
    this.#channel.unref();
    this.#channel.onmessage = (message) => this.#collector.add((message as { data: ThreadBatch }).data);
    this.#tick = setInterval(() => {
      this.#collector.add(recorder.flush());
      this.#collector.addPoolSample(this.#poolThreads.sample());
    }, TICK_MS);
    this.#tick.unref();
    finishWorkersBeforeTerminate();
  }

  /** Stops recording and builds the process's trace (the same object on every call). */
  finish(): ProcessTrace {
    if (this.#trace) return this.#trace;
    const { traceEvents, uvscope } = this.stream();
    const events: TraceEvent[] = [];
    for (const event of traceEvents) events.push(event);
    this.#trace = { traceEvents: events, uvscope };
    return this.#trace;
  }

  /**
   * Stops recording; the process's trace with its events made as they are read (for
   * writeProcessTrace: the writer holds one event at a time, not the whole trace). The same
   * object on every call; its events can be read more than once.
   */
  stream(): ProcessTraceStream {
    if (this.#stream) return this.#stream;
    clearInterval(this.#tick);
    this.#channel.close();
    const collector = this.#collector;
    if (activeCollector === collector) activeCollector = undefined;
    const last = this.#recorder.finish();
    if (last) collector.add(last);
    collector.addPoolSample(this.#poolThreads.sample(false));
    this.#poolThreads.stop();
    collector.poolThreadsUnavailable = this.#poolThreads.unavailable;
    const { blockMs, stallMs } = this.#options.recorder;
    const { events, info } = collector.stream(process.pid, processTitle(), this.#options.originNs, blockMs * 1e6, process.hrtime.bigint());
    this.#stream = { traceEvents: events, uvscope: { blockMs, stallMs: stallMs ?? 0, processes: [info] } };
    return this.#stream;
  }
}

/** Bytes gathered before each write. */
const WRITE_CHUNK_BYTES = 1 << 20;

/**
 * Writes a process's trace as a Chrome trace file (synchronously: also from an 'exit'
 * listener), streamed in chunks of about 1 MiB, never as one string: line 1
 * `{"traceEvents":[`, then one event per line (each but the last followed by `,`), then the last
 * line `],"displayTimeUnit":"ms","uvscope":{...}}`. A valid JSON document that a reader can
 * also take line by line. A regular file is written to `<file>.tmp-<pid>` and renamed, so that a
 * reader never sees half of it; anything else (/dev/null, a FIFO) is written in place.
 * `trace.traceEvents` may be made as they are read (TraceSession.stream()): one is held at a
 * time. Returns the number of events written.
 */
export function writeProcessTrace(file: string, trace: ProcessTrace | ProcessTraceStream): number {
  let inPlace = false;
  try {
    inPlace = !fs.statSync(file).isFile();
  } catch {
    // Not there yet: written beside it and renamed.
  }
  const target = inPlace ? file : `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(target, 'w');
  let count = 0;
  try {
    let chunk = `${TRACE_FIRST_LINE}\n`;
    // Each event's separator comes before the next one: the events may be made as they are read (their number unknown).
    for (const event of trace.traceEvents) {
      if (count++ > 0) chunk += ',\n';
      chunk += JSON.stringify(event);
      if (chunk.length >= WRITE_CHUNK_BYTES) {
        writeAll(fd, chunk);
        chunk = '';
      }
    }
    chunk += `${count > 0 ? '\n' : ''}${traceLastLine(trace.uvscope)}\n`;
    writeAll(fd, chunk);
  } catch (error) {
    fs.closeSync(fd);
    if (!inPlace) fs.rmSync(target, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  if (!inPlace) fs.renameSync(target, file);
  return count;
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
}
