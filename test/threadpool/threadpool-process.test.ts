/**
 * Thread pool behaviour that needs a fresh process: the pool size libuv picks from
 * UV_THREADPOOL_SIZE (read once, when the pool starts), worker termination with jobs queued
 * and running, and process exit with jobs in flight. Child processes load the compiled
 * library (lib/, built by `npx tsc -p .`) through test/threadpool/fixtures/pool-child.js.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { parsePoolSize, threadpool } from '../../src';
import { SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const CHILD = path.join(__dirname, 'fixtures', 'pool-child.js');

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the child fixture with UV_THREADPOOL_SIZE set to `poolSize` (removed when undefined). */
function runChild(mode: string, poolSize: string | undefined, arg?: string): Promise<ChildResult> {
  const env = { ...process.env };
  delete env.UV_THREADPOOL_SIZE;
  if (poolSize !== undefined) env.UV_THREADPOOL_SIZE = poolSize;
  const args = [CHILD, LIB, mode, ...(arg === undefined ? [] : [arg])];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000 * SLOWDOWN);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

function onlyLine(result: ChildResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

describe('pool size', () => {
  test.each([
    ['1', 1],
    ['3', 3],
    ['6', 6],
    [undefined, 4],
  ])('UV_THREADPOOL_SIZE=%s: measureSize() is %d and size() agrees', async (value, expected) => {
    const result = await runChild('measure', value);
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(onlyLine(result)).toEqual({ measured: expected, size: expected, configured: value ?? null });
  });

  test('parsePoolSize follows libuv 1.46 (atoi into an unsigned int, 0 -> 1, clamp at 1024)', () => {
    expect(parsePoolSize(undefined)).toBe(4);
    expect(parsePoolSize('0')).toBe(1);
    expect(parsePoolSize('abc')).toBe(1);
    expect(parsePoolSize('')).toBe(1);
    expect(parsePoolSize('2000')).toBe(1024);
    expect(parsePoolSize('1024')).toBe(1024);
    expect(parsePoolSize('1025')).toBe(1024);
    expect(parsePoolSize('3')).toBe(3);
    expect(parsePoolSize(' 5x')).toBe(5);
    expect(parsePoolSize('\t+7')).toBe(7);
    expect(parsePoolSize('08')).toBe(8);
    expect(parsePoolSize('-1')).toBe(1024); // atoi gives -1, stored unsigned: huge, clamped
    expect(parsePoolSize('x5')).toBe(1);
  });

  // The values above agree with the measured pool by construction of the expectations. These
  // are checked against the real pool instead: what libuv did is the reference. atoi is
  // (int)strtol, so values beyond 32 bits wrap: 4294967297 -> 1, 4294967296 -> 0 -> 1.
  test.each(['0', 'abc', ' 2x', '4294967297', '4294967296'])(
    'UV_THREADPOOL_SIZE=%j: size() equals the measured pool size',
    async (value) => {
      const result = await runChild('measure', value);
      expect(result.status).toBe(0);
      const { measured, size } = onlyLine(result);
      expect(size).toBe(measured);
      expect(parsePoolSize(value)).toBe(measured);
    },
  );

  test('size() in this process follows the environment', () => {
    const info = threadpool.size();
    expect(info.configured).toBe(process.env.UV_THREADPOOL_SIZE);
    expect(info.size).toBe(parsePoolSize(process.env.UV_THREADPOOL_SIZE));
  });
});

describe('teardown and exit', () => {
  test('a worker with 100 jobs queued and 2 running (and 19 in a bounded pool\'s FIFO) is terminated: no crash, the process exits 0 by itself', async () => {
    const result = await runChild('terminate-worker', '2');
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const line = onlyLine(result) as {
      worker: Record<string, unknown>;
      terminateMs: number;
      noopMs: number;
      exitCode: number;
    };
    // The state at termination was the intended one.
    expect(line.worker).toEqual({
      running: 2,
      queued: 100,
      inFlight: 102,
      bounded: { inFlight: 20, queued: 20, running: 0 }, // 1 in libuv's queue, 19 in uvscope's FIFO
      settled: 0,
    });
    expect(line.exitCode).toBe(1); // worker.terminate() gives exit code 1
    // Teardown asked the two running sleep(200) jobs to stop and cancelled the queued ones: it
    // did not wait for 51 rounds of 200 ms, and the shared pool was free again at once.
    expect(line.terminateMs).toBeLessThan(2000);
    expect(line.noopMs).toBeLessThan(1000);
  });

  test('a process that submits 50 sleep jobs and does nothing else exits 0 after they all settle', async () => {
    const result = await runChild('natural-exit', '2', '50');
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(onlyLine(result)).toEqual({ settled: 50, failed: 0, code: 0 });
    // 50 x 20 ms on 2 threads: the jobs, not something else, kept it alive.
    expect(result.ms).toBeGreaterThanOrEqual(450);
  });

  test('process.exit(0) while jobs run and wait exits 0', async () => {
    const result = await runChild('exit-while-running', '2');
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(onlyLine(result)).toEqual({ running: 2, queued: 2 });
  });
});
