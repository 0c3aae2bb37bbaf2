/**
 * The flight recorder: an armed, bounded recording of the calling process that keeps only the
 * last `seconds` and writes them as a trace file (the `uvscope trace` per-process format,
 * session.ts writeProcessTrace) when a stall ends (the watchdog's 'stall' event: the file holds
 * the stall with its reports and stacks), on `signal` (default SIGUSR2), or when `dump()` is
 * called: `<dir>/uvscope-flight-<pid>-<time>.json`. Listening for the signal replaces its default
 * action (SIGUSR2 would end the process): the process goes on after a dump.
 *
 * What it keeps: the main thread's ThreadRecorder in bounded mode (windows of a second, full
 * detail only around long iterations and stalls; thread-recorder.ts), flushed every 100 ms into
 * a queue of batches from which those older than `seconds` go; worker threads that run the
 * preload in armed mode (register.ts, UVSCOPE_FLIGHT_SECONDS) post theirs on the recording
 * channel and are kept the same way. CPU sampling is off by default (the watchdog's reports
 * carry the stacks of a stall); `sampleUs` turns it on (the profile in chunks, samples kept in
 * the detail spans only). No pool-thread sampling. A dump draws the main thread's HTTP requests
 * still in flight, ending at the dump's end (in-flight-requests.ts; workers' are not asked).
 * Cost: a dump keeps the loop thread only for its snapshot (the kept batches handed to a
 * worker thread, flight-dump-worker.ts, which builds the events and writes the file):
 * `stats().lastDumpLoopMs`; `lastDumpMs` is until the file is written. Dumps are rate-limited
 * to one per `minIntervalMs` (default `seconds`): the others are counted (`skipped`), `dump()`
 * then resolves with undefined. Nothing it holds keeps the process alive (timers, channel and
 * signal listener unref'd) but a dump being written. One per process, main thread only; `close()` releases everything.
 * Lifetime: from construction to `close()`.
 * @module
 */
import os from 'node:os';
import path from 'node:path';
import { BroadcastChannel, isMainThread, threadId, Worker } from 'node:worker_threads';

import { invalidArgType, invalidArgValue, invalidState, outOfRange, validateNumber, validateObject } from '../errors';
import type { StallEvent } from '../loop/stall-watchdog';
import { emptyBatch, FlightDump, MAX_DUMP_MARKERS } from './flight-dump';
import { INTERNAL_WORKER_KEY } from './internal-worker';
import { channelName, processTitle, TICK_MS } from './session';
import { ThreadBatch, ThreadRecorder } from './thread-recorder';

export interface FlightRecorderOptions {
  /** Seconds kept (default 60, 1 to 3600). */
  seconds?: number;
  /** Where dumps go (default the current directory); created when missing. */
  dir?: string;
  /** The signal that dumps (default 'SIGUSR2'; null: none). SIGUSR1 (the inspector's), SIGKILL and SIGSTOP cannot be used. */
  signal?: NodeJS.Signals | null;
  /** Long iteration threshold, ms (default 20): their turns are kept in full detail. */
  blockMs?: number;
  /** Stall threshold, ms (default 200; 0: no watchdog, no dump on stalls). */
  stallMs?: number;
  /** CPU sampling interval, µs (default 0: off). */
  sampleUs?: number;
  /** At most one dump per this many ms (default `seconds` × 1000). */
  minIntervalMs?: number;
  /** Called after each dump is written with its file and reason (on the loop thread). */
  onDump?: (file: string, reason: string) => void;
  /** Called when a dump it started by itself (stall, signal) failed; it is counted in `failed` either way. */
  onError?: (error: Error, reason: string) => void;
}

export interface FlightRecorderStats {
  dumps: number;
  /** Dumps refused by the rate limit. */
  skipped: number;
  /** Dumps that could not be written (the error went to `lastError`). */
  failed: number;
  lastFile?: string;
  lastError?: string;
  /** How long the last dump took, from its start to its file written, ms. */
  lastDumpMs?: number;
  /** How long the last dump kept the loop thread (its snapshot, handed to a worker thread), ms. */
  lastDumpLoopMs?: number;
  /** Stalls that a dump of its own caused (they dump nothing). */
  ownStalls: number;
}

interface Kept {
  atNs: bigint;
  batch: ThreadBatch;
  markers: number;
}

const SIGNALS_REFUSED = new Set(['SIGUSR1', 'SIGKILL', 'SIGSTOP']);

let armed: FlightRecorder | undefined;

export class FlightRecorder {
  readonly #seconds: number;
  readonly #dir: string;
  readonly #signal?: NodeJS.Signals;
  readonly #blockMs: number;
  readonly #stallMs: number;
  readonly #minIntervalNs: bigint;
  readonly #onDump?: (file: string, reason: string) => void;
  readonly #recorder: ThreadRecorder;
  readonly #channel: BroadcastChannel;
  readonly #tick: NodeJS.Timeout;
  readonly #onSignal = () => {
    this.#autoDump('signal');
  };
  #kept: Kept[] = [];
  #keptMarkers = 0;
  /** Per thread, when it began and its first marker (kept when its first batch goes). */
  readonly #starts = new Map<number, { startNs: bigint; firstMarkerNs?: bigint }>();
  #lastDumpNs?: bigint;
  #lastDumpEndNs = 0n;
  #dumpQueued = false;
  #closed = false;
  readonly #stats: FlightRecorderStats = { dumps: 0, skipped: 0, failed: 0, ownStalls: 0 };
  #lastStall?: StallEvent;
  readonly #onError?: (error: Error, reason: string) => void;

  constructor(options: FlightRecorderOptions = {}) {
    validateObject('options', options);
    const { seconds = 60, dir = process.cwd(), signal = 'SIGUSR2', blockMs = 20, stallMs = 200, sampleUs = 0 } = options;
    validateNumber('options.seconds', seconds, { min: 1, max: 3600 });
    if (typeof dir !== 'string' || dir === '') throw invalidArgType('options.dir', 'a non-empty string', dir);
    if (signal !== null && (typeof signal !== 'string' || !(signal in os.constants.signals) || SIGNALS_REFUSED.has(signal))) {
      throw invalidArgValue('options.signal', 'must be null or a signal name other than SIGUSR1, SIGKILL and SIGSTOP', signal);
    }
    validateNumber('options.blockMs', blockMs, { min: 1, max: 3_600_000 });
    validateNumber('options.stallMs', stallMs, { min: 0, max: 3_600_000 });
    if (stallMs !== 0 && stallMs < 10) throw outOfRange('options.stallMs', '0 or >= 10', stallMs);
    validateNumber('options.sampleUs', sampleUs, { min: 0, max: 1_000_000, integer: true });
    if (sampleUs !== 0 && sampleUs < 50) throw outOfRange('options.sampleUs', '0 or >= 50', sampleUs);
    const minIntervalMs = options.minIntervalMs ?? seconds * 1000;
    validateNumber('options.minIntervalMs', minIntervalMs, { min: 0, max: 86_400_000 });
    if (options.onDump !== undefined && typeof options.onDump !== 'function') throw invalidArgType('options.onDump', 'a function', options.onDump);
    if (!isMainThread) throw invalidState('FlightRecorder: arm it in the main thread (workers that run the preload in armed mode post to it)');
    if (armed) throw invalidState('FlightRecorder: one is armed in this process already (close() it first)');
    this.#seconds = seconds;
    this.#dir = path.resolve(dir);
    this.#signal = signal ?? undefined;
    this.#blockMs = blockMs;
    this.#stallMs = stallMs;
    this.#minIntervalNs = BigInt(Math.round(minIntervalMs * 1e6));
    this.#onDump = options.onDump;
    if (options.onError !== undefined && typeof options.onError !== 'function') throw invalidArgType('options.onError', 'a function', options.onError);
    this.#onError = options.onError;
    this.#recorder = new ThreadRecorder({
      detail: 'bounded',
      blockMs,
      stallMs: stallMs || undefined,
      sampleUs,
      onStall: (stall) => {
        // A stall the recorder's own dump caused (writing on the loop thread) dumps nothing.
        const endNs = stall.startedAtNs + BigInt(Math.round(stall.durationNs));
        if (this.#lastDumpNs !== undefined && stall.startedAtNs <= this.#lastDumpEndNs && endNs >= this.#lastDumpNs) {
          this.#stats.ownStalls++;
          return;
        }
        this.#lastStall = stall;
        // After the callback that reported it: the turn after the stall is recorded first.
        if (!this.#dumpQueued) {
          this.#dumpQueued = true;
          setImmediate(() => {
            this.#dumpQueued = false;
            this.#autoDump('stall');
          }).unref();
        }
      },
    });
    armed = this;
    this.#channel = new BroadcastChannel(channelName('flight'));
    this.#channel.unref();
    this.#channel.onmessage = (message) => this.#keep((message as { data: ThreadBatch }).data);
    this.#tick = setInterval(() => this.#keep(this.#recorder.flush()), TICK_MS);
    this.#tick.unref();
    if (this.#signal) process.on(this.#signal, this.#onSignal);
  }

  #keep(batch: ThreadBatch): void {
    if (this.#closed) return;
    const nowNs = process.hrtime.bigint();
    if (batch.startNs !== undefined) this.#starts.set(batch.threadId, { startNs: batch.startNs });
    const start = this.#starts.get(batch.threadId);
    if (start && batch.firstMarkerNs !== undefined && start.firstMarkerNs === undefined) start.firstMarkerNs = batch.firstMarkerNs;
    if (batch.final) this.#starts.delete(batch.threadId);
    const markers = batch.markers.timesNs.length;
    this.#kept.push({ atNs: nowNs, batch, markers });
    this.#keptMarkers += markers;
    this.#forget(nowNs);
  }

  /** Drops the batches older than `seconds` (and the oldest past MAX_DUMP_MARKERS). */
  #forget(nowNs: bigint): void {
    const horizonNs = nowNs - BigInt(this.#seconds) * 1_000_000_000n;
    let drop = 0;
    let markers = this.#keptMarkers;
    while (drop < this.#kept.length && (this.#kept[drop].atNs < horizonNs || markers > MAX_DUMP_MARKERS)) markers -= this.#kept[drop++].markers;
    if (drop) {
      this.#kept = this.#kept.slice(drop);
      this.#keptMarkers = markers;
    }
    this.#recorder.forgetSamplesBefore(horizonNs);
  }

  #autoDump(reason: string): void {
    // A signal or a stall must not throw into the loop: counted (by dump), said through onError.
    this.dump(reason).catch((error: Error) => this.#onError?.(error, reason));
  }

  /** What it did so far. */
  stats(): FlightRecorderStats {
    return { ...this.#stats };
  }

  /**
   * Writes the last `seconds`: takes them now (on the loop thread: the newest batch, the CPU
   * figures, the kept batches handed to a worker thread by structured clone) and resolves with
   * the file once a worker thread has built and written it; undefined when the rate limit
   * refused it (counted in `skipped`) or the recorder is closed. Rejects with an Error whose
   * `code` says why (the file system's, e.g. EACCES, or ERR_UVSCOPE_FLIGHT_DUMP) when the file
   * cannot be written. While a dump is being written it keeps the process alive (a dump is
   * asked for, and finite); one still being written when the process is killed leaves no file
   * (only its `.tmp-<pid>` sibling).
   */
  dump(reason = 'dump'): Promise<string | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    const beganNs = process.hrtime.bigint();
    if (this.#lastDumpNs !== undefined && beganNs - this.#lastDumpNs < this.#minIntervalNs) {
      this.#stats.skipped++;
      return Promise.resolve(undefined);
    }
    this.#lastDumpNs = beganNs;
    this.#keep(this.#recorder.flush(true));
    const cpu = this.#recorder.cpuSoFar(true);
    const stall = reason === 'stall' ? this.#lastStall : undefined;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(this.#dir, `uvscope-flight-${process.pid}-${stamp}.json`);
    const nowNs = process.hrtime.bigint();
    // The main thread's HTTP requests in flight now, ending at the dump's end: in this dump only (not kept: they may end before the next).
    const inFlight: ThreadBatch = { ...emptyBatch(threadId), ...this.#recorder.httpInFlight(nowNs) };
    const dump: FlightDump = {
      file,
      pid: process.pid,
      title: processTitle(),
      reason,
      seconds: this.#seconds,
      skippedDumps: this.#stats.skipped,
      blockMs: this.#blockMs,
      stallMs: this.#stallMs,
      horizonNs: beganNs - BigInt(this.#seconds) * 1_000_000_000n,
      nowNs,
      starts: [...this.#starts.entries()],
      batches: [...this.#kept.map((k) => k.batch), inFlight],
      final: { ...this.#recorder.statsSoFar(), profile: cpu.profile, cpuTree: cpu.cpuTree, cpuSamplesOmitted: cpu.omitted, cpuSamplesDropped: cpu.dropped },
      ...(stall ? { stall: { threadId: stall.threadId, startedAtNs: stall.startedAtNs, durationNs: stall.durationNs, phase: stall.phase, reportCount: stall.reportCount } } : {}),
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (answer: { ok: boolean; message?: string; code?: string }) => {
        if (settled) return;
        settled = true;
        const endNs = process.hrtime.bigint();
        this.#stats.lastDumpMs = Number(endNs - beganNs) / 1e6;
        if (answer.ok) {
          this.#stats.dumps++;
          this.#stats.lastFile = file;
          this.#onDump?.(file, reason);
          resolve(file);
          return;
        }
        const error = Object.assign(new Error(`flight recorder: cannot write ${file}: ${answer.message}`), { code: answer.code ?? 'ERR_UVSCOPE_FLIGHT_DUMP' });
        this.#stats.failed++;
        this.#stats.lastError = error.message;
        reject(error);
      };
      let worker: Worker;
      try {
        worker = new Worker(path.join(__dirname, 'flight-dump-worker.js'), { workerData: { [INTERNAL_WORKER_KEY]: true, dump }, execArgv: [], stdout: true, stderr: true });
      } catch (error) {
        settle({ ok: false, message: (error as Error).message });
        return;
      } finally {
        this.#lastDumpEndNs = process.hrtime.bigint();
        this.#stats.lastDumpLoopMs = Number(this.#lastDumpEndNs - beganNs) / 1e6;
      }
      worker.once('message', settle);
      worker.once('error', (error) => settle({ ok: false, message: error.message }));
      worker.once('exit', (code) => settle({ ok: false, message: `the dump's worker thread ended (exit code ${code}) before writing it` }));
    });
  }

  /** Stops recording and releases everything. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#tick);
    if (this.#signal) process.removeListener(this.#signal, this.#onSignal);
    this.#channel.close();
    this.#recorder.finish();
    this.#kept = [];
    this.#starts.clear();
    if (armed === this) armed = undefined;
  }
}
