/**
 * `uvscope trace [options] -- <any command>`: runs the command with uvscope/register preloaded
 * in every Node process it starts (NODE_OPTIONS), in a process group of its own; forwards
 * SIGINT, SIGTERM and SIGHUP to that group; stops it after --duration; then merges the
 * processes' traces (one file each, in a temporary folder) into one Chrome trace, prints the
 * summary and writes the HTML report. Stall report lines reach it through a FIFO while the
 * command runs. No process of the group is left behind. The exit code is the command's (127
 * when it cannot be found, 126 when it cannot be run, 128 + n when killed by signal n).
 * @internal
 * @module
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { checkWritable, integerOption, parseArgs, positiveInt, positiveNumber, stringOption, UsageError } from '../common/args';
import type { TraceEvent } from '../../trace/format';
import { openStallFifo, readStallReports } from '../common/stall-fifo';
import { formatStallReport, StallLineMemory } from './stall-report';
import { TraceAnalysis } from '../../trace/analysis';
import type { TraceModel } from '../../trace/trace-model';
import type { ProcessInfo } from '../../trace/process-collector';
import { openTrace, TRACE_FIRST_LINE, traceLastLine, TraceReadError, TraceSection } from '../../trace/trace-reader';
import { renderTraceHtml } from './html';
import { ProfileEventKeeper } from './profile-keeper';
import { formatSummary } from '../../trace/summary';

export const TRACE_USAGE = `usage: uvscope trace [options] -- <command> [args...]

Runs the command (node app.js, npm start, npx tsx app.ts, a shell script, ...) with uvscope
preloaded in every Node process it starts (through NODE_OPTIONS) and, when it exits, is
interrupted (Ctrl-C) or --duration seconds have passed, writes one Chrome trace of them all:
a track per thread (the main thread and each worker thread) with the loop's phases (poll's
wait for I/O apart), stalls with the HTTP request they ran for, the HTTP requests of its servers,
CPU samples of the JavaScript that ran, uvscope's jobs per pool thread, Node's pool requests,
utilization, each pool thread's busy and run-queue time (Linux).
Open it in Chrome DevTools (Performance panel), Perfetto or chrome://tracing; --html writes a
report that needs none of them. A summary goes to stderr: long iterations with their phase
split and top functions, the pool threads, stalls, the slowest HTTP requests with the stalls
and long iterations of their time, pool requests.
The exit code is the command's. A .js/.mjs/.cjs file as the command runs with this node.
While a loop is blocked for longer than --stall-ms, a line says so on stderr as it happens:
  stall: main thread blocked 2.05 s in poll, 99% on CPU, GET /range?n=50000

  --out FILE        trace file (default uvscope-trace.json)
  --html FILE       also write a self-contained HTML report (timeline, utilization, long
                    iterations with their top functions, slowest HTTP requests, pool tracks)
  --duration S      stop the command (SIGINT to its process group; SIGTERM 5 s later and
                    SIGKILL 10 s later if it still runs) after S seconds; exit 0
  --stall-ms MS     stall threshold, integer ms from 10 to 3600000, or 0 for no stall
                    watchdog (default 200)
  --sample-us US    CPU sampling interval, µs from 50 to 1000000 (default 1000)
  --no-cpu          no CPU samples
  --block-ms MS     an iteration busy for longer than this is long (default 20)
  --max-markers N   loop markers kept per thread, the newest (4 an iteration, about 25
                    bytes each in memory; default 1000000); the summary counts the dropped`;

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone.
  }
}

/** After the command's own process exited: its group may still run (a server started by npm). Give it `graceMs`, then SIGTERM, then SIGKILL. */
async function reapGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid!;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (const [signal, waitMs] of [[undefined, graceMs], ['SIGTERM', 2000], ['SIGKILL', 1000]] as const) {
    if (!groupAlive(pid)) return;
    if (signal) signalGroup(child, signal);
    // The group has no event to await: look every 20 ms.
    for (let waited = 0; waited < waitMs && groupAlive(pid); waited += 20) await sleep(20);
  }
}

/** Prints each stall report line on stderr as it arrives; resolves when the stream ends. */
function printStalls(stream: net.Socket, counts: { unreadable: number }): Promise<void> {
  let saidUnavailable = false;
  let saidNoContext = false;
  const memory = new StallLineMemory();
  return readStallReports(
    stream,
    (report) => {
      const out = formatStallReport(memory.fill(report));
      if (report.stackUnavailable && !saidUnavailable) {
        saidUnavailable = true;
        out.push(`    (no stacks: ${report.stackUnavailable.split('\n')[0]})`);
      }
      if (report.contextUnavailable && !saidNoContext) {
        saidNoContext = true;
        out.push(`    (no context fields: ${report.contextUnavailable.split('\n')[0]})`);
      }
      process.stderr.write(`${out.join('\n')}\n`);
    },
    () => counts.unreadable++,
  );
}

/** Buffered appends to a file descriptor (about 1 MiB at a time). */
class FileAppender {
  #chunks: string[] = [];
  #length = 0;
  /** Bytes written to the file so far (the buffered ones not counted). */
  written = 0;

  constructor(readonly fd: number) {}

  write(text: string): void {
    this.#chunks.push(text);
    this.#length += text.length;
    if (this.#length >= 1 << 20) this.flush();
  }

  flush(): void {
    if (!this.#chunks.length) return;
    const buffer = Buffer.from(this.#chunks.join(''), 'utf8');
    this.#chunks = [];
    this.#length = 0;
    for (let at = 0; at < buffer.length; ) at += fs.writeSync(this.fd, buffer, at, buffer.length - at, this.written + at);
    this.written += buffer.length;
  }

  /** Drops what was written from `bytes` on. */
  truncate(bytes: number): void {
    this.#chunks = [];
    this.#length = 0;
    fs.ftruncateSync(this.fd, bytes);
    this.written = bytes;
  }
}

export interface MergeResult {
  section: TraceSection;
  model: TraceModel;
  events: number;
  /** With `keepProfiles`: the CPU profile events the report's flame graphs read (none without). */
  profiles: ProfileEventKeeper;
  /** Part files left out (cut short by a kill while writing, or not a trace), with why. */
  leftOut: { file: string; reason: string }[];
}

/**
 * The processes' traces (`<pid>.json` each, any layout trace-reader.ts reads) streamed into one
 * trace file `out` in the line layout, and folded into the model on the way: a part's event lines
 * are copied as they are read (one line in memory at a time), so memory is the analysis' caps,
 * not the trace's size. A part that cannot be read (a process killed while writing it) is left
 * out and counted; one found broken half-way is cut back out of the file (its events already
 * folded into the model stay there: a line-layout part is only broken half-way when changed on
 * disk while read).
 */
export function mergeParts(dir: string, out: string, meta: Omit<TraceSection, 'processes'>, keepProfiles = false): MergeResult {
  const files = fs.readdirSync(dir);
  const names = files.filter((n) => /^\d+\.json$/.test(n)).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const processes: ProcessInfo[] = [];
  const leftOut: MergeResult['leftOut'] = [];
  // A part is written to `<pid>.json.tmp-<pid>` and renamed when complete: one left behind is
  // from a process killed while writing it.
  for (const name of files.filter((n) => /^\d+\.json\.tmp-\d+$/.test(n))) {
    if (!names.includes(name.slice(0, name.indexOf('.tmp-')))) leftOut.push({ file: name, reason: 'cut short (the process was killed while writing it)' });
  }
  const analysis = new TraceAnalysis({ blockMs: meta.blockMs });
  const fd = fs.openSync(out, 'w');
  let events = 0;
  const profiles = keepProfiles ? new ProfileEventKeeper() : undefined;
  try {
    const file = new FileAppender(fd);
    file.write(TRACE_FIRST_LINE);
    for (const name of names) {
      const partFile = path.join(dir, name);
      file.flush();
      const partStart = file.written;
      const eventsBefore = events;
      try {
        const part = openTrace(partFile);
        const partProcesses = part.uvscope?.processes ?? [];
        analysis.addProcesses(partProcesses);
        if (part.layout === 'lines') {
          for (const line of part.eventLines()) {
            const event = analysis.addLine(line);
            if (event) profiles?.add(event);
            file.write(events++ === 0 ? '\n' : ',\n');
            file.write(line);
          }
        } else {
          for (const event of part.events()) {
            analysis.add(event);
            profiles?.add(event);
            file.write(events++ === 0 ? '\n' : ',\n');
            file.write(JSON.stringify(event));
          }
        }
        processes.push(...partProcesses);
      } catch (error) {
        file.truncate(partStart);
        events = eventsBefore;
        leftOut.push({ file: name, reason: error instanceof TraceReadError ? error.message.slice(partFile.length + 2) : `unreadable (${(error as Error).message})` });
      }
    }
    const section: TraceSection = { ...meta, processes, ...(leftOut.length ? { partsLeftOut: leftOut.length } : {}) };
    file.write(`\n${traceLastLine(section)}\n`);
    file.flush();
    return { section, model: analysis.finish(section), events, profiles: profiles ?? new ProfileEventKeeper(), leftOut };
  } finally {
    fs.closeSync(fd);
  }
}

/** The recording's options, shared by a launch and `--attach`: --stall-ms, --sample-us (--no-cpu), --block-ms, --max-markers. */
export function recordingOptions(options: ReadonlyMap<string, string | true>): { stallMs: number; sampleUs: number; blockMs: number; maxMarkers: number } {
  return {
    stallMs: integerOption('stall-ms', options.get('stall-ms'), 200, 10, 3_600_000, true),
    sampleUs: options.has('no-cpu') ? 0 : integerOption('sample-us', options.get('sample-us'), 1000, 50, 1_000_000),
    blockMs: positiveInt('block-ms', options.get('block-ms'), 20, 3_600_000),
    maxMarkers: integerOption('max-markers', options.get('max-markers'), 1_000_000, 100, 100_000_000),
  };
}

/** The summary on stderr and the HTML report of a merged trace: `uvscope trace` and `--attach`. */
export function writeOutputs(merged: MergeResult, out: string, html: string | undefined): void {
  const processes = merged.section.processes.length;
  // The summary and the report read the section and the model; of the events (they stay in
  // the file) the report gets only the CPU profiles, capped.
  const trace = { traceEvents: merged.profiles.events, uvscope: merged.section };
  process.stderr.write(`${formatSummary(trace, merged.model)}\ntrace: ${out} (${merged.events} events from ${processes} Node process${processes === 1 ? '' : 'es'})\n`);
  for (const part of merged.leftOut) process.stderr.write(`uvscope trace: the trace of pid ${parseInt(part.file, 10)} was left out: ${part.reason}\n`);
  if (html) {
    fs.writeFileSync(html, renderTraceHtml(trace, merged.model));
    process.stderr.write(`report: ${html}${merged.profiles.leftOutNote()}\n`);
  }
}

export async function traceCommand(argv: string[]): Promise<number> {
  const { options, positionals, rest } = parseArgs(argv, ['out', 'html', 'duration', 'stall-ms', 'sample-us', 'block-ms', 'max-markers'], ['help', 'no-cpu']);
  if (options.has('help')) {
    process.stdout.write(`${TRACE_USAGE}\n`);
    return 0;
  }
  const command = [...positionals, ...rest];
  if (command.length === 0) throw new UsageError('missing the command to trace (uvscope trace -- node app.js)');
  const out = path.resolve(stringOption('out', options.get('out')) ?? 'uvscope-trace.json');
  const htmlOption = stringOption('html', options.get('html'));
  const html = htmlOption === undefined ? undefined : path.resolve(htmlOption);
  const duration = positiveNumber('duration', options.get('duration'));
  const { stallMs, sampleUs, blockMs, maxMarkers } = recordingOptions(options);
  checkWritable(out, '--out');
  if (html) checkWritable(html, '--html');

  // A script as the command runs with this node (as `uvscope trace -- app.js` always did).
  const file = /\.[cm]?js$/.test(command[0]) ? [process.execPath, command[0]] : [command[0]];
  const [executable, ...args] = [...file, ...command.slice(1)];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-'));
  try {
    const fifo = stallMs === 0 ? undefined : openStallFifo(dir);
    const stallLines = { unreadable: 0 };
    const stallsDone = fifo ? printStalls(fifo.socket, stallLines) : Promise.resolve();
    const register = path.join(__dirname, '..', '..', 'register.js');
    const child = spawn(executable, args, {
      stdio: 'inherit',
      detached: true,
      env: {
        ...process.env,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(register)}`.trim(),
        UVSCOPE_TRACE_DIR: dir,
        UVSCOPE_TRACE_ORIGIN_NS: String(process.hrtime.bigint()),
        UVSCOPE_TRACE_BLOCK_MS: String(blockMs),
        UVSCOPE_TRACE_STALL_MS: String(stallMs),
        UVSCOPE_TRACE_SAMPLE_US: String(sampleUs),
        UVSCOPE_TRACE_MAX_MARKERS: String(maxMarkers),
        UVSCOPE_TRACE_STALL_FIFO: fifo?.path ?? '',
        UVSCOPE_TRACE_STALL_FD: '',
      },
    });
    // The command has a process group of its own (so that nothing of it outlives the trace):
    // Ctrl-C at the terminal reaches only us, and is passed on.
    const forward = (signal: NodeJS.Signals) => signalGroup(child, signal);
    for (const signal of FORWARDED) process.on(signal, forward);
    let stoppedByUs = false;
    // After --duration: SIGINT (a server writes its trace), then SIGTERM and SIGKILL 5 s apart
    // for a command that does not stop.
    const escalation: NodeJS.Timeout[] = [];
    const timer = duration
      ? setTimeout(() => {
          stoppedByUs = true;
          signalGroup(child, 'SIGINT');
          escalation.push(setTimeout(() => signalGroup(child, 'SIGTERM'), 5000), setTimeout(() => signalGroup(child, 'SIGKILL'), 10_000));
        }, duration * 1000)
      : undefined;
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((resolve) => {
      child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    if (timer) clearTimeout(timer);
    for (const t of escalation) clearTimeout(t);
    if (exit.error) {
      for (const signal of FORWARDED) process.removeListener(signal, forward);
      fifo?.socket.destroy();
      fifo?.close();
      const notFound = exit.error.code === 'ENOENT';
      process.stderr.write(`uvscope: cannot start ${executable}: ${notFound ? 'command not found' : exit.error.message}\n`);
      return notFound ? 127 : 126;
    }
    await reapGroup(child, 3000);
    for (const signal of FORWARDED) process.removeListener(signal, forward);
    if (fifo) {
      // Every writer is gone with the group, but ours: closing it ends the stream.
      fifo.close();
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([stallsDone, new Promise<void>((resolve) => (bound = setTimeout(resolve, 1000)))]);
      clearTimeout(bound);
      fifo.socket.destroy();
      if (stallLines.unreadable > 0) {
        process.stderr.write(`uvscope trace: ${stallLines.unreadable} stall report line${stallLines.unreadable === 1 ? '' : 's'} could not be read (cut short or interleaved)\n`);
      }
    }

    const merged = mergeParts(dir, out, { blockMs, stallMs, command: command.join(' ') }, html !== undefined);
    if (merged.section.processes.length === 0 && merged.leftOut.length === 0) {
      process.stderr.write('uvscope trace: no Node process wrote a trace (the command started none, or they were killed with SIGKILL)\n');
    }
    writeOutputs(merged, out, html);
    if (exit.signal) return stoppedByUs && exit.signal === 'SIGINT' ? 0 : 128 + (os.constants.signals[exit.signal] ?? 0);
    if (stoppedByUs && exit.code === 130) return 0;
    return exit.code ?? 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
