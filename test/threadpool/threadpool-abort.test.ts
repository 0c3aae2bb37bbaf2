/**
 * Abort and settlement: a job settles exactly once even when user code that uvscope calls
 * while settling it aborts it again (a job-channel subscriber; in a child process, since the
 * failure this guards against was a segfault), the promise says what was done to the caller's
 * memory (an abort after the work resolves; an in-place cipher job is not stopped midway), and
 * views of element kinds node-addon-api does not size (Node 24's Float16Array) are read whole.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';

import { ThreadPool } from '../../src';
import { native } from '../../src/native';
import { rejection, SLOWDOWN, thrown } from '../helpers';

const KEY = crypto.randomBytes(32);
const IV = crypto.randomBytes(16);
const ctr = (data: Uint8Array) => {
  const cipher = crypto.createCipheriv('aes-256-ctr', KEY, IV);
  return Buffer.concat([cipher.update(data), cipher.final()]);
};

/** Spins the loop thread (no event loop turn) until `done()` holds; `done` must call into C++ each time. */
function spinUntil(done: () => boolean, what: string): void {
  const deadline = Date.now() + 10_000 * SLOWDOWN;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('settling exactly once when user code re-enters', () => {
  test("a job-channel subscriber that aborts the reported job's own signal settles nothing twice", () => {
    const child = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', 'settle-reentry.js')], {
      encoding: 'utf8',
      timeout: 30_000 * SLOWDOWN,
    });
    expect({ signal: child.signal, status: child.status, stderr: child.stderr }).toEqual({ signal: null, status: 0, stderr: '' });
    const result = JSON.parse(child.stdout);
    const byName = Object.fromEntries(result.settled.map((entry: { name: string }) => [entry.name, entry]));
    expect(result.settled).toHaveLength(4); // each promise once
    expect(byName.completed).toEqual({
      name: 'completed',
      outcome: 'resolved',
      hex: crypto.createHash('sha256').update('completed').digest('hex'),
    });
    // Waiting in the pool's own FIFO when the first report aborted them: they never ran.
    for (const name of ['queued-1', 'queued-2']) expect(byName[name]).toMatchObject({ outcome: 'rejected', code: 'ABORT_ERR' });
    expect(byName.failed).toMatchObject({ outcome: 'rejected', code: 'ENOENT' });
    expect(result).toMatchObject({ inFlight: 0, completed: 1, failed: 1, cancelled: 2 });
  });
});

describe('what an abort means for the work and the output', () => {
  test('an abort that arrives after the last chunk was processed resolves with the result', async () => {
    const pool = new ThreadPool();
    const plaintext = crypto.randomBytes(256 * 1024);
    const output = Buffer.alloc(plaintext.length, 0xa5);
    const untouchedTail = Buffer.alloc(16, 0xa5);
    const controller = new AbortController();
    const job = pool.encrypt('aes-256-ctr', KEY, IV, plaintext, { signal: controller.signal, output });
    // The last 16 bytes are written by the last chunk, after the kernel's last abort check.
    spinUntil(() => !output.subarray(-16).equals(untouchedTail), 'the last chunk');
    controller.abort();
    const { ciphertext } = await job;
    expect(ciphertext.equals(ctr(plaintext))).toBe(true);
    expect(output.equals(ctr(plaintext))).toBe(true);
    expect(pool.stats()).toMatchObject({ completed: 1, cancelled: 0 });
  });

  test('an in-place job aborted while running transforms all of its input and resolves', async () => {
    const pool = new ThreadPool();
    const plaintext = crypto.randomBytes(16 * 1024 * 1024);
    const data = Buffer.from(plaintext);
    const controller = new AbortController();
    const job = pool.encrypt('aes-256-ctr', KEY, IV, data, { signal: controller.signal, output: data, zeroCopy: true });
    spinUntil(() => pool.stats().running === 1 || !data.subarray(-16).equals(plaintext.subarray(-16)), 'the job to start');
    controller.abort();
    const { ciphertext } = await job;
    expect(data.equals(ctr(plaintext))).toBe(true);
    expect(ciphertext.buffer).toBe(data.buffer);
  });

  test('an in-place job aborted while queued rejects and leaves its bytes untouched', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1 });
    const first = pool.sleep(20);
    const plaintext = crypto.randomBytes(4096);
    const data = Buffer.from(plaintext);
    const controller = new AbortController();
    const job = pool.encrypt('aes-256-ctr', KEY, IV, data, { signal: controller.signal, output: data, zeroCopy: true });
    controller.abort();
    expect((await rejection(job)).code).toBe('ABORT_ERR');
    expect(data.equals(plaintext)).toBe(true);
    await first;
  });

  test('a job with a separate output aborted midway rejects, its input untouched', async () => {
    const pool = new ThreadPool();
    const plaintext = crypto.randomBytes(64 * 1024 * 1024);
    const input = Buffer.from(plaintext);
    const output = Buffer.alloc(input.length);
    const controller = new AbortController();
    const job = pool.encrypt('aes-256-ctr', KEY, IV, input, { signal: controller.signal, output, zeroCopy: true });
    spinUntil(() => pool.stats().running === 1, 'the job to start');
    controller.abort();
    const outcome = await job.then(
      () => 'resolved',
      (error: Error & { code?: string }) => error.code,
    );
    // Stopped at a chunk boundary, or (a very fast machine) already past the last one.
    if (outcome === 'resolved') expect(output.equals(ctr(plaintext))).toBe(true);
    else expect(outcome).toBe('ABORT_ERR');
    expect(input.equals(plaintext)).toBe(true);
  });
});

describe('views of every element kind are read whole', () => {
  const hasFloat16 = typeof (globalThis as { Float16Array?: unknown }).Float16Array === 'function';
  (hasFloat16 ? test : test.skip)('Float16Array (Node 24+): hash and encrypt read all of its bytes', async () => {
    const Float16 = (globalThis as unknown as { Float16Array: new (values: number[]) => ArrayBufferView }).Float16Array;
    const view = new Float16([1.5, 2, 3, 4, 65504, -0.25, 7, 8]);
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
    expect(bytes.length).toBe(16);
    const pool = new ThreadPool();
    const digest = await pool.hash('sha256', view);
    expect(Buffer.from(digest).toString('hex')).toBe(crypto.createHash('sha256').update(bytes).digest('hex'));
    const { ciphertext } = await pool.encrypt('aes-256-ctr', KEY, IV, view);
    expect(ciphertext.equals(ctr(bytes))).toBe(true);
  });

  test('native stats out-parameters of the wrong kind are refused before they are written', () => {
    const queue = new native.NativeWorkQueue(0, 0);
    const error = thrown(() => queue.stats(new Uint8Array(10_000) as unknown as Float64Array));
    expect(error.name).toBe('TypeError');
    expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
  });
});
