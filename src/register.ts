/**
 * `node --require uvscope/register app.js`: traces the process from the first line of user
 * code: every thread's loop (the main thread and each worker thread, which runs the preload
 * too), its CPU samples, stalls (with the HTTP request they ran for), the HTTP requests its
 * servers finish, uvscope's pool jobs and Node's own pool requests, and (Linux)
 * the process's pool threads' busy and run-queue time every 100 ms from the first tick on (see
 * trace/pool-thread-sampler.ts). It writes a
 * Chrome trace (Chrome DevTools, Perfetto, chrome://tracing) when the process exits, or on
 * SIGINT, SIGTERM or SIGHUP (then the signal does what it would have done). `uvscope trace`
 * preloads it in every Node process of a command through NODE_OPTIONS.
 *
 * Workers post what they recorded to the main thread every 100 ms and when they end; a worker
 * that is terminated, or still running when the process exits, keeps the loop slices it posted
 * but has no CPU samples (V8 hands its profile only when the worker stops it itself).
 *
 * Environment: UVSCOPE_TRACE_OUT (default uvscope-trace-<pid>.json), UVSCOPE_TRACE_BLOCK_MS
 * (long iteration threshold, default 20), UVSCOPE_TRACE_QUIET=1 (no summary on stderr),
 * UVSCOPE_TRACE_SAMPLE_US (CPU sampling interval in µs, default 1000; 0: no CPU samples),
 * UVSCOPE_TRACE_STALL_MS (a StallWatchdog's threshold per thread, default 200; 0: no watchdog;
 * each stall becomes a 'stall' slice with its reports), UVSCOPE_TRACE_STALL_FD or
 * UVSCOPE_TRACE_STALL_FIFO (a file descriptor, or a FIFO opened for writing, where the watchdog
 * writes its report lines while a loop is blocked), UVSCOPE_TRACE_MAX_MARKERS (loop markers kept
 * per thread, default 500000 bounded, 1000000 full: the newest), UVSCOPE_TRACE_DIR and UVSCOPE_TRACE_ORIGIN_NS (set
 * by `uvscope trace`: write `<dir>/<pid>.json` with ts from that origin, no summary),
 * UVSCOPE_TRACE_DETAIL (`bounded`, the default: the whole run as windows of a second, full
 * detail only around long iterations and stalls, CPU samples folded into a call tree and kept
 * with their times in those spans only; `full`: every loop marker, pool request, job and HTTP
 * request and the whole CPU profile, the newest kept to bound memory; see
 * trace/thread-recorder.ts).
 *
 * Armed mode (the flight recorder, trace/flight-recorder.ts): with UVSCOPE_FLIGHT_SECONDS=N the
 * preload writes no trace at exit; it keeps the last N seconds in the bounded form and writes
 * `<dir>/uvscope-flight-<pid>-<time>.json` when a stall ends and on a signal. Environment:
 * UVSCOPE_FLIGHT_DIR (default the current directory), UVSCOPE_FLIGHT_SIGNAL (default SIGUSR2;
 * `none`: no signal), UVSCOPE_FLIGHT_SAMPLE_US (CPU sampling interval in µs, default 0: off),
 * UVSCOPE_FLIGHT_MIN_INTERVAL_MS (at most one dump per this many ms, default N seconds), and
 * UVSCOPE_TRACE_BLOCK_MS / UVSCOPE_TRACE_STALL_MS as above. Worker threads record in bounded
 * mode and post to the main thread's recorder. Dumps are announced on stderr unless
 * UVSCOPE_TRACE_QUIET=1.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

import { writeAtExitOrSignal } from './trace/exit-writer';
import { analyzeEvents } from './trace/analysis';
import { formatSummary } from './trace/summary';
import { RecorderOptions, ThreadRecorder } from './trace/thread-recorder';
import { TraceSession, WorkerRecording, writeProcessTrace } from './trace/session';
import { FlightRecorder } from './trace/flight-recorder';
import { isInternalWorker } from './trace/internal-worker';

function warn(quiet: boolean, message: string): void {
  if (!quiet) process.stderr.write(`uvscope trace: ${message}\n`);
}

function integerEnv(name: string, fallback: number, min: number, max: number, quiet: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (Number.isInteger(n) && (n === 0 || (n >= min && n <= max))) return n;
  warn(quiet, `${name} must be 0 or an integer from ${min} to ${max}, got '${raw}': using ${fallback}`);
  return fallback;
}

/**
 * The watchdog's report file: UVSCOPE_TRACE_STALL_FIFO opened for writing (per thread; `opened`:
 * this module closes it once the watchdog has its own copy), or UVSCOPE_TRACE_STALL_FD (main
 * thread; the parent's, left open).
 */
function stallFile(quiet: boolean): { fd: number; opened: boolean } | undefined {
  const fifo = process.env.UVSCOPE_TRACE_STALL_FIFO;
  if (fifo) {
    try {
      // Non-blocking: without a reader (uvscope trace gone) this fails instead of waiting.
      return { fd: fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK), opened: true };
    } catch {
      return undefined;
    }
  }
  const fdText = process.env.UVSCOPE_TRACE_STALL_FD;
  if (fdText === undefined || fdText === '' || !isMainThread) return undefined;
  const fd = Number(fdText);
  try {
    if (!Number.isInteger(fd) || fd < 0) throw new Error('not a file descriptor');
    fs.fstatSync(fd);
    return { fd, opened: false };
  } catch {
    warn(quiet, `UVSCOPE_TRACE_STALL_FD ${fdText} is not an open file descriptor`);
    return undefined;
  }
}

function recorderOptions(quiet: boolean): { options: RecorderOptions; openedFd?: number } {
  const stallMs = integerEnv('UVSCOPE_TRACE_STALL_MS', 200, 10, 3_600_000, quiet);
  const file = stallMs === 0 ? undefined : stallFile(quiet);
  const detailText = process.env.UVSCOPE_TRACE_DETAIL;
  if (detailText && detailText !== 'full' && detailText !== 'bounded') warn(quiet, `UVSCOPE_TRACE_DETAIL must be 'bounded' or 'full', got '${detailText}': using bounded`);
  const options: RecorderOptions = {
    detail: detailText === 'full' ? 'full' : 'bounded',
    blockMs: Number(process.env.UVSCOPE_TRACE_BLOCK_MS) || 20,
    stallMs: stallMs === 0 ? undefined : stallMs,
    stallFile: file?.fd,
    sampleUs: integerEnv('UVSCOPE_TRACE_SAMPLE_US', 1000, 50, 1_000_000, quiet),
  };
  return { options, openedFd: file?.opened ? file.fd : undefined };
}

/** This thread's recorder. Its watchdog writes to a descriptor of its own: a FIFO descriptor opened for it is closed here. */
function startRecorder(quiet: boolean): { recorder: ThreadRecorder; options: RecorderOptions } {
  const { options, openedFd } = recorderOptions(quiet);
  try {
    return { recorder: new ThreadRecorder(options), options };
  } finally {
    if (openedFd !== undefined) fs.closeSync(openedFd);
  }
}

function startRecorderWith(options: RecorderOptions): ThreadRecorder {
  try {
    return new ThreadRecorder(options);
  } finally {
    // A FIFO descriptor opened for this thread's watchdog: the watchdog has its own copy.
    if (options.stallFile !== undefined && process.env.UVSCOPE_TRACE_STALL_FIFO) fs.closeSync(options.stallFile);
  }
}

/** A worker: its batches go to the main thread's session (or flight recorder). */
function startWorker(flight: boolean): void {
  const { options } = recorderOptions(true);
  if (flight) {
    options.detail = 'bounded';
    options.sampleUs = integerEnv('UVSCOPE_FLIGHT_SAMPLE_US', 0, 50, 1_000_000, true);
  }
  const recorder = startRecorderWith(options);
  const recording = new WorkerRecording(recorder, flight ? 'flight' : 'trace');
  process.on('exit', () => recording.finish());
}

/** Armed mode: a flight recorder instead of a trace at exit. */
function startFlight(seconds: number): void {
  const quiet = process.env.UVSCOPE_TRACE_QUIET === '1';
  const signalText = process.env.UVSCOPE_FLIGHT_SIGNAL || 'SIGUSR2';
  const stallMs = integerEnv('UVSCOPE_TRACE_STALL_MS', 200, 10, 3_600_000, quiet);
  const minText = process.env.UVSCOPE_FLIGHT_MIN_INTERVAL_MS;
  new FlightRecorder({
    seconds,
    dir: process.env.UVSCOPE_FLIGHT_DIR || process.cwd(),
    signal: signalText === 'none' ? null : (signalText as NodeJS.Signals),
    blockMs: Number(process.env.UVSCOPE_TRACE_BLOCK_MS) || 20,
    stallMs,
    sampleUs: integerEnv('UVSCOPE_FLIGHT_SAMPLE_US', 0, 50, 1_000_000, quiet),
    ...(minText ? { minIntervalMs: integerEnv('UVSCOPE_FLIGHT_MIN_INTERVAL_MS', seconds * 1000, 0, 86_400_000, quiet) } : {}),
    onDump: (file, reason) => {
      if (!quiet) process.stderr.write(`uvscope flight recorder: ${reason}: wrote ${file}\n`);
    },
    onError: (error, reason) => warn(false, `flight recorder: ${reason}: cannot dump: ${error.message}`),
  });
}

function startMain(): void {
  const quiet = process.env.UVSCOPE_TRACE_QUIET === '1';
  const dir = process.env.UVSCOPE_TRACE_DIR;
  const out = dir ? path.join(dir, `${process.pid}.json`) : path.resolve(process.env.UVSCOPE_TRACE_OUT || `uvscope-trace-${process.pid}.json`);
  const originText = process.env.UVSCOPE_TRACE_ORIGIN_NS;
  const { recorder, options } = startRecorder(quiet);
  const originNs = originText && /^\d+$/.test(originText) ? BigInt(originText) : process.hrtime.bigint();
  // Bounded: the detail spans' markers (about 400 a span) and records, capped lower.
  const bounded = options.detail !== 'full';
  const markersDefault = bounded ? 500_000 : 1_000_000;
  const maxMarkers = integerEnv('UVSCOPE_TRACE_MAX_MARKERS', markersDefault, 100, 100_000_000, quiet) || markersDefault;
  const session = new TraceSession(recorder, { recorder: options, maxMarkers, maxRecords: bounded ? 50_000 : 200_000, originNs });
  writeAtExitOrSignal(() => {
    // Made as they are written (and read again for the summary): the whole trace is never held at once.
    const trace = session.stream();
    let count: number;
    try {
      count = writeProcessTrace(out, trace);
    } catch (error) {
      warn(false, `cannot write the trace ${out}: ${(error as Error).message}`);
      return;
    }
    if (!dir && !quiet) process.stderr.write(`${formatSummary({ traceEvents: [], uvscope: trace.uvscope }, analyzeEvents(trace.traceEvents, trace.uvscope))}\ntrace: ${out} (${count} events)\n`);
  }, ['SIGINT', 'SIGTERM', 'SIGHUP']);
}

// Not in uvscope's own workers (a flight dump's writer), which Node preloads it in too.
if (!process.env.UVSCOPE_REGISTER_DISABLED && !isInternalWorker()) {
  const flightText = process.env.UVSCOPE_FLIGHT_SECONDS;
  const flightSeconds = flightText ? integerEnv('UVSCOPE_FLIGHT_SECONDS', 60, 1, 3600, process.env.UVSCOPE_TRACE_QUIET === '1' || !isMainThread) : 0;
  try {
    if (isMainThread) {
      if (flightSeconds) startFlight(flightSeconds);
      else startMain();
    } else startWorker(flightSeconds > 0);
  } catch (error) {
    process.stderr.write(`uvscope trace: cannot trace process ${process.pid}${isMainThread ? '' : ' (a worker)'}: ${(error as Error).message}\n`);
  }
}
