/**
 * Fault injection for the stall watchdog's report file, each in a child process
 * (test/loop/fixtures/report-io-child.js): a FIFO nobody reads (the app, stats(), stop(), close(),
 * the exit and a worker's termination never wait for it), a reader that goes away (EPIPE on a FIFO and on stderr), a full
 * disk (/dev/full; RLIMIT_FSIZE through prlimit, with a partial write), a non-blocking pipe
 * that fills up (EAGAIN) with lines longer than PIPE_BUF, and a descriptor the caller closes
 * after start(). Every line that gets through is whole and parses; what is dropped is counted
 * in stats() and said in the next line written.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { parseStallReport } from '../../src';
import type { LiveStallReport, StallWatchdogStats } from '../../src';
import { jsonLines, SLOWDOWN } from '../helpers';

const CHILD = path.join(__dirname, 'fixtures', 'report-io-child.js');
/** A child that has not ended by then is stuck (on its report file): the test fails. */
const STUCK_MS = 20_000 * SLOWDOWN;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-report-io-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

type Message = Record<string, unknown> & { stats?: StallWatchdogStats };

interface Child {
  messages: Message[];
  next(match: (message: Message) => boolean): Promise<Message>;
  go(): void;
  /** How it ended: killed with SIGKILL by the test (`stuck`) when it had not ended within STUCK_MS. */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stuck: boolean }>;
  destroyStderr(): void;
}

function startChild(args: string[], prefix: string[] = []): Child {
  const command = prefix.length ? prefix[0] : process.execPath;
  const argv = prefix.length ? [...prefix.slice(1), process.execPath, CHILD, ...args] : [CHILD, ...args];
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stuck = false;
  const killer = setTimeout(() => {
    stuck = true;
    child.kill('SIGKILL');
  }, STUCK_MS);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {});
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stuck: boolean }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stderr, stuck });
    }),
  );
  const { received: messages, next } = jsonLines<Message>(child.stdout, ended);
  return {
    messages,
    next,
    go: () => child.stdin.write('go\n'),
    ended,
    destroyStderr: () => child.stderr.destroy(),
  };
}

/** The report lines of a file: every line whole (the text ends with a newline) and a report. */
function wholeLines(text: string): LiveStallReport[] {
  if (text === '') return [];
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      try {
        return parseStallReport(line);
      } catch {
        throw new Error(`a line that does not parse: ${JSON.stringify(line.slice(0, 200))}... (${line.length} bytes)`);
      }
    });
}

function mkfifo(name: string): string {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

describe('a FIFO nobody reads (full before the watchdog starts)', () => {
  // The parent holds the read end open and never reads: writes find no room, forever.
  for (const ending of ['close', 'natural', 'exit'] as const) {
    test(`the app runs on, stats() answers inside the stall, and the process ends (${ending})`, async () => {
      const fifo = mkfifo('unread.fifo');
      const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      try {
        const child = startChild(['unread-fifo', fifo, ending]);
        const first = (await child.next((m) => 'stats' in m)) as Message & { filled: number; inStall: StallWatchdogStats; reportCount: number };
        expect(first.filled).toBeGreaterThan(0);
        expect(first.inStall.reports).toBeGreaterThanOrEqual(1);
        expect(first.stats!.reports).toBe(first.reportCount);
        expect(first.stats!.reportsWritten).toBe(0); // nothing fits: queued, not written
        const end = await child.ended;
        expect(end).toEqual({ code: ending === 'exit' ? 3 : 0, signal: null, stderr: '', stuck: false });
        if (ending === 'close') expect(child.messages.some((m) => m.closed === true)).toBe(true);
      } finally {
        fs.closeSync(reader);
      }
    });
  }
});

test('a FIFO nobody reads, written by a blocked worker: terminate() resolves and the process ends', async () => {
  const fifo = mkfifo('unread-worker.fifo');
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const child = startChild(['unread-worker', fifo]);
    const { filled, terminated } = await child.next((m) => 'terminated' in m);
    expect(filled).toBeGreaterThan(0);
    expect(terminated).toBe(1);
    expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  } finally {
    fs.closeSync(reader);
  }
});

describe('a reader that goes away (EPIPE)', () => {
  /** Every report made after the reader went away was dropped, none written (counted from `before`: a stall of the child's startup may have been written). */
  function expectAllDropped({ before, stats }: Message): void {
    const made = stats!.reports - (before as StallWatchdogStats).reports;
    expect(made).toBeGreaterThanOrEqual(2);
    expect(stats!.reportsDropped - (before as StallWatchdogStats).reportsDropped).toBe(made);
    expect(stats!.reportsWritten).toBe((before as StallWatchdogStats).reportsWritten);
  }

  test('the FIFO reader closes: no SIGPIPE death, every report dropped and counted', async () => {
    const fifo = mkfifo('gone.fifo');
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const child = startChild(['gone-reader', fifo]);
    await child.next((m) => m.ready === true);
    fs.closeSync(reader);
    child.go();
    expectAllDropped(await child.next((m) => 'stats' in m));
    expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  });

  test('the parent closes its end of stderr (a socket): the same', async () => {
    const child = startChild(['gone-reader', 'stderr']);
    await child.next((m) => m.ready === true);
    child.destroyStderr();
    child.go();
    expectAllDropped(await child.next((m) => 'stats' in m));
    const { code, signal, stuck } = await child.ended;
    expect({ code, signal, stuck }).toEqual({ code: 0, signal: null, stuck: false });
  });
});

describe('a full disk', () => {
  test('/dev/full (ENOSPC on every write): every report dropped and counted', async () => {
    const child = startChild(['full', '/dev/full']);
    const step1 = await child.next((m) => m.step === 1);
    expect(step1.stats!.reports).toBeGreaterThanOrEqual(2);
    expect(step1.stats).toMatchObject({ reportsWritten: 0, reportsDropped: step1.stats!.reports });
    child.go();
    const step2 = await child.next((m) => m.step === 2);
    expect(step2.stats!.reportsDropped).toBe(step2.stats!.reports);
    expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  });

  const prlimit = spawnSync('prlimit', ['--version']).status === 0;
  (prlimit ? test : test.skip)('a file that may not grow past RLIMIT_FSIZE: a partial line is cut off again; the next line written says what was dropped', async () => {
    const file = path.join(dir, 'reports.jsonl');
    const limitBytes = 2000; // 4 or 5 report lines: the one that crosses it is written in part
    const child = startChild(['full', file], ['prlimit', `--fsize=${limitBytes}`]);
    const step1 = await child.next((m) => m.step === 1);
    const stats1 = step1.stats!;
    const lines1 = wholeLines(fs.readFileSync(file, 'utf8'));
    expect(lines1.length).toBe(stats1.reportsWritten);
    expect(stats1.reportsWritten).toBeGreaterThanOrEqual(1);
    expect(stats1.reportsDropped).toBeGreaterThanOrEqual(1);
    expect(stats1.reportsWritten + stats1.reportsDropped).toBe(stats1.reports);
    expect(lines1.map((line) => line.report)).toEqual(lines1.map((_, i) => i + 1));
    // Room again: the next line that gets through says how many were lost since the last one.
    fs.truncateSync(file, 0);
    child.go();
    const step2 = await child.next((m) => m.step === 2);
    const lines2 = wholeLines(fs.readFileSync(file, 'utf8'));
    expect(lines2.length).toBe(step2.stats!.reportsWritten - stats1.reportsWritten);
    expect(lines2[0].dropped).toBe(stats1.reportsDropped);
    expect(lines2[0]).toMatchObject({ stall: 2, report: 1 });
    expect(lines2.slice(1).every((line) => line.dropped === undefined)).toBe(true);
    expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  });
});

test('a non-blocking pipe that fills up (EAGAIN), lines longer than PIPE_BUF: every line whole, at most 4 KiB, frames left out counted', async () => {
  const fifo = mkfifo('eagain.fifo');
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const child = startChild(['eagain', fifo]);
  const stalled = (await child.next((m) => 'stalled' in m)).stalled as StallWatchdogStats;
  // The pipe (64 KiB) was full long before the stall ended: lines wait for room.
  expect(stalled.reports).toBeGreaterThan(20);
  expect(stalled.reportsWritten).toBeLessThan(stalled.reports);
  let text = '';
  const socket = new net.Socket({ fd: readFd, readable: true, writable: false });
  socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const eof = new Promise((resolve) => socket.on('close', resolve));
  const { stats } = await child.next((m) => 'stats' in m);
  expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  await eof; // every writer (the child's descriptors) is gone
  const lines = wholeLines(text);
  expect(lines.length).toBe(stats!.reportsWritten);
  expect(stats!.reportsWritten + stats!.reportsDropped).toBe(stats!.reports);
  // What was dropped (nothing, with a 4 MiB queue) is said in the lines; the order is kept.
  expect(lines.reduce((n, line) => n + (line.dropped ?? 0), 0)).toBe(stats!.reportsDropped);
  // (A slow machine may see a second, short stall after the block: ordered by stall, then report.)
  const order = lines.map((line) => [line.stall, line.report]);
  expect(order).toEqual([...order].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
  expect(new Set(order.map((pair) => pair.join('/'))).size).toBe(order.length);
  for (const raw of text.slice(0, -1).split('\n')) expect(Buffer.byteLength(raw) + 1).toBeLessThanOrEqual(4096);
  // 64 frames of 400-character names do not fit 4 KiB: the innermost are kept, the rest counted
  // (in the block's reports whose stack was taken within the 10 ms a report waits for it).
  const deepName = `deep_${'x'.repeat(400)}`;
  const inBlock = lines.filter((line) => line.stack?.some((frame) => frame.functionName === deepName));
  expect(inBlock.length).toBeGreaterThanOrEqual(1);
  for (const line of inBlock) {
    expect(line.framesOmitted).toBeGreaterThan(0);
    expect(line.stack!.length + line.framesOmitted!).toBe(64);
  }
});

test('a descriptor closed by the caller after start(): reports go to the file it was, not to the one reusing its number', async () => {
  const first = path.join(dir, 'first.jsonl');
  const second = path.join(dir, 'second.jsonl');
  const child = startChild(['closed-fd', first, second]);
  const { reused, stats } = await child.next((m) => 'stats' in m);
  expect(reused).toBe(true);
  expect(await child.ended).toEqual({ code: 0, signal: null, stderr: '', stuck: false });
  expect(fs.readFileSync(second, 'utf8')).toBe('');
  const lines = wholeLines(fs.readFileSync(first, 'utf8'));
  expect(stats!.reportsWritten).toBeGreaterThanOrEqual(1);
  expect(lines.length).toBe(stats!.reportsWritten);
});
