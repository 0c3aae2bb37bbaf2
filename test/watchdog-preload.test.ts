/**
 * `node --require uvscope/watchdog`, end to end in child processes (test/fixtures/watchdog-app.js):
 * the report lines are read while the child is still blocked (it blocks until the test creates
 * a file, after seeing the line), from the main script (phase startup), from a worker thread
 * (its threadId) and from a timer callback; the last block ends with SIGKILL and the lines
 * written before are all there. Bad environment values: one line on stderr, the app runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { parseStallReport } from '../src';
import type { LiveStallReport } from '../src';
import { SLOWDOWN } from './helpers';

const ROOT = path.resolve(__dirname, '..');
const PRELOAD = path.join(ROOT, 'lib', 'watchdog.js');
const FIXTURE = path.join(__dirname, 'fixtures', 'watchdog-app.js');
const THRESHOLD_MS = 200;
const DEADLINE_MS = 15_000 * SLOWDOWN;

let dir: string;
let child: ChildProcess | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-watchdog-'));
});
afterEach(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Lines of a stream, awaited one condition at a time. */
function lineReader(stream: Readable) {
  const lines: string[] = [];
  let buffered = '';
  let wake: (() => void) | undefined;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    wake?.();
  });
  return {
    lines,
    /** Resolves with the first line (from `from` on) that `match` accepts, in arrival order. */
    async next(match: (line: string) => boolean, what: string): Promise<string> {
      const deadline = Date.now() + DEADLINE_MS;
      for (let i = 0; ; ) {
        for (; i < lines.length; i++) if (match(lines[i])) return lines[i];
        if (Date.now() > deadline) throw new Error(`no ${what} within ${DEADLINE_MS} ms; lines: ${lines.join('\n')}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100).unref(); // only a bound to re-check the deadline
        });
      }
    },
  };
}

function reportsIn(file: string): LiveStallReport[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  // Only complete lines: the watchdog thread may be writing one right now.
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map(parseStallReport);
}

/** Waits for a report in `file` that `match` accepts (the file has no event to await: polled). */
async function reportFrom(file: string, match: (r: LiveStallReport) => boolean, what: string): Promise<LiveStallReport> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const found = reportsIn(file).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no report of ${what} within ${DEADLINE_MS} ms: ${fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '(no file)'}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function exited(c: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve({ code: c.exitCode, signal: c.signalCode });
  return new Promise((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
}

// Pages of a Linux pipe that writes of these sizes (each at most PIPE_BUF, so atomic) took
// while nobody read: a write joins the last page when it fits there, else starts a new one.
function pipePagesTaken(writeSizes: number[], pageSize = 4096): number {
  let pages = 0;
  let lastPageUsed = pageSize;
  for (const size of writeSizes) {
    if (lastPageUsed + size <= pageSize) lastPageUsed += size;
    else {
      pages += 1;
      lastPageUsed = size;
    }
  }
  return pages;
}

const release = (name: string) => fs.writeFileSync(path.join(dir, name), '');
const still = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

test('package.json exports ./watchdog like the other subpaths, and lib/watchdog.js is built', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(manifest.exports['./watchdog'].require).toEqual({ types: './lib/watchdog.d.ts', default: './lib/watchdog.js' });
  expect(fs.existsSync(PRELOAD)).toBe(true);
  expect(fs.existsSync(path.join(ROOT, 'lib', 'watchdog.d.ts'))).toBe(true);
});

test('reports a blocked main script (startup), worker and timer while they are blocked, into UVSCOPE_STALL_FILE', async () => {
  const file = path.join(dir, 'stalls.jsonl');
  child = spawn(process.execPath, ['--require', PRELOAD, FIXTURE], {
    env: { ...process.env, UVSCOPE_STALL_MS: String(THRESHOLD_MS), UVSCOPE_STALL_FILE: file, GO_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout = lineReader(child.stdout!);
  const stderr = lineReader(child.stderr!);

  // 1. The main script, before the loop ever turned.
  await stdout.next((l) => l === 'block startup 0', 'startup block');
  const startup = await reportFrom(file, (r) => r.threadId === 0, 'the startup block');
  expect(still(child)).toBe(true); // still blocked: it waits for the file only this test creates
  expect(startup).toMatchObject({ type: 'uvscope.stall.report', pid: child.pid, phase: 'startup', stall: 1, report: 1, iteration: 0 });
  expect(startup.elapsedNs).toBeGreaterThanOrEqual(THRESHOLD_MS * 1e6);
  expect(startup.thresholdNs).toBe(THRESHOLD_MS * 1e6);
  expect(startup.atNs - startup.startedAtNs).toBe(BigInt(startup.elapsedNs));
  // With or without the optional stack addon: a stack, or the reason there is none.
  expect(startup.stack !== undefined || typeof startup.stackUnavailable === 'string').toBe(true);
  release('startup');

  // 2. A worker thread's script: its own watchdog (the preload ran in the worker), its threadId.
  const workerLine = await stdout.next((l) => l.startsWith('block worker '), 'worker block');
  const workerId = Number(workerLine.split(' ')[2]);
  expect(workerId).toBeGreaterThan(0);
  const worker = await reportFrom(file, (r) => r.threadId === workerId, `worker ${workerId}`);
  expect(still(child)).toBe(true);
  // Its phase is not checked: a worker's loop has turned (to receive its script) before the
  // script runs, so the native side cannot tell this block from one in a callback (it says
  // 'unknown' on this branch, not 'startup').
  expect(worker).toMatchObject({ pid: child.pid, threadId: workerId, stall: 1 });
  expect(worker.elapsedNs).toBeGreaterThanOrEqual(THRESHOLD_MS * 1e6);
  release('worker');

  // 3. A timer callback, once the loop runs; then SIGKILL while it is still blocked.
  await stdout.next((l) => l === 'block timer 0', 'timer block');
  const timer = await reportFrom(file, (r) => r.threadId === 0 && r.stall === 2, 'the timer block');
  expect(still(child)).toBe(true);
  expect(timer.phase).not.toBe('startup');
  expect(timer.iteration).toBeGreaterThan(0);
  expect(timer.elapsedNs).toBeGreaterThanOrEqual(THRESHOLD_MS * 1e6);
  child.kill('SIGKILL');
  expect(await exited(child)).toEqual({ code: null, signal: 'SIGKILL' });

  // Every line is whole JSON, and all three stalls are there.
  const text = fs.readFileSync(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const all = reportsIn(file);
  const stalls = new Set(all.map((r) => `${r.threadId}/${r.stall}`));
  expect([...stalls].sort()).toEqual(['0/1', '0/2', `${workerId}/1`].sort());
  expect(stdout.lines).not.toContain('done');
  expect(stderr.lines.join('\n')).toBe('');
});

test('default: report lines on stderr; the app ends by itself (the watchdog is unref\'d)', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, UVSCOPE_STALL_MS: String(THRESHOLD_MS), GO_DIR: dir, ONLY_STARTUP: '1' };
  delete env.UVSCOPE_STALL_FILE;
  child = spawn(process.execPath, ['--require', PRELOAD, FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = lineReader(child.stdout!);
  const stderr = lineReader(child.stderr!);
  await stdout.next((l) => l === 'block startup 0', 'startup block');
  const line = await stderr.next((l) => l.startsWith('{"type":"uvscope.stall.report"'), 'report on stderr');
  expect(still(child)).toBe(true);
  expect(parseStallReport(line)).toMatchObject({ threadId: 0, phase: 'startup', stall: 1 });
  release('startup');
  expect(await exited(child)).toEqual({ code: 0, signal: null });
});

test.each([
  ['main thread only', { NO_WORKER: '1' }],
  ['with a worker', {}],
])('stderr is a pipe whose reader stops reading (`node app.js 2>&1 | stalled-consumer`), %s: the app runs to its end and exits; the lines that got through are whole', async (_, vars) => {
  // The consumer: a FIFO's read end this test holds open and reads only once the app is gone.
  const fifo = path.join(dir, 'stderr.fifo');
  spawnSync('mkfifo', [fifo]);
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY); // blocking, as a shell's pipe is
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, ...vars, UVSCOPE_STALL_MS: '20', UVSCOPE_STALL_REPEAT_MS: '10' };
    delete env.UVSCOPE_STALL_FILE;
    child = spawn(process.execPath, ['--require', PRELOAD, path.join(__dirname, 'fixtures', 'report-io-app.js')], {
      env,
      stdio: ['ignore', 'pipe', writeFd],
    });
    fs.closeSync(writeFd);
    const stdout = lineReader(child.stdout!);
    const stuck = setTimeout(() => child?.kill('SIGKILL'), DEADLINE_MS);
    const end = await exited(child);
    clearTimeout(stuck);
    expect(end).toEqual({ code: 0, signal: null });
    expect(stdout.lines).toContain('done');
    const chunks: Buffer[] = [];
    const buffer = Buffer.alloc(1 << 16);
    for (let n; (n = fs.readSync(readFd, buffer)) > 0; ) chunks.push(Buffer.from(buffer.subarray(0, n)));
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    for (const line of lines) {
      expect(() => parseStallReport(line)).not.toThrow();
      expect(Buffer.byteLength(line) + 1).toBeLessThanOrEqual(4096);
    }
    // The pipe filled up: 60 reports of a few KiB per thread did not fit. A Linux pipe is 16
    // pages; a write of at most a page (PIPE_BUF) goes whole into the last page if it fits
    // there, else into a page of its own, so the lines written took all 16.
    expect(pipePagesTaken(lines.map((line) => Buffer.byteLength(line) + 1))).toBe(16);
  } finally {
    fs.closeSync(readFd);
  }
});

describe('invalid environment: one line on stderr, no watchdog, the app runs', () => {
  // The app starts a worker (the preload runs there too): the line is still written once.
  const app = path.join(__dirname, 'fixtures', 'watchdog-env-app.js');

  test.each([
    [{ UVSCOPE_STALL_MS: 'soon' }, /^uvscope\/watchdog: UVSCOPE_STALL_MS must be an integer number of ms from 10 to 3600000, got 'soon'; no stall watchdog started$/],
    [{ UVSCOPE_STALL_MS: '5' }, /UVSCOPE_STALL_MS must be .* got '5'/],
    [{ UVSCOPE_STALL_MS: '1.5e3' }, /UVSCOPE_STALL_MS must be .* got '1.5e3'/],
    [{ UVSCOPE_STALL_REPEAT_MS: '3' }, /UVSCOPE_STALL_REPEAT_MS must be an integer number of ms from 0 or 10 to 3600000, got '3'/],
    [{ UVSCOPE_STALL_FILE: '/nonexistent-dir/stalls.jsonl' }, /^uvscope\/watchdog: cannot open UVSCOPE_STALL_FILE '\/nonexistent-dir\/stalls.jsonl' \(ENOENT\); no stall watchdog started$/],
  ])('%j', (vars, expected) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...vars, PRELOAD };
    delete env.UVSCOPE_STALL_WARNED;
    const result = spawnSync(process.execPath, ['--require', PRELOAD, app], { env, encoding: 'utf8', timeout: DEADLINE_MS });
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual(['main true', 'worker true']);
    const lines = result.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(expected);
  });
});
