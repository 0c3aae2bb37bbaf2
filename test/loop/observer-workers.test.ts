/**
 * LoopObserver in worker_threads: each observer sees its own thread's loop, and workers that
 * are terminated (or exit) while observing tear down cleanly. Workers and child processes load
 * the compiled library (lib/), built by `npx tsc -p .`.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { LoopObserver } from '../../src';
import { SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib');
const FIXTURES = path.join(__dirname, 'fixtures');

interface WorkerReport {
  iterations: number;
  loopCount?: number;
}

function runWorker(workerData: Record<string, unknown>): Promise<{ report: WorkerReport; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(path.join(FIXTURES, 'observer-worker.js'), { workerData: { lib: LIB, ...workerData } });
    let report: WorkerReport | undefined;
    worker.on('message', (message: WorkerReport) => (report = message));
    worker.on('error', reject);
    worker.on('exit', (exitCode) => {
      if (report) resolve({ report, exitCode });
      else reject(new Error(`worker exited with code ${exitCode} before reporting`));
    });
  });
}

test('two workers observe their own loops: a 2000-turn setImmediate chain and a 50 ms sleep', async () => {
  const main = new LoopObserver();
  main.start();
  try {
    const [chain, sleeper] = await Promise.all([
      runWorker({ mode: 'chain', turns: 2000, listeners: true }),
      runWorker({ mode: 'sleep', ms: 50 }),
    ]);
    const mainStats = main.stats();
    expect(chain.exitCode).toBe(0);
    expect(sleeper.exitCode).toBe(0);
    // The worker's script runs inside an iteration of its loop, so the chain spans 2000
    // iterations of which at least 1998 are complete (prepare to prepare).
    expect(chain.report.iterations).toBeGreaterThanOrEqual(1998);
    expect(chain.report.iterations).toBeLessThanOrEqual(2005);
    expect(Math.abs(chain.report.loopCount! - chain.report.iterations)).toBeLessThanOrEqual(3);
    expect(sleeper.report.iterations).toBeLessThanOrEqual(10);
    // The main thread's observer runs meanwhile and still works (its count depends on what
    // jest itself does in this process, so it is not compared).
    expect(mainStats.windowNs).toBeGreaterThan(0);
  } finally {
    main.close();
  }
});

test('50 workers ended while observing (terminate at staggered moments, process.exit, natural exit) do not crash the process', async () => {
  const result = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, [path.join(FIXTURES, 'observer-terminate.js'), LIB], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const killer = setTimeout(() => child.kill('SIGKILL'), 25_000 * SLOWDOWN);
      child.on('error', reject);
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, stdout, stderr });
      });
    },
  );
  expect({ code: result.code, signal: result.signal, stderr: result.stderr.slice(0, 2000) }).toEqual({
    code: 0,
    signal: null,
    stderr: '',
  });
  const lines = result.stdout.trim().split('\n');
  expect(lines[lines.length - 1]).toBe('done');
  const summary = JSON.parse(lines[lines.length - 2]);
  expect(summary).toMatchObject({ settled: 50, terminated: 38, natural: 6 });
  expect(summary.naturalExitCodes).toEqual([0, 0, 0, 0, 0, 0]);
}, 30_000 * SLOWDOWN);
