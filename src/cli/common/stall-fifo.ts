/**
 * The FIFO through which watchdogs in other processes hand the CLI their live stall report
 * lines (the stall-report line format, loop/stall-report-format.ts) while the thread they watch
 * is blocked: made with mode 0600 in a private directory of the CLI's, read without blocking.
 * `uvscope trace` prints the lines as they come; `uvscope top` shows the stalls in progress.
 * Every writer writes whole lines of at most PIPE_BUF bytes (one atomic write each), so lines of
 * several writers never interleave. Lifetime: from openStallFifo() to `close()`.
 * @internal
 * @module
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { LiveStallReport, parseStallReportLine } from '../../loop/stall-report-format';

export interface StallFifo {
  path: string;
  /** The read end. */
  socket: net.Socket;
  /** Ends reading: the stream then ends once what is buffered has been read. */
  close(): void;
}

/** Makes and opens `<dir>/stalls.fifo`; undefined when mkfifo is unavailable. */
export function openStallFifo(dir: string): StallFifo | undefined {
  const fifo = path.join(dir, 'stalls.fifo');
  if (spawnSync('mkfifo', ['-m', '600', fifo]).status !== 0) return undefined;
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  // Our own writer keeps the FIFO from reading as ended between the processes' writers.
  let keepOpen: number | undefined = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  const socket = new net.Socket({ fd: readFd, readable: true, writable: false });
  return {
    path: fifo,
    socket,
    close() {
      if (keepOpen === undefined) return;
      fs.closeSync(keepOpen);
      keepOpen = undefined;
    },
  };
}

/**
 * Calls `onReport` with each report line of `stream` as it arrives, `onUnreadable` with each
 * other non-empty line (and a last line cut short); resolves when the stream ends.
 */
export function readStallReports(stream: net.Socket, onReport: (report: LiveStallReport) => void, onUnreadable: () => void = () => undefined): Promise<void> {
  let buffered = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const report = parseStallReportLine(line);
      if (report) onReport(report);
      else if (line !== '') onUnreadable();
    }
  });
  return new Promise((resolve) => {
    const done = () => {
      if (buffered !== '') onUnreadable();
      buffered = '';
      resolve();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
