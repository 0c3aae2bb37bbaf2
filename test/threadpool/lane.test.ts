/**
 * Lanes (src/threadpool/lane.ts): at most `concurrency` of a lane's jobs in libuv's queue or
 * running, the rest waiting in the lane in call order; ERR_UVSCOPE_LANE_FULL beyond
 * `maxQueued`; arguments checked at the call as the direct calls check them, and what a waiting
 * job reads fixed at the call as a direct call fixes it; abort of waiting jobs; statistics;
 * settling exactly once when user code re-enters from every place a lane calls it (abort
 * listeners, promise reactions, diagnostics_channel subscribers). Jobs are held with long
 * `sleep` jobs released by their signal, so nothing depends on timing. Pool sizes 1 and 4 and
 * worker teardown run in child processes (fixtures/lane-child.js).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import path from 'node:path';

import { createLane, JOB_CHANNEL, JobRecord, Lane, ThreadPool, threadpool } from '../../src';
import { JOB_SUBMIT_CHANNEL } from '../../src/channels';
import * as inputs from '../../src/threadpool/inputs';
import { rejection, SLOWDOWN, thrown } from '../helpers';

const HOLD_MS = 600_000;

/** `count` sleep jobs that hold the lane's slots until released (aborted). */
function hold(lane: Lane, count: number) {
  const controllers = Array.from({ length: count }, () => new AbortController());
  const settled = controllers.map((controller) =>
    lane.sleep(HOLD_MS, { signal: controller.signal }).then(
      () => 'resolved',
      (error: { code?: string }) => error.code,
    ),
  );
  return {
    release: (i = 0) => {
      controllers[i].abort();
      return settled[i];
    },
    releaseAll: () => {
      for (const controller of controllers) controller.abort();
      return Promise.all(settled);
    },
  };
}

/** Collects JOB_CHANNEL records while subscribed. */
function collectJobs() {
  const records: JobRecord[] = [];
  const onMessage = (message: unknown) => records.push(message as JobRecord);
  diagnosticsChannel.subscribe(JOB_CHANNEL, onMessage);
  return { records, stop: () => diagnosticsChannel.unsubscribe(JOB_CHANNEL, onMessage) };
}

/** Waits (a loop turn at a time) until `done()` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000 * SLOWDOWN;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const sha256 = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest();

describe('options', () => {
  test.each([
    [undefined, 'options', 'ERR_INVALID_ARG_TYPE', TypeError],
    [null, 'options', 'ERR_INVALID_ARG_TYPE', TypeError],
    [{}, 'options.concurrency', 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ concurrency: '2' }, 'options.concurrency', 'ERR_INVALID_ARG_TYPE', TypeError],
    [{ concurrency: 0 }, 'options.concurrency', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: 1.5 }, 'options.concurrency', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: Infinity }, 'options.concurrency', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: NaN }, 'options.concurrency', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: 2, maxQueued: -1 }, 'options.maxQueued', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: 2, maxQueued: 0.5 }, 'options.maxQueued', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: 2, maxQueued: -Infinity }, 'options.maxQueued', 'ERR_OUT_OF_RANGE', RangeError],
    [{ concurrency: 2, maxQueued: '10' }, 'options.maxQueued', 'ERR_INVALID_ARG_TYPE', TypeError],
  ])('createLane(%p) throws naming %s', (options, name, code, kind) => {
    const error = thrown(() => createLane(options as never));
    expect(error).toBeInstanceOf(kind);
    expect(error.code).toBe(code);
    expect(error.message).toContain(`"${name}"`);
  });

  test('defaults and accepted values: maxQueued Infinity by default, 0 and Infinity allowed', () => {
    expect(createLane({ concurrency: 3 }).stats()).toMatchObject({ concurrency: 3, maxQueued: Infinity, running: 0, queued: 0 });
    expect(threadpool.createLane({ concurrency: 1, maxQueued: 0 }).maxQueued).toBe(0);
    expect(new ThreadPool().createLane({ concurrency: 5000, maxQueued: Infinity }).concurrency).toBe(5000);
  });
});

describe('admission', () => {
  test('at most `concurrency` jobs reach the pool; the others wait in the lane, not in libuv', async () => {
    const pool = new ThreadPool();
    const lane = pool.createLane({ concurrency: 2 });
    const held = hold(lane, 2);
    const waiting = [lane.noop(), lane.hash('sha256', 'a'), lane.pbkdf2('pw', 'salt', 1, 16, 'sha256')];
    await until(() => pool.stats().running === 2, 'both held jobs to run');
    expect(lane.stats()).toMatchObject({ running: 2, queued: 3, submitted: 5 });
    // The pool under the lane has only the two: nothing of the lane's waits in libuv's queue.
    expect(pool.stats()).toMatchObject({ inFlight: 2, queued: 0, submitted: 2 });
    await held.release(0);
    // One slot: the first waiting job ran (and settled), then the next, and so on.
    await until(() => lane.stats().queued === 0 && lane.stats().running === 1, 'the waiting jobs to run');
    await Promise.all(waiting);
    expect(pool.stats()).toMatchObject({ inFlight: 1, submitted: 5 });
    await held.releaseAll();
    expect(lane.stats()).toMatchObject({ running: 0, queued: 0, submitted: 5, completed: 3, cancelled: 2, failed: 0, rejected: 0 });
  });

  test('pool-side: never more than `concurrency` of the lane in flight, by the job records and by stats()', async () => {
    const pool = new ThreadPool();
    const lane = pool.createLane({ concurrency: 2 });
    const jobs = collectJobs();
    let maxInFlight = 0;
    const observe = () => {
      maxInFlight = Math.max(maxInFlight, pool.stats().inFlight);
      expect(lane.stats().running).toBeLessThanOrEqual(2);
    };
    // Observed inside every settlement (a job channel subscriber runs while the pool settles).
    diagnosticsChannel.subscribe(JOB_CHANNEL, observe);
    try {
      const all = [];
      for (let i = 0; i < 24; i++) {
        all.push((i % 2 ? lane.sleep(2) : lane.hash('sha256', Buffer.alloc(i * 1000))).then(observe));
        observe();
      }
      await Promise.all(all);
    } finally {
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, observe);
      jobs.stop();
    }
    expect(maxInFlight).toBe(2);
    expect(pool.stats().maxConcurrencySeen).toBeLessThanOrEqual(2);
    // From the records' own times: at no instant were more than two jobs between submission to
    // libuv (queuedAt) and settlement.
    const events = jobs.records.flatMap((r) => [[r.queuedAt, 1] as const, [r.settledAt, -1] as const]);
    events.sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
    let open = 0;
    let most = 0;
    for (const [, step] of events) most = Math.max(most, (open += step));
    expect(jobs.records).toHaveLength(24);
    expect(most).toBe(2);
    expect(lane.stats()).toMatchObject({ submitted: 24, completed: 24, running: 0, queued: 0 });
  });

  test('the same burst directly on a pool: more than two at once (the check above can fail)', async () => {
    const pool = new ThreadPool();
    // 20 ms sleeps: long enough that the pool's threads overlap even when they wake late (2 ms failed once under a parallel build).
    await Promise.all(Array.from({ length: 8 }, () => pool.sleep(20)));
    expect(pool.stats().maxConcurrencySeen).toBeGreaterThan(2);
  });

  test('waiting jobs start in call order, whatever their kind', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const order: string[] = [];
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(12);
    // A Hasher's step reaches the lane a promise reaction after the call: first, then.
    const hasher = lane.createHasher('sha256');
    const calls: [string, () => Promise<unknown>][] = [['hasher', () => hasher.update('x')]];
    const first = calls[0][1]().then(() => order.push('hasher'));
    await until(() => lane.stats().queued === 1, 'the hasher step to wait');
    calls.push(
      ['hash', () => lane.hash('sha256', 'x')],
      ['noop', () => lane.noop()],
      ['hmac', () => lane.hmac('sha256', key, 'x')],
      ['pbkdf2', () => lane.pbkdf2('pw', 'salt', 10, 16, 'sha256')],
      ['encrypt', () => lane.encrypt('aes-256-gcm', key, iv, 'x')],
      ['hkdf', () => lane.hkdf('sha256', key, 'salt', 'info', 16)],
      ['scrypt', () => lane.scrypt('pw', 'salt', 16, { N: 1024 })],
      ['hashMany', () => lane.hashMany('sha256', ['a', 'b'], { jobs: 1 })],
      ['hashFile', () => lane.hashFile(__filename, 'sha256')],
      ['spin', () => lane.spin(0)],
    );
    const done = [first, ...calls.slice(1).map(([name, call]) => call().then(() => order.push(name)))];
    expect(lane.stats().queued).toBe(calls.length);
    await held.release();
    await Promise.all(done);
    expect(order).toEqual(calls.map(([name]) => name));
  });

  test('with two slots, jobs go to the pool in call order (records ordered by queuedAt)', async () => {
    const lane = createLane({ concurrency: 2 });
    const held = hold(lane, 2);
    const jobs = collectJobs();
    const sizes = [5, 1, 4, 2, 3, 9, 7, 8, 6];
    const all = sizes.map((size) => lane.hash('sha256', Buffer.alloc(size * 100)));
    await held.release(1);
    await held.release(0);
    await Promise.all(all);
    jobs.stop();
    const hashed = jobs.records.filter((r) => r.kernel === 'hash').sort((a, b) => (a.queuedAt < b.queuedAt ? -1 : 1));
    expect(hashed.map((r) => r.bytes / 100)).toEqual(sizes);
  });

  test('results are those of node:crypto, whether a job ran at once or waited', async () => {
    const lane = createLane({ concurrency: 1 });
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    const run = () =>
      Promise.all([
        lane.hash('sha256', 'data'),
        lane.hmac('sha512', key, 'data'),
        lane.pbkdf2('pw', 'salt', 100, 32, 'sha256'),
        lane.scrypt('pw', 'salt', 32, { N: 1024 }),
        lane.hkdf('sha256', key, 'salt', 'info', 32).then((ab) => Buffer.from(ab)),
        lane.encrypt('aes-256-cbc', key, iv, 'plaintext').then(({ ciphertext }) => ciphertext),
        lane.hashMany('sha256', ['a', 'b', 'c']).then((digests) => Buffer.concat(digests)),
        lane.hashFile(__filename, 'sha256'),
      ]);
    const cbc = crypto.createCipheriv('aes-256-cbc', key, iv);
    const expected = [
      sha256('data'),
      crypto.createHmac('sha512', key).update('data').digest(),
      crypto.pbkdf2Sync('pw', 'salt', 100, 32, 'sha256'),
      crypto.scryptSync('pw', 'salt', 32, { N: 1024 }),
      Buffer.from(crypto.hkdfSync('sha256', key, 'salt', 'info', 32)),
      Buffer.concat([cbc.update('plaintext'), cbc.final()]),
      Buffer.concat(['a', 'b', 'c'].map((s) => sha256(s))),
      sha256(fs.readFileSync(__filename)),
    ];
    expect(await run()).toEqual(expected); // the first ran at once, the others waited
    const held = hold(lane, 1);
    const waited = run();
    expect(lane.stats().queued).toBeGreaterThanOrEqual(7);
    await held.release();
    expect(await waited).toEqual(expected);
    const decrypted = await lane.decrypt('aes-256-cbc', key, iv, expected[5]);
    expect(decrypted.toString()).toBe('plaintext');
  });
});

describe('maxQueued and ERR_UVSCOPE_LANE_FULL', () => {
  test('beyond maxQueued a call rejects at once (never throws), and is counted', async () => {
    const lane = createLane({ concurrency: 1, maxQueued: 2 });
    const held = hold(lane, 1);
    const waiting = [lane.noop(), lane.hash('sha256', 'b')];
    let full!: Promise<unknown>;
    expect(() => (full = lane.pbkdf2('pw', 'salt', 1, 16, 'sha256'))).not.toThrow();
    const error = await rejection(full);
    expect(error).toMatchObject({ code: 'ERR_UVSCOPE_LANE_FULL', concurrency: 1, maxQueued: 2 });
    expect(error.message).toMatch(/concurrency 1.*maxQueued 2/);
    expect(lane.stats()).toMatchObject({ running: 1, queued: 2, submitted: 3, rejected: 1 });
    // Room again once one leaves.
    await held.release();
    await Promise.all(waiting);
    expect((await lane.hash('sha256', 'c')).equals(sha256('c'))).toBe(true);
    expect(lane.stats()).toMatchObject({ submitted: 4, completed: 3, cancelled: 1, rejected: 1 });
  });

  test('maxQueued 0: a job runs only when a slot is free', async () => {
    const lane = createLane({ concurrency: 1, maxQueued: 0 });
    const held = hold(lane, 1);
    expect((await rejection(lane.noop())).code).toBe('ERR_UVSCOPE_LANE_FULL');
    await held.release();
    await lane.noop();
    expect(lane.stats()).toMatchObject({ submitted: 2, rejected: 1, completed: 1, cancelled: 1 });
  });

  test('a hashMany whose parts do not all fit rejects with ERR_UVSCOPE_LANE_FULL once every part settled', async () => {
    const pool = new ThreadPool();
    const lane = pool.createLane({ concurrency: 1, maxQueued: 2 });
    const held = hold(lane, 1);
    const many = lane.hashMany('sha256', ['a', 'b', 'c', 'd'], { jobs: 4 });
    expect((await rejection(many)).code).toBe('ERR_UVSCOPE_LANE_FULL');
    // The two parts that waited were removed (cancelled), none reached the pool.
    expect(lane.stats()).toMatchObject({ queued: 0, running: 1, rejected: 2, cancelled: 2 });
    expect(pool.stats().submitted).toBe(1);
    await held.release();
  });
});

describe('validation at the call, also for jobs that will wait', () => {
  const key = crypto.randomBytes(32);
  const cases: [string, (target: Lane | ThreadPool) => unknown][] = [
    ['hash: unknown digest', (t) => t.hash('nope', 'x')],
    ['hash: data type', (t) => t.hash('sha256', 42 as never)],
    ['hash: zeroCopy type', (t) => t.hash('sha256', 'x', { zeroCopy: 1 as never })],
    ['hmac: XOF digest', (t) => t.hmac('shake256', key, 'x')],
    ['pbkdf2: iterations', (t) => t.pbkdf2('pw', 'salt', 0, 16, 'sha256')],
    ['scrypt: maxmem', (t) => t.scrypt('pw', 'salt', 16, { N: 2 ** 20, maxmem: 1024 })],
    ['hkdf: keylen too long', (t) => t.hkdf('sha256', key, 'salt', 'info', 255 * 32 + 1)],
    ['encrypt: key length', (t) => t.encrypt('aes-256-gcm', key.subarray(0, 7), Buffer.alloc(12), 'x')],
    ['decrypt: missing authTag', (t) => t.decrypt('aes-256-gcm', key, Buffer.alloc(12), 'x')],
    ['hashFile: path with NUL', (t) => t.hashFile('a\0b', 'sha256')],
    ['sleep: negative ms', (t) => t.sleep(-1)],
    ['signal type', (t) => t.noop({ signal: 'no' as never })],
    ['hashMany: jobs', (t) => t.hashMany('sha256', ['a'], { jobs: 0 })],
    ['argon2: algorithm', (t) => t.argon2('argon3' as never, {} as never)],
  ];

  test.each(cases)('%s: the same synchronous error as the direct call, while the lane is full', async (_name, call) => {
    const lane = createLane({ concurrency: 1, maxQueued: 0 });
    const held = hold(lane, 1);
    const direct = thrown(() => call(new ThreadPool()));
    const fromLane = thrown(() => call(lane));
    expect({ name: fromLane.name, code: fromLane.code, message: fromLane.message }).toEqual({
      name: direct.name,
      code: direct.code,
      message: direct.message,
    });
    expect(Object.getPrototypeOf(fromLane)).toBe(Object.getPrototypeOf(direct));
    expect(lane.stats()).toMatchObject({ submitted: 1, rejected: 0, queued: 0 });
    await held.release();
  });
});

describe('what a waiting job reads', () => {
  test('inputs copied at the call (small data, keys, salts, paths) are read as they were at the call', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(12);
    const data = Buffer.from('small data, copied at the call');
    const keyUsed = Buffer.from(key);
    const ivUsed = Buffer.from(iv);
    const path = Buffer.from(__filename);
    const salt = Buffer.from('salty');
    const jobs = Promise.all([
      lane.hash('sha256', data),
      lane.hmac('sha256', key, data),
      lane.encrypt('aes-256-gcm', key, iv, data, { aad: salt }),
      lane.hkdf('sha256', key, salt, 'info', 32),
      // A string key: the call encodes it into bytes of its own and wipes them once submitted.
      lane.hkdf('sha256', 'string ikm', salt, 'info', 32),
      lane.pbkdf2(key, salt, 10, 32, 'sha256'),
      lane.hashFile(path, 'sha256'),
    ]);
    const original = Buffer.from(data);
    const originalSalt = Buffer.from(salt);
    data.fill(1);
    key.fill(2);
    salt.fill(3);
    iv.fill(4);
    path.write('/nonexistent/');
    await held.release();
    const [digest, mac, sealed, okm, okmString, derived, fileDigest] = await jobs;
    expect(digest.equals(sha256(original))).toBe(true);
    expect(mac.equals(crypto.createHmac('sha256', keyUsed).update(original).digest())).toBe(true);
    const gcm = crypto.createCipheriv('aes-256-gcm', keyUsed, ivUsed).setAAD(originalSalt);
    expect(sealed.ciphertext.equals(Buffer.concat([gcm.update(original), gcm.final()]))).toBe(true);
    expect(sealed.authTag!.equals(gcm.getAuthTag())).toBe(true);
    expect(Buffer.from(okm).equals(Buffer.from(crypto.hkdfSync('sha256', keyUsed, originalSalt, 'info', 32)))).toBe(true);
    expect(Buffer.from(okmString).equals(Buffer.from(crypto.hkdfSync('sha256', 'string ikm', originalSalt, 'info', 32)))).toBe(true);
    expect(derived.equals(crypto.pbkdf2Sync(keyUsed, originalSalt, 10, 32, 'sha256'))).toBe(true);
    expect(fileDigest.equals(sha256(fs.readFileSync(__filename)))).toBe(true);
  });

  test('an encryption that waited used the key, iv, aad and plaintext of the call', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const key = crypto.randomBytes(32);
    const iv = crypto.randomBytes(12);
    const aad = Buffer.from('header');
    const plaintext = Buffer.from('attack at dawn');
    const [k, i, a, p] = [key, iv, aad, plaintext].map((b) => Buffer.from(b));
    const sealed = lane.encrypt('aes-256-gcm', key, iv, plaintext, { aad });
    for (const b of [key, iv, aad, plaintext]) b.fill(0);
    await held.release();
    const { ciphertext, authTag } = await sealed;
    const gcm = crypto.createCipheriv('aes-256-gcm', k, i).setAAD(a);
    expect(ciphertext.equals(Buffer.concat([gcm.update(p), gcm.final()]))).toBe(true);
    expect(authTag!.equals(gcm.getAuthTag())).toBe(true);
  });

  test('an input read in place (zeroCopy: true) is read when the job runs, as documented', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const data = Buffer.from('in place');
    const digest = lane.hash('sha256', data, { zeroCopy: true });
    data.write('changed!');
    await held.release();
    expect((await digest).equals(sha256('changed!'))).toBe(true);
  });

  test('an input read in place and detached while waiting rejects ERR_INVALID_ARG_VALUE (not read after free)', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const data = new Uint8Array(64 * 1024);
    const digest = lane.hash('sha256', data);
    const output = new Uint8Array(64);
    const sealed = lane.encrypt('aes-256-ctr', crypto.randomBytes(32), crypto.randomBytes(16), 'x', { output });
    structuredClone(data.buffer, { transfer: [data.buffer] });
    structuredClone(output.buffer, { transfer: [output.buffer] });
    await held.release();
    const error = await rejection(digest);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'data' must not be a detached buffer") });
    expect(await rejection(sealed)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining("'options.output'") });
    expect(lane.stats()).toMatchObject({ failed: 2, running: 0 });
  });

  test("the lane's private copies of secrets are zeroed once the pool has its own, or when the job leaves", async () => {
    const copies: { copy: Uint8Array; was: Buffer }[] = [];
    const spy = jest.spyOn(inputs, 'copyOf').mockImplementation((view: ArrayBufferView) => {
      const copy = new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice();
      copies.push({ copy, was: Buffer.from(copy) });
      return copy;
    });
    try {
      const lane = createLane({ concurrency: 1 });
      const held = hold(lane, 1);
      const key = crypto.randomBytes(32);
      const aborted = new AbortController();
      const okm = lane.hkdf('sha256', key, 'salt', 'info', 32);
      const sealed = lane.encrypt('aes-256-ctr', key, Buffer.alloc(16), 'data');
      const dropped = lane.hkdf('sha256', key, 'salt', 'info', 32, { signal: aborted.signal });
      const keyCopies = () => copies.filter(({ was }) => was.equals(key));
      expect(keyCopies()).toHaveLength(3);
      expect(keyCopies().every(({ copy }) => Buffer.from(copy).equals(key))).toBe(true);
      aborted.abort();
      expect((await rejection(dropped)).name).toBe('AbortError');
      await held.release();
      await Promise.all([okm, sealed]);
      expect(keyCopies().map(({ copy }) => copy.every((byte) => byte === 0))).toEqual([true, true, true]);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('abort', () => {
  test('aborting a waiting job removes it (it never reaches the pool) and rejects it as an aborted direct job', async () => {
    const pool = new ThreadPool();
    const lane = pool.createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const controller = new AbortController();
    const waiting = lane.hash('sha256', 'x', { signal: controller.signal });
    const after = lane.noop();
    const reason = new Error('client went away');
    controller.abort(reason);
    const error = await rejection(waiting);
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect(lane.stats()).toMatchObject({ queued: 1, cancelled: 1 });
    await held.release();
    await after;
    expect(pool.stats().submitted).toBe(2); // the held job and `after`: never the aborted one
  });

  test('a job queued in libuv aborted by its signal: same AbortError shape as through a lane', async () => {
    const direct = new ThreadPool({ maxConcurrency: 1 });
    const holder = new AbortController();
    const held = direct.sleep(HOLD_MS, { signal: holder.signal }).catch(() => undefined);
    const controller = new AbortController();
    const queued = direct.noop({ signal: controller.signal });
    controller.abort('why');
    const fromPool = await rejection(queued);
    const lane = createLane({ concurrency: 1 });
    const laneHeld = hold(lane, 1);
    const other = new AbortController();
    const waiting = lane.noop({ signal: other.signal });
    other.abort('why');
    const fromLane = await rejection(waiting);
    expect([fromLane.name, fromLane.code, fromLane.message, fromLane.cause]).toEqual([fromPool.name, fromPool.code, fromPool.message, fromPool.cause]);
    holder.abort();
    await held;
    await laneHeld.release();
  });

  test('an already-aborted signal rejects at once; nothing is submitted', async () => {
    const lane = createLane({ concurrency: 1 });
    const error = await rejection(lane.hash('sha256', 'x', { signal: AbortSignal.abort('early') }));
    expect(error).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: 'early' });
    expect(lane.stats()).toMatchObject({ submitted: 0, running: 0, queued: 0 });
  });

  test('aborting a dispatched job goes the normal way: a running sleep stops and rejects', async () => {
    const pool = new ThreadPool();
    const lane = pool.createLane({ concurrency: 1 });
    const controller = new AbortController();
    const running = lane.sleep(HOLD_MS, { signal: controller.signal });
    const next = lane.noop();
    await until(() => pool.stats().running === 1, 'the sleep to run');
    controller.abort();
    expect((await rejection(running)).code).toBe('ABORT_ERR');
    await next;
    expect(lane.stats()).toMatchObject({ cancelled: 1, completed: 1 });
    expect(pool.stats()).toMatchObject({ cancelled: 1, completed: 1 });
  });

  test('aborting a hashMany removes its waiting parts', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const controller = new AbortController();
    const many = lane.hashMany('sha256', ['a', 'b', 'c'], { jobs: 3, signal: controller.signal });
    expect(lane.stats().queued).toBe(3);
    controller.abort();
    expect((await rejection(many)).code).toBe('ABORT_ERR');
    expect(lane.stats()).toMatchObject({ queued: 0, cancelled: 3 });
    await held.release();
  });
});

describe('statistics', () => {
  test('laneWait: 0 for jobs that went to the pool at once, the time waited for the others; resetStats clears counts only', async () => {
    const lane = createLane({ concurrency: 1 });
    await lane.noop();
    expect(lane.stats().laneWait).toMatchObject({ count: 1, max: 0 });
    const held = hold(lane, 1);
    const waited = lane.noop();
    const t0 = process.hrtime.bigint();
    await until(() => Number(process.hrtime.bigint() - t0) > 5e6, '5 ms');
    await held.release();
    await waited;
    const { laneWait } = lane.stats();
    expect(laneWait.count).toBe(3);
    expect(laneWait.max).toBeGreaterThanOrEqual(5e6);
    const again = hold(lane, 1);
    const queued = lane.noop();
    lane.resetStats();
    expect(lane.stats()).toMatchObject({ running: 1, queued: 1, submitted: 0, completed: 0, cancelled: 0, laneWait: { count: 0 } });
    await again.release();
    await queued;
    expect(lane.stats()).toMatchObject({ submitted: 0, completed: 1, cancelled: 1, laneWait: { count: 1 } });
  });

  test("lane jobs are the pool's jobs: they count in the pool's stats and on the job channel", async () => {
    const jobs = collectJobs();
    const before = threadpool.stats().submitted;
    const lane = threadpool.createLane({ concurrency: 1 });
    await Promise.all([lane.hash('sha256', 'a'), lane.hash('sha256', 'b')]);
    jobs.stop();
    expect(threadpool.stats().submitted - before).toBe(2);
    expect(jobs.records.filter((r) => r.kernel === 'hash')).toHaveLength(2);
  });
});

describe('re-entrancy: every job settles exactly once', () => {
  /** Tracks settlements; throws if a promise's handlers ran twice (they cannot) or a job is lost. */
  function tracker() {
    const outcomes = new Map<string, string[]>();
    const track = (name: string, promise: Promise<unknown>) => {
      outcomes.set(name, []);
      return promise.then(
        () => void outcomes.get(name)!.push('resolved'),
        (error: { code?: string }) => void outcomes.get(name)!.push(error.code ?? 'error'),
      );
    };
    return { outcomes, track };
  }

  function settledOnce(outcomes: Map<string, string[]>) {
    for (const [name, list] of outcomes) expect([name, list.length]).toEqual([name, 1]);
  }

  function drained(lane: Lane) {
    const stats = lane.stats();
    expect({ running: stats.running, queued: stats.queued }).toEqual({ running: 0, queued: 0 });
    expect(stats.completed + stats.failed + stats.cancelled).toBe(stats.submitted);
  }

  test("an abort listener that submits into the same lane and aborts other waiting jobs", async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const { outcomes, track } = tracker();
    const a = new AbortController();
    const b = new AbortController();
    const spawned: Promise<unknown>[] = [];
    // Listening before the lane does: runs first, while the job is still waiting.
    a.signal.addEventListener('abort', () => {
      spawned.push(track('from-a', lane.hash('sha256', 'from a', { signal: b.signal })));
      b.abort();
      spawned.push(track('from-a-2', lane.noop()));
    });
    const all = [track('a', lane.noop({ signal: a.signal })), track('b', lane.noop({ signal: b.signal })), track('c', lane.noop())];
    a.abort();
    await held.release();
    await Promise.all([...all, ...spawned]);
    settledOnce(outcomes);
    expect(Object.fromEntries([...outcomes].map(([k, v]) => [k, v[0]]))).toEqual({
      a: 'ABORT_ERR',
      b: 'ABORT_ERR',
      c: 'resolved',
      'from-a': 'ABORT_ERR',
      'from-a-2': 'resolved',
    });
    drained(lane);
  });

  test('a .then of a job that submits into the lane and aborts jobs waiting and running: new jobs go behind the waiting ones', async () => {
    const lane = createLane({ concurrency: 2 });
    const { outcomes, track } = tracker();
    const controllers = Array.from({ length: 6 }, () => new AbortController());
    const spawned: Promise<unknown>[] = [];
    // Each hash job's input length names it in its JOB_CHANNEL record (bytes); its queuedAt is when
    // the lane let it onto the pool. Two slots: two jobs run at once and may finish in either
    // order, so the order checked is the order they were let in.
    const SPAWNED_BYTES = 10;
    const jobs = collectJobs();
    const first = lane.noop().then(() => {
      spawned.push(track('spawned', lane.hash('sha256', 'x'.repeat(SPAWNED_BYTES))));
      controllers[3].abort(); // waiting
      controllers[0].abort(); // running (a long sleep)
    });
    const all = [track('first', first)];
    all.push(track('sleep0', lane.sleep(HOLD_MS, { signal: controllers[0].signal })));
    for (let i = 1; i < 6; i++) all.push(track(`w${i}`, lane.hash('sha256', 'x'.repeat(i), { signal: controllers[i].signal })));
    try {
      await Promise.all(all);
      await Promise.all(spawned);
    } finally {
      jobs.stop();
    }
    settledOnce(outcomes);
    expect(outcomes.get('w3')).toEqual(['ABORT_ERR']);
    expect(outcomes.get('sleep0')).toEqual(['ABORT_ERR']);
    const name = (bytes: number) => (bytes === SPAWNED_BYTES ? 'spawned' : `w${bytes}`);
    const letIn = jobs.records
      .filter((r) => r.kernel === 'hash' && r.outcome === 'completed')
      .sort((a, b) => (a.queuedAt < b.queuedAt ? -1 : a.queuedAt > b.queuedAt ? 1 : 0))
      .map((r) => name(r.bytes));
    expect(letIn).toEqual(['w1', 'w2', 'w4', 'w5', 'spawned']);
    drained(lane);
  });

  test('a job channel subscriber (called while the pool settles a job) that submits, aborts waiting jobs and the running one', async () => {
    const lane = createLane({ concurrency: 1 });
    const { outcomes, track } = tracker();
    const controllers = Array.from({ length: 4 }, () => new AbortController());
    const spawned: Promise<unknown>[] = [];
    let calls = 0;
    const subscriber = () => {
      calls++;
      if (calls === 1) {
        spawned.push(track('spawned', lane.hash('sha256', 'spawned')));
        controllers[2].abort();
      } else if (calls === 2) {
        for (const controller of controllers) controller.abort();
      }
    };
    diagnosticsChannel.subscribe(JOB_CHANNEL, subscriber);
    try {
      const all = controllers.map((controller, i) => track(`j${i}`, lane.hash('sha256', `j${i}`, { signal: controller.signal })));
      await Promise.all(all);
      await Promise.all(spawned);
    } finally {
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, subscriber);
    }
    settledOnce(outcomes);
    expect(outcomes.get('j0')).toEqual(['resolved']);
    expect(outcomes.get('j1')![0]).toMatch(/resolved|ABORT_ERR/); // running when aborted: may have finished
    expect(outcomes.get('j2')).toEqual(['ABORT_ERR']);
    expect(outcomes.get('j3')).toEqual(['ABORT_ERR']);
    expect(outcomes.get('spawned')).toEqual(['resolved']);
    drained(lane);
  });

  test('a submit channel subscriber that aborts the job being submitted, which will wait', async () => {
    const lane = createLane({ concurrency: 1 });
    const held = hold(lane, 1);
    const { outcomes, track } = tracker();
    let current: AbortController | undefined;
    const subscriber = () => current?.abort();
    // The submit channel publishes only while the job channel has a subscriber.
    const noopSub = () => undefined;
    diagnosticsChannel.subscribe(JOB_CHANNEL, noopSub);
    diagnosticsChannel.subscribe(JOB_SUBMIT_CHANNEL, subscriber);
    try {
      current = new AbortController();
      const aborted = track('aborted', lane.noop({ signal: current.signal }));
      current = undefined;
      expect(lane.stats().queued).toBe(0);
      const fine = track('fine', lane.noop());
      await held.release();
      await Promise.all([aborted, fine]);
    } finally {
      diagnosticsChannel.unsubscribe(JOB_SUBMIT_CHANNEL, subscriber);
      diagnosticsChannel.unsubscribe(JOB_CHANNEL, noopSub);
    }
    settledOnce(outcomes);
    expect(outcomes.get('aborted')).toEqual(['ABORT_ERR']);
    expect(outcomes.get('fine')).toEqual(['resolved']);
    drained(lane);
  });

  test('random interleavings of submit, abort and re-entrant submits leave no job behind', async () => {
    // A small deterministic generator: the same sequence on every run.
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 5; round++) {
      const lane = createLane({ concurrency: 1 + (round % 3), maxQueued: 3 + round });
      const { outcomes, track } = tracker();
      const controllers: AbortController[] = [];
      const all: Promise<unknown>[] = [];
      let n = 0;
      const submit = (depth: number): void => {
        const controller = new AbortController();
        controllers.push(controller);
        const name = `r${round}-${n++}`;
        const kind = random();
        const job =
          kind < 0.3 ? lane.sleep(random() * 2, { signal: controller.signal }) : kind < 0.6 ? lane.hash('sha256', name, { signal: controller.signal }) : lane.noop({ signal: controller.signal });
        all.push(
          track(
            name,
            job.finally(() => {
              if (depth < 3 && random() < 0.5) submit(depth + 1);
              if (random() < 0.3) controllers[Math.floor(random() * controllers.length)].abort();
            }),
          ),
        );
        if (random() < 0.2) controller.signal.addEventListener('abort', () => depth < 3 && submit(depth + 1));
      };
      for (let i = 0; i < 30; i++) {
        submit(0);
        if (random() < 0.2) controllers[Math.floor(random() * controllers.length)].abort();
      }
      // Settlements may add jobs: wait until the set stops growing.
      for (let seen = -1; seen !== all.length; ) {
        seen = all.length;
        await Promise.all([...all]);
      }
      settledOnce(outcomes);
      drained(lane);
      const stats = lane.stats();
      expect(stats.submitted + stats.rejected).toBe(outcomes.size);
    }
  });
});

// --- child processes ------------------------------------------------------------------------

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const CHILD = path.join(__dirname, 'fixtures', 'lane-child.js');

function runChild(args: string[], poolSize: number): Promise<{ status: number | null; signal: string | null; stdout: string; stderr: string }> {
  const env = { ...process.env, UV_THREADPOOL_SIZE: String(poolSize) };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, LIB, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000 * SLOWDOWN);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

function resultOf(run: { status: number | null; signal: string | null; stdout: string; stderr: string }): Record<string, any> {
  expect({ status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
  const lines = run.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]);
}

describe('over pools of 1 and 4 threads (UV_THREADPOOL_SIZE in a child)', () => {
  test.each([
    [1, 1],
    [1, 2],
    [4, 2],
    [4, 4],
  ])('pool of %d, lane of concurrency %d: limits, and a job submitted after a flood waits behind at most the lane', async (poolSize, concurrency) => {
    const lane = resultOf(await runChild(['flood', 'lane', String(concurrency)], poolSize));
    expect(lane.poolSize).toBe(poolSize);
    expect(lane.maxInFlight).toBe(concurrency);
    expect(lane.maxRunningSeen).toBeLessThanOrEqual(Math.min(concurrency, poolSize));
    expect(lane.lane).toMatchObject({ submitted: 40, completed: 40, running: 0, queued: 0 });
    // Pool jobs that started before the probe (submitted after the flood): only those the lane
    // had handed over (one more where another thread dequeued right behind the probe).
    expect(lane.startedBeforeProbe).toBeLessThanOrEqual(concurrency + 1);
    // An fs request made then queues in libuv behind at most `concurrency` of them.
    expect(lane.aheadOfStat).toBeLessThanOrEqual(concurrency);
    // The same flood submitted directly: the probe waits behind all of it.
    const direct = resultOf(await runChild(['flood', 'direct', String(concurrency)], poolSize));
    expect(direct.maxInFlight).toBe(40);
    expect(direct.startedBeforeProbe).toBeGreaterThanOrEqual(39);
    expect(direct.aheadOfStat).toBe(40);
  });

  test('a worker terminated while jobs wait in its lanes neither crashes nor hangs; nor does process.exit() from a lane job', async () => {
    const result = resultOf(await runChild(['teardown'], 2));
    expect(result.workers).toEqual(result.expected);
    expect(result.afterwards).toBe(sha256('after').toString('hex'));
  });
});
