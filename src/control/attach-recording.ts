/**
 * A trace window asked for over the control channel (`uvscope trace --attach`): on the main
 * thread, a TraceSession (trace/session.ts) with its own ThreadRecorder, running for the
 * asked duration and then written to `<dir>/<pid>.json` (the file a launched trace writes);
 * on each worker thread with the agent, a WorkerRecording started and stopped by messages on
 * the agent's BroadcastChannel. At most one recording per process at a time. The directory
 * must be a private one of this uid (socket-dir.ts), or the request is refused.
 * Lifetime: from `start()` to the written file (or the process's exit: then it is written at
 * exit, as far as it got).
 * @internal
 * @module
 */
import path from 'node:path';

import { ThreadRecorder } from '../trace/thread-recorder';
import { TraceSession, WorkerRecording, writeProcessTrace } from '../trace/session';
import { checkPrivateDir } from './socket-dir';
import type { ThreadMessage } from './protocol';

export interface AttachOptions {
  durationMs: number;
  dir: string;
  blockMs: number;
  stallMs: number;
  sampleUs: number;
  maxMarkers?: number;
  originNs?: string;
}

/** How long the main thread waits for the workers' last batches. */
const WORKER_STOP_WAIT_MS = 1000;

export class AttachError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** The main thread's side. `post` reaches the workers; `workers()` the worker threads with the agent now. */
export class AttachRecorder {
  #busy = false;
  #stopped?: { waiting: Set<number>; done: () => void };

  constructor(
    private readonly post: (message: ThreadMessage) => void,
    private readonly workers: () => number[],
  ) {}

  get busy(): boolean {
    return this.#busy;
  }

  /** A worker said it posted its last batch. */
  workerStopped(threadId: number): void {
    const s = this.#stopped;
    if (!s) return;
    s.waiting.delete(threadId);
    if (s.waiting.size === 0) s.done();
  }

  /** A worker that appears while recording is asked to record too. */
  workerAppeared(): void {
    if (this.#active) this.post({ type: 'trace-start', options: this.#active });
  }

  #active?: { blockMs: number; stallMs: number; sampleUs: number };

  /**
   * Records a window; resolves with the file written. Rejects with an AttachError. `cancelled`:
   * settles when the asker went away; the recording then ends at once and nothing is written.
   * `onStarted`: called once this thread records and the workers have been asked to.
   */
  async record(options: AttachOptions, cancelled?: Promise<void>, onStarted?: () => void): Promise<{ file: string; threads: number }> {
    if (this.#busy) throw new AttachError('a trace of this process is being recorded already', 'EBUSY');
    const problem = checkPrivateDir(options.dir);
    if (problem) throw new AttachError(`refused: ${problem}`, 'EBADDIR');
    this.#busy = true;
    try {
      const recorderOptions = { blockMs: options.blockMs, stallMs: options.stallMs || undefined, sampleUs: options.sampleUs };
      const recorder = new ThreadRecorder(recorderOptions);
      const originNs = options.originNs ? BigInt(options.originNs) : process.hrtime.bigint();
      const session = new TraceSession(recorder, { recorder: recorderOptions, maxMarkers: options.maxMarkers ?? 1_000_000, originNs, kind: 'attach' });
      this.#active = { blockMs: options.blockMs, stallMs: options.stallMs, sampleUs: options.sampleUs };
      this.post({ type: 'trace-start', options: this.#active });
      onStarted?.();
      const file = path.join(options.dir, `${process.pid}.json`);
      let written = false;
      let writeError: Error | undefined;
      const writeNow = () => {
        if (written) return;
        written = true;
        try {
          writeProcessTrace(file, session.stream());
        } catch (error) {
          // Never into the application (this also runs at its exit).
          writeError = error as Error;
        }
      };
      let gone = false;
      // The process may end first: then what was recorded is written at exit.
      process.on('exit', writeNow);
      try {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.durationMs);
          timer.unref();
          cancelled?.then(() => {
            gone = true;
            clearTimeout(timer);
            resolve();
          });
        });
        this.#active = undefined;
        const waiting = new Set(this.workers());
        if (waiting.size > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, WORKER_STOP_WAIT_MS);
            timer.unref();
            this.#stopped = {
              waiting,
              done: () => {
                clearTimeout(timer);
                resolve();
              },
            };
            this.post({ type: 'trace-stop' });
          });
          this.#stopped = undefined;
          // Their last batches come on the session's channel: let it deliver what is queued.
          await new Promise((resolve) => setTimeout(resolve, 50).unref());
        }
        const trace = session.stream();
        if (gone) {
          written = true;
          throw new AttachError('the client went away: recording dropped', 'ECANCELED');
        }
        writeNow();
        if (writeError) throw new AttachError(`cannot write ${file}: ${writeError.message}`, 'EFAILED');
        const threads = trace.uvscope.processes[0]?.threads?.length ?? 0;
        return { file, threads };
      } finally {
        process.removeListener('exit', writeNow);
      }
    } finally {
      this.#active = undefined;
      this.#busy = false;
    }
  }
}

/** A worker's side: starts and stops its WorkerRecording when the main thread says so. */
export class WorkerAttach {
  #recording?: WorkerRecording;

  constructor(private readonly post: (message: ThreadMessage) => void) {}

  handle(message: ThreadMessage, threadId: number): void {
    if (message.type === 'trace-start' && !this.#recording) {
      try {
        const { blockMs, stallMs, sampleUs } = message.options;
        this.#recording = new WorkerRecording(new ThreadRecorder({ blockMs, stallMs: stallMs || undefined, sampleUs }), 'attach');
      } catch {
        // This thread is left out of the trace.
      }
    } else if (message.type === 'trace-stop') {
      this.stop();
      this.post({ type: 'trace-stopped', threadId });
    }
  }

  /** Posts the last batch (also at the worker's exit). */
  stop(): void {
    const recording = this.#recording;
    this.#recording = undefined;
    recording?.finish();
  }
}
