/**
 * `uvscope top`: a live view of running Node processes with the `uvscope/agent` preload: every
 * such process of this user (`uvscope top`), one (`--pid N`), or a command it launches with the
 * agent preloaded (`uvscope top -- node app.js`, its output kept in a file and its last lines
 * printed after the view closes). Once a second it asks each process's agent for its figures
 * (control socket, client.ts) and redraws; stalls are pushed by the agents as they end and
 * flashed, and shown while they last from the watchdogs' live reports, which the agents' watchdog
 * threads write to a FIFO of top's (common/stall-fifo.ts): a blocked thread cannot answer. The terminal: alternate screen, no line wrap, hidden cursor, raw keys ('q' or
 * Ctrl-C quits), all restored on every way out. The launched command ends with the view (SIGINT
 * to its process group, then SIGTERM and SIGKILL); when it exits by itself the view closes and
 * top exits with its code. Addon-free: all measuring happens in the agents.
 * @internal
 * @module
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { parseArgs, positiveInt, positiveNumber, stringOption, UsageError } from '../common/args';
import { controlDir, currentUid, listAgents } from '../../control/socket-dir';
import { AgentClient } from './client';
import { frameText, HelloReply, requestText, StatsReply } from '../../control/protocol';
import type { LiveStallReport } from '../../loop/stall-report-format';
import { openStallFifo, StallFifo, readStallReports } from '../common/stall-fifo';
import { renderScreen, ScreenModel, ProcessView, StallLine, describeStall, LiveStallLine } from './screen';

export const TOP_USAGE = `usage: uvscope top [options] [-- <command> [args...]]

A live view of Node processes running with the uvscope/agent preload
(node --require uvscope/agent app.js, or NODE_OPTIONS='--require uvscope/agent'): per process
and thread, the loop's utilization, iteration p99 and max, iterations per second, stalls (the
newest flashed as they end, with their on-CPU share and HTTP request; a stall in progress shown
while it lasts, from the process's watchdog), Node's pool requests by
kind (rate, p99), HTTP requests (rate, p99), and the pool threads' busy and run-queue shares.
Refreshes every second; q or Ctrl-C quits.

  uvscope top                  every process of this user with the agent
  uvscope top --pid N          one process
  uvscope top -- node app.js   runs the command with the agent preloaded and shows it; the
                               view closes when it exits (exit code: the command's)

  --pid N         the process to show
  --interval S    seconds between refreshes (default 1)
  --once          print one view (after one interval) without the terminal handling, and exit
  --output FILE   with a command: its stdout and stderr go to FILE (default: a temporary file
                  whose last 20 lines are printed when the view closes)
  --stall-ms MS   with a command: the agents' stall threshold (default 1000)`;

const MAX_STALLS = 50;

interface Terminal {
  width(): number;
  height(): number;
  draw(lines: string[]): void;
  restore(): void;
}

function ttyTerminal(onKey: (key: string) => void, onResize: () => void): Terminal {
  const out = process.stdout;
  let restored = false;
  // Alternate screen, no autowrap (a long line never wraps), hidden cursor.
  out.write('\x1b[?1049h\x1b[?7l\x1b[?25l\x1b[H\x1b[2J');
  const stdin = process.stdin;
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  const onData = (key: string) => onKey(key);
  stdin.on('data', onData);
  stdin.resume();
  out.on('resize', onResize);
  const restore = () => {
    if (restored) return;
    restored = true;
    out.removeListener('resize', onResize);
    stdin.removeListener('data', onData);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    try {
      fs.writeSync(1, '\x1b[?25h\x1b[?7h\x1b[?1049l');
    } catch {
      // the terminal is gone
    }
  };
  process.on('exit', restore);
  return {
    width: () => out.columns || 80,
    height: () => out.rows || 24,
    // Each row cleared whole, then written: with autowrap off the cursor stays on the last
    // column after a full-width line, so an erase after it would erase that column.
    draw: (lines) => {
      const rows = out.rows || 24;
      let frame = '';
      for (let row = 0; row < rows; row++) frame += `\x1b[${row + 1};1H\x1b[2K${lines[row] ?? ''}`;
      out.write(frame);
    },
    restore,
  };
}

/** Connections to the processes on view, kept up to date with the socket directory. */
class Watcher {
  readonly views = new Map<number, ProcessView>();
  readonly #clients = new Map<number, AgentClient>();
  readonly #connecting = new Set<number>();
  readonly stalls: StallLine[] = [];
  /** Stalls in progress by `pid:threadId`. */
  readonly #inProgress = new Map<string, LiveStallLine>();
  readonly #fifo?: StallFifo;

  /** `liveDir`: a private directory for the FIFO of live stall reports (none: no live reports). */
  constructor(
    readonly dir: string,
    readonly onlyPid: number | undefined,
    readonly onStall: () => void,
    liveDir?: string,
  ) {
    this.#fifo = liveDir ? openStallFifo(liveDir) : undefined;
    if (this.#fifo) readStallReports(this.#fifo.socket, (report) => this.#live(report)).catch(() => undefined);
  }

  #live(report: LiveStallReport): void {
    const line: LiveStallLine = {
      pid: report.pid,
      threadId: report.threadId,
      phase: report.phase,
      startedAtNs: String(report.startedAtNs),
      elapsedNs: report.elapsedNs,
      receivedAtMs: Date.now(),
    };
    if (report.cpuNs !== undefined && report.elapsedNs > 0) line.cpuShare = Math.min(1, report.cpuNs / report.elapsedNs);
    if (report.request) line.request = requestText(report.request);
    if (report.stack?.length) line.frame = frameText(report.stack[0]);
    if (report.inNative) line.inNative = true;
    this.#inProgress.set(`${report.pid}:${report.threadId}`, line);
    this.onStall();
  }

  /** The stall of `pid`'s thread that began at `startedAtNs` is over (undefined: whichever). */
  #ended(pid: number, threadId: number, startedAtNs?: string): void {
    const key = `${pid}:${threadId}`;
    const live = this.#inProgress.get(key);
    if (live && (startedAtNs === undefined || live.startedAtNs === startedAtNs)) this.#inProgress.delete(key);
  }

  async refresh(): Promise<void> {
    let pids: number[];
    if (this.onlyPid !== undefined) pids = [this.onlyPid];
    else {
      const listed = await listAgents(this.dir);
      pids = listed.pids;
    }
    for (const pid of pids) if (!this.#clients.has(pid) && !this.#connecting.has(pid)) this.#connect(pid);
    for (const [pid, view] of this.views) {
      const client = this.#clients.get(pid);
      if (!client) continue;
      if (client.closed) {
        this.#clients.delete(pid);
        for (const key of [...this.#inProgress.keys()]) if (key.startsWith(`${pid}:`)) this.#inProgress.delete(key);
        if (this.onlyPid === undefined) this.views.delete(pid);
        else view.error = 'the process ended (or its agent closed the connection)';
        continue;
      }
      if (view.waitingSinceMs !== undefined) continue; // one request at a time: it is blocked
      view.waitingSinceMs = Date.now();
      client.request({ cmd: 'stats' }).then(
        (reply) => {
          view.stats = reply as unknown as StatsReply;
          view.waitingSinceMs = undefined;
          // A stall whose end top missed (an event dropped) is the thread's last one by now.
          for (const t of view.stats.threads) if (t.lastStall) this.#ended(pid, t.threadId, t.lastStall.startedAtNs);
        },
        () => {
          view.waitingSinceMs = undefined;
        },
      );
    }
  }

  #connect(pid: number): void {
    this.#connecting.add(pid);
    const view: ProcessView = this.views.get(pid) ?? { pid };
    this.views.set(pid, view);
    AgentClient.connect(pid, this.dir)
      .then(async (client) => {
        client.onEvent = (event) => {
          if (event.event !== 'stall') return;
          this.#ended(event.pid, event.stall.threadId, event.stall.startedAtNs);
          this.stalls.push({ pid: event.pid, stall: event.stall, receivedAtMs: Date.now() });
          if (this.stalls.length > MAX_STALLS) this.stalls.shift();
          this.onStall();
        };
        view.hello = (await client.hello()) as unknown as HelloReply;
        await client.request({ cmd: 'subscribe' }, 2000);
        // An agent too old for it, or a FIFO it cannot open: stalls still come as they end.
        if (this.#fifo) await client.request({ cmd: 'live', fifo: this.#fifo.path }, 2000).catch(() => undefined);
        view.error = undefined;
        this.#clients.set(pid, client);
      })
      .catch((error: Error) => {
        view.error = error.message;
        if (this.onlyPid === undefined) this.views.delete(pid);
      })
      .finally(() => this.#connecting.delete(pid));
  }

  model(scope: string): ScreenModel {
    return { processes: [...this.views.values()].sort((a, b) => a.pid - b.pid), inProgress: [...this.#inProgress.values()], stalls: this.stalls, scope };
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    this.#fifo?.close();
    this.#fifo?.socket.destroy();
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // gone
  }
}

/** The last `n` lines of a file (at most its last 64 KiB). */
function tail(file: string, n: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, size - length);
      const lines = buffer.toString('utf8').split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      return lines.slice(-n).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

export async function topCommand(argv: string[]): Promise<number> {
  const { options, positionals, rest } = parseArgs(argv, ['pid', 'interval', 'output', 'stall-ms'], ['help', 'once']);
  if (options.has('help')) {
    process.stdout.write(`${TOP_USAGE}\n`);
    return 0;
  }
  const command = [...positionals, ...rest];
  const pid = options.has('pid') ? positiveInt('pid', options.get('pid'), 0, 2 ** 31 - 1) : undefined;
  if (pid !== undefined && command.length > 0) throw new UsageError('--pid and a command exclude each other');
  const intervalS = positiveNumber('interval', options.get('interval')) ?? 1;
  if (intervalS < 0.1 || intervalS > 3600) throw new UsageError(`--interval must be from 0.1 to 3600 seconds, got '${options.get('interval')}'`);
  const outputOption = stringOption('output', options.get('output'));
  if (outputOption !== undefined && command.length === 0) throw new UsageError('--output needs a command');
  const stallMs = options.has('stall-ms') ? positiveInt('stall-ms', options.get('stall-ms'), 1000, 3_600_000) : undefined;
  if (stallMs !== undefined && stallMs < 10) throw new UsageError(`--stall-ms must be an integer from 10 to 3600000, got '${stallMs}'`);
  if (stallMs !== undefined && command.length === 0) throw new UsageError('--stall-ms needs a command (a running process keeps its own threshold)');
  const once = options.has('once');

  let dir = controlDir();
  // Private (0700): the FIFO of live stall reports, and with a command its sockets and output.
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-top-'));
  // Removed on every way out but SIGKILL (signals quit the view: see `signals` below).
  try {
    let child: ChildProcess | undefined;
    let childExit: Promise<number> | undefined;
    let output: string | undefined;
    let scope = pid !== undefined ? `process ${pid}` : `every process of uid ${currentUid()} with uvscope/agent`;
    if (command.length > 0) {
      // The command's processes get a socket directory of their own: the view shows them only.
      dir = path.join(tempDir, 'sockets');
      fs.mkdirSync(dir, { mode: 0o700 });
      output = outputOption ? path.resolve(outputOption) : path.join(tempDir, 'output.log');
      const outFd = fs.openSync(output, 'w');
      const file = /\.[cm]?js$/.test(command[0]) ? [process.execPath, command[0]] : [command[0]];
      const [executable, ...args] = [...file, ...command.slice(1)];
      const agent = path.join(__dirname, '..', '..', 'agent.js');
      child = spawn(executable, args, {
        stdio: ['ignore', outFd, outFd],
        detached: true,
        env: {
          ...process.env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(agent)}`.trim(),
          UVSCOPE_CONTROL_DIR: dir,
          ...(stallMs !== undefined ? { UVSCOPE_AGENT_STALL_MS: String(stallMs) } : {}),
        },
      });
      fs.closeSync(outFd);
      const launched = child;
      childExit = new Promise<number>((resolve) => {
        launched.on('error', (error: NodeJS.ErrnoException) => {
          process.stderr.write(`uvscope: cannot start ${executable}: ${error.code === 'ENOENT' ? 'command not found' : error.message}\n`);
          resolve(error.code === 'ENOENT' ? 127 : 126);
        });
        launched.on('exit', (code, signal) => resolve(signal ? 128 + (os.constants.signals[signal] ?? 0) : (code ?? 1)));
      });
      scope = command.join(' ');
    }

    let draw = () => undefined as void;
    const watcher = new Watcher(dir, pid, () => draw(), tempDir);
    let terminal: Terminal | undefined;
    let quit!: (reason: 'key' | 'signal' | 'child') => void;
    const quitting = new Promise<'key' | 'signal' | 'child'>((resolve) => (quit = resolve));
    const onSignal = () => quit('signal');
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const s of signals) process.on(s, onSignal);
    childExit?.then(() => quit('child'));
    let timer: NodeJS.Timeout | undefined;
    let reason: 'key' | 'signal' | 'child' | undefined;
    try {
      if (once) {
        await watcher.refresh();
        await new Promise((resolve) => setTimeout(resolve, intervalS * 1000));
        await watcher.refresh();
        await new Promise((resolve) => setTimeout(resolve, 300));
        const lines = renderScreen(watcher.model(scope), process.stdout.columns || 80, 1000, Date.now());
        process.stdout.write(`${lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, '')).join('\n')}\n`);
      } else {
        const interactive = process.stdout.isTTY === true;
        if (interactive) {
          terminal = ttyTerminal(
            (key) => {
              if (key === 'q' || key === 'Q' || key.includes('\x03')) quit('key');
            },
            () => draw(),
          );
        }
        draw = () => {
          const now = Date.now();
          if (terminal) terminal.draw(renderScreen(watcher.model(scope), terminal.width(), terminal.height(), now));
        };
        const tick = async () => {
          await watcher.refresh();
          draw();
        };
        await tick();
        // The answers come during the interval: draw them a moment after asking too.
        timer = setInterval(() => {
          tick().catch(() => undefined);
          setTimeout(draw, 200);
        }, intervalS * 1000);
        if (!interactive) process.stderr.write('uvscope top: stdout is not a terminal: use --once to print one view\n');
        reason = await quitting;
      }
    } finally {
      clearInterval(timer);
      watcher.close();
      terminal?.restore();
      for (const s of signals) process.removeListener(s, onSignal);
    }

    let code = 0;
    if (child && childExit) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGINT');
        const escalate = [setTimeout(() => signalGroup(child!, 'SIGTERM'), 5000), setTimeout(() => signalGroup(child!, 'SIGKILL'), 10_000)];
        code = await childExit;
        for (const t of escalate) clearTimeout(t);
        // Stopped by us on q or Ctrl-C: that is no failure.
        if (reason !== 'child' && (code === 130 || code === 128 + (os.constants.signals.SIGINT ?? 2))) code = 0;
      } else {
        code = await childExit;
      }
      if (output && !outputOption) {
        const last = tail(output, 20);
        if (last) process.stderr.write(`--- the command's output (last lines) ---\n${last}\n`);
      } else if (output) {
        process.stderr.write(`the command's output: ${output}\n`);
      }
    }
    const stalls = watcher.stalls;
    if (stalls.length > 0 && !once) {
      process.stderr.write(`${stalls.length} stall${stalls.length === 1 ? '' : 's'} seen; the last: ${stalls[stalls.length - 1].pid} ${describeStall(stalls[stalls.length - 1].stall, stalls[stalls.length - 1].stall.threadId === 0 ? 'main' : `worker ${stalls[stalls.length - 1].stall.threadId}`)}\n`);
    }
    return code;
  } finally {
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}
