/**
 * `node --require uvscope/watchdog app.js`: one StallWatchdog in every thread this preload runs
 * in: the main thread, and each worker thread (workers inherit `--require` through
 * `process.execArgv`, so the preload runs in them before their own script). Each watchdog
 * watches its own thread's loop from before the thread's first line of user code, writes its
 * report lines (one JSON line per report, `parseStallReport()` reads them) while a stall lasts,
 * and lives as long as its thread. Unref'd: it never keeps a thread or the process alive.
 *
 * Environment (read by each thread from its own `process.env`):
 * - `UVSCOPE_STALL_MS`: threshold, integer ms from 10 to 3600000; default 1000.
 * - `UVSCOPE_STALL_REPEAT_MS`: one more report every so many ms while a stall lasts, 0 for the
 *   first only; integer, 0 or 10 to 3600000; default the threshold.
 * - `UVSCOPE_STALL_FILE`: a path the report lines are appended to; default stderr (fd 2).
 *
 * A value that is not valid (or a file that cannot be opened) gives one line on stderr and no
 * watchdog; the app runs as it would without the preload. The line is written once per process
 * for the same problem, not once per thread: the thread that writes it records it in
 * `process.env.UVSCOPE_STALL_WARNED` (the pid and the line), which workers created later
 * inherit. Stacks come from the optional stack addon when it loads (`stacks: 'auto'`).
 *
 * `require('uvscope/watchdog').watchdog` is this thread's watchdog (undefined when none started).
 * @module
 */
import fs from 'node:fs';
import { threadId } from 'node:worker_threads';

import type { StallWatchdog } from './loop/stall-watchdog';
import { isInternalWorker } from './trace/internal-worker';

const MAX_MS = 3_600_000;

class EnvError extends Error {}

/** An integer number of ms from `min` to MAX_MS (or 0 when `zero`), from an environment variable. */
function envMs(name: string, fallback: number, min: number, zero = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if ((zero && value === 0) || (value >= min && value <= MAX_MS)) return value;
  throw new EnvError(`${name} must be an integer number of ms from ${zero ? `0 or ${min}` : min} to ${MAX_MS}, got '${raw}'`);
}

/** One line on stderr, unless this process already wrote the same one (from another thread). */
function warnOnce(message: string): void {
  const line = `uvscope/watchdog: ${message}; no stall watchdog started${threadId ? ` in worker ${threadId}` : ''}`;
  const key = `${process.pid} ${message}`;
  if (process.env.UVSCOPE_STALL_WARNED === key) return;
  process.env.UVSCOPE_STALL_WARNED = key;
  try {
    fs.writeSync(2, `${line}\n`);
  } catch {
    // stderr closed: nowhere to say it.
  }
}

function startWatchdog(): StallWatchdog | undefined {
  let thresholdMs: number;
  let repeatMs: number;
  try {
    thresholdMs = envMs('UVSCOPE_STALL_MS', 1000, 10);
    repeatMs = envMs('UVSCOPE_STALL_REPEAT_MS', thresholdMs, 10, true);
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    warnOnce(error.message);
    return undefined;
  }
  const path = process.env.UVSCOPE_STALL_FILE;
  const file = path === undefined || path === '' ? 2 : path;
  let watchdog: StallWatchdog | undefined;
  try {
    // Loaded here so that an addon that cannot load is reported like any other problem.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { StallWatchdog: Watchdog } = require('./loop/stall-watchdog') as typeof import('./loop/stall-watchdog');
    watchdog = new Watchdog({ thresholdMs, repeatMs, file });
    return watchdog.start();
  } catch (error) {
    watchdog?.close();
    const { code, message } = error as NodeJS.ErrnoException;
    warnOnce(
      typeof file === 'string' && typeof code === 'string' && /^E[A-Z]+$/.test(code)
        ? `cannot open UVSCOPE_STALL_FILE '${file}' (${code})`
        : `could not start: ${String(message).split('\n')[0]}`,
    );
    return undefined;
  }
}

/** This thread's watchdog, or undefined when the environment was invalid or it could not start. */
export const watchdog: StallWatchdog | undefined = isInternalWorker() ? undefined : startWatchdog();
