/**
 * The optional per-ABI stack addon (uvscope_stack.node) through its test hooks, without the
 * watchdog: captures in a busy loop, after a native call, cancellation at worker teardown,
 * BUSY, and worker churn. Scenarios run in worker_threads (test/stack/fixtures/stack-worker.js) or
 * a child process, which load the compiled loader (lib/stack/load.js).
 * UVSCOPE_REQUIRE_STACK=1 (set by scripts/node-matrix.sh) makes a missing addon a failure;
 * otherwise the behaviour tests are skipped when no addon for this Node is built.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { loadStackAddon, type StackHookResult } from '../../src/stack/load';
import { SLOWDOWN } from '../helpers';

const LOAD = path.resolve(__dirname, '..', '..', 'lib', 'stack', 'load.js');
const FIXTURES = path.join(__dirname, 'fixtures');
const WORKER = path.join(FIXTURES, 'stack-worker.js');

const loaded = loadStackAddon();
const required = process.env.UVSCOPE_REQUIRE_STACK === '1';
const describeLoaded = loaded.ok || required ? describe : describe.skip;
if (!loaded.ok && !required) console.warn(`stack-addon tests skipped: ${loaded.reason}`);

(required ? test : test.skip)('the stack addon loads for this Node when required (UVSCOPE_REQUIRE_STACK=1)', () => {
  expect(loaded.ok ? loaded.path : loaded.reason).toMatch(/uvscope_stack/);
  expect(loaded.ok).toBe(true);
  if (loaded.ok) expect(loaded.addon.abi).toBe(Number(process.versions.modules));
});

test('loadStackAddon never throws, caches its answer, and takes UVSCOPE_STACK_ADDON first', () => {
  expect(loadStackAddon()).toBe(loaded);
  if (!loaded.ok) expect(loaded.reason).toMatch(/tried/);
  // The sanitizer run's instrumented build, when set, is the one loaded.
  if (process.env.UVSCOPE_STACK_ADDON && loaded.ok) expect(loaded.path).toBe(path.resolve(process.env.UVSCOPE_STACK_ADDON));
});

/** Runs one scenario of stack-worker.js; resolves with its first message. */
function runWorker<T>(workerData: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { load: LOAD, ...workerData } });
    worker.once('message', (message: T) => {
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before reporting`)));
  });
}

/** Line (1-based) and column of the `for` on the line marked LOOP-LINE in the worker fixture. */
function loopLine(): { line: number; column: number } {
  const lines = fs.readFileSync(WORKER, 'utf8').split('\n');
  const index = lines.findIndex((text) => text.includes('// LOOP-LINE'));
  return { line: index + 1, column: lines[index].indexOf('for') + 1 };
}

describeLoaded('stack addon', () => {
  const addon = loaded.ok ? loaded.addon : undefined!;

  test('provider() is an External and the addon reports its ABI and contract version', () => {
    expect(addon.abi).toBe(Number(process.versions.modules));
    expect(addon.providerVersion).toBe(4);
    const external = addon.provider();
    expect(typeof external).toBe('object');
    expect(Object.keys(external)).toEqual([]);
  });

  test('a capture while JavaScript busy-loops finds the looping function, innermost first, at its line and column', async () => {
    const result = await runWorker<StackHookResult>({ mode: 'busy', delayMs: 20 });
    expect(result.status).toBe('captured');
    expect(result.requests).toEqual(['queued']);
    expect(result.doneCalls).toBe(1);
    const [top, caller] = result.frames;
    expect(top).toEqual({ functionName: 'spinUntilCaptured', url: WORKER, ...loopLine() });
    expect(caller.functionName).toBe('busy');
    expect(caller.url).toBe(WORKER);
    expect(result.capturedAtNs).toBeGreaterThan(result.requestedAtNs);
  });

  test('a request queued during a native call is captured only after the call returns; a second request meanwhile is BUSY', async () => {
    const { returnedAtNs, result } = await runWorker<{ returnedAtNs: bigint; result: StackHookResult }>({ mode: 'blocked' });
    expect(returnedAtNs).toBeGreaterThan(0n);
    expect(result.requests).toEqual(['queued', 'busy']);
    expect(result.status).toBe('captured');
    expect(result.doneCalls).toBe(1);
    expect(result.requestedAtNs).toBeLessThan(returnedAtNs);
    expect(result.capturedAtNs).toBeGreaterThanOrEqual(returnedAtNs);
    expect(result.frames[0].functionName).toBe('spinUntilCaptured');
  });

  test('a request arriving during crypto.pbkdf2Sync waits for it to finish', async () => {
    // About 300 ms of PBKDF2 (measured here), requested 20 ms in: the request lands in the call.
    const crypto = await import('node:crypto');
    const probeStart = process.hrtime.bigint();
    crypto.pbkdf2Sync('password', 'salt', 20000, 32, 'sha256');
    const perIteration = Number(process.hrtime.bigint() - probeStart) / 20000;
    const iterations = Math.max(20000, Math.round(300e6 / perIteration));
    const { startNs, endNs, result } = await runWorker<{ startNs: bigint; endNs: bigint; result: StackHookResult }>({
      mode: 'pbkdf2',
      delayMs: 20,
      iterations,
    });
    expect(result.status).toBe('captured');
    // The precondition, checked rather than assumed: the request came in the first half.
    expect(result.requestedAtNs).toBeGreaterThan(startNs);
    expect(result.requestedAtNs - startNs).toBeLessThan((endNs - startNs) / 2n);
    // Taken at the end of the call (in its JavaScript wrapper after the native job, or after
    // it): within the last tenth of the time the call still ran after the request.
    expect(endNs - result.capturedAtNs).toBeLessThan((endNs - result.requestedAtNs) / 10n);
  });

  test('BUSY: a second request while one is pending is refused, and the first is captured once', () => {
    addon._requestNow(8, 2);
    let result: StackHookResult | undefined;
    // The interrupt runs at this loop's back edge.
    for (let i = 0; result === undefined; i++) result = addon._takeResult();
    expect(result.requests).toEqual(['queued', 'busy']);
    expect(result.status).toBe('captured');
    expect(result.doneCalls).toBe(1);
    expect(result.frames.length).toBeGreaterThan(0);
    expect(result.frames.length).toBeLessThanOrEqual(8);
  });

  test('a request pending when its worker is terminated is CANCELLED exactly once, without a crash', async () => {
    for (let round = 0; round < 3; round++) {
      const before = addon._counters();
      const worker = new Worker(WORKER, { workerData: { load: LOAD, mode: 'cancel' } });
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      await new Promise((resolve) => worker.once('message', resolve));
      // The worker is inside the native _blockUntilQueued once `blocking` counts it.
      while (addon._counters().blocking === before.blocking) await new Promise((resolve) => setImmediate(resolve));
      // Terminate first, then let the request come: V8 handles the termination before the
      // interrupt, so the request is still queued when the worker's environment is torn down.
      const terminated = worker.terminate();
      addon._openGate();
      await terminated;
      await exited;
      const after = addon._counters();
      expect(after.queued - before.queued).toBe(1);
      expect(after.cancelled - before.cancelled).toBe(1);
      expect(after.captured - before.captured).toBe(0);
    }
  });

  test('100 workers created, requested and terminated in a loop: no crash, every queued request done exactly once', async () => {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'stack-churn.js'), LOAD, '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const counters = JSON.parse(stdout) as Record<string, number>;
    expect(counters.queued).toBeGreaterThan(0);
    expect(counters.queued).toBe(counters.captured + counters.cancelled);
    expect(counters.queued + counters.gone + counters.busy).toBeLessThanOrEqual(100);
  }, 120000 * SLOWDOWN);
});
