/**
 * monitorPoolRequests(): Node's own pool requests counted by kind against workloads whose
 * requests are known (counts and failures from what each caller saw), latencies against the
 * time from each call to its callback measured around it, in-flight counts while requests wait
 * in libuv's queue (a child with UV_THREADPOOL_SIZE=1, test/requests/fixtures/pool-requests-child.js),
 * the monitor's lifecycle, its fs binding wrappers, the diagnostics channel and worker threads.
 *
 * Node versions differ in how fs.readFile reaches the pool: Node 26 reads a whole file with one
 * request (class ReadFileJob, kind fs.readFile), earlier versions with open, fstat, read and close.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import dns from 'node:dns';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';

import { monitorPoolRequests, POOL_REQUEST_CHANNEL, threadpool } from '../../src';
import type { HistogramSummary, PoolRequestMonitor, PoolRequestRecord, PoolRequestStats } from '../../src';
import { thrown, SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const FIXTURES = path.join(__dirname, 'fixtures');
const MISSING = `${__filename}.missing`;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
/** Node 26 reads a file in one pool request (ReadFileJob); earlier versions open, fstat, read and close. */
const ONE_READ_FILE_REQUEST = NODE_MAJOR >= 26;

type Outcome = 'completed' | 'failed';
interface Counts {
  completed: number;
  failed: number;
  cancelled: number;
  inFlight: number;
}

const monitors: PoolRequestMonitor[] = [];
/** A monitor stopped after the test whatever happens. */
function monitor(options?: Parameters<typeof monitorPoolRequests>[0]): PoolRequestMonitor {
  const m = monitorPoolRequests(options);
  monitors.push(m);
  return m;
}
afterEach(() => {
  for (const m of monitors.splice(0)) m.stop();
});

/** stats().requests without the latency summaries. */
function counts(stats: PoolRequestStats): Record<string, Counts> {
  return Object.fromEntries(
    Object.entries(stats.requests).map(([kind, s]) => [kind, { completed: s.completed, failed: s.failed, cancelled: s.cancelled, inFlight: s.inFlight }]),
  );
}
const done = (completed: number, failed = 0, cancelled = 0): Counts => ({ completed, failed, cancelled, inFlight: 0 });

/** Runs a callback-style call; resolves with how it ended. */
function viaCallback(call: (callback: (error: unknown) => void) => void): Promise<Outcome> {
  return new Promise((resolve) => call((error) => resolve(error ? 'failed' : 'completed')));
}
const outcomeOf = (promise: Promise<unknown>): Promise<Outcome> => promise.then(() => 'completed' as const, () => 'failed' as const);
const statCallback = (file: string) => viaCallback((cb) => fs.stat(file, cb));
const tally = (outcomes: Outcome[]) => ({
  completed: outcomes.filter((o) => o === 'completed').length,
  failed: outcomes.filter((o) => o === 'failed').length,
});
const repeat = <T>(n: number, make: () => T): T[] => Array.from({ length: n }, make);

/** The functions of this thread's fs binding (process.binding is deprecated but not in @types/node). */
function fsBindingFunctions(): Map<string, unknown> {
  const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding('fs');
  return new Map(Object.entries(binding).filter(([, value]) => typeof value === 'function'));
}
function sameFunctions(a: Map<string, unknown>, b: Map<string, unknown>): boolean {
  return a.size === b.size && [...a].every(([name, fn]) => b.get(name) === fn);
}

/** Collects what POOL_REQUEST_CHANNEL publishes until the returned stop() is called. */
function recordChannel(): { records: PoolRequestRecord[]; stop(): void } {
  const records: PoolRequestRecord[] = [];
  const onRecord = (message: unknown) => void records.push(message as PoolRequestRecord);
  diagnosticsChannel.subscribe(POOL_REQUEST_CHANNEL, onRecord);
  return { records, stop: () => diagnosticsChannel.unsubscribe(POOL_REQUEST_CHANNEL, onRecord) };
}

/**
 * One fs.stat callback timed from outside: the clock before the call, at the start of the
 * callback, and in a nextTick queued by the callback (which runs after async_hooks' `after`).
 */
function timedStat(file: string): Promise<{ calledNs: bigint; callbackNs: bigint; afterNs: bigint }> {
  return new Promise((resolve) => {
    const calledNs = process.hrtime.bigint();
    fs.stat(file, () => {
      const callbackNs = process.hrtime.bigint();
      process.nextTick(() => resolve({ calledNs, callbackNs, afterNs: process.hrtime.bigint() }));
    });
  });
}

/** Runs a fixture of test/requests/fixtures in a child process; resolves with the JSON line it prints. */
async function childJson(fixture: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<any> {
  const child = spawn(process.execPath, [path.join(FIXTURES, fixture), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000 * SLOWDOWN);
  const [status] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(stdout);
}

/** The value at quantile q by nearest rank, as the histogram defines its quantiles. */
function nearestRank(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
}

describe('counts by kind', () => {
  test('fs: callbacks and promises named by operation, missing files failed; fs.readFile as this Node makes it', async () => {
    // Before Node 26, fs.readFile's callback path reads and closes through references to the
    // binding's functions that lib/internal/fs/read/context.js takes when it loads (here before
    // the monitor, as in most applications): those two requests are named after their callbacks.
    await new Promise((resolve) => fs.readFile(__filename, resolve));
    const m = monitor();
    const statOutcomes = await Promise.all([
      ...repeat(5, () => statCallback(__filename)),
      ...repeat(2, () => statCallback(MISSING)),
      ...repeat(4, () => outcomeOf(fs.promises.stat(__filename))),
      ...repeat(3, () => outcomeOf(fs.promises.stat(MISSING))),
    ]);
    expect(tally(statOutcomes)).toEqual({ completed: 9, failed: 5 });
    const text = await new Promise<string>((resolve, reject) => fs.readFile(__filename, 'utf8', (e, data) => (e ? reject(e) : resolve(data))));
    expect(text).toBe(fs.readFileSync(__filename, 'utf8'));
    expect(await outcomeOf(fs.promises.readFile(MISSING))).toBe('failed');
    const handle = await fs.promises.open(__filename);
    await handle.close();

    const readFile: Record<string, Counts> = ONE_READ_FILE_REQUEST
      ? { 'fs.readFile': done(1, 1), 'fs.open': done(1), 'fs.close': done(1) }
      : { 'fs.open': done(2, 1), 'fs.fstat': done(1), 'fs.read': done(1), 'fs.close': done(2) };
    const stats = m.stats();
    expect(counts(stats)).toEqual({ 'fs.stat': done(9, 5), ...readFile });
    expect(stats.fsOperations).toBe(true);
    expect(stats.inFlight.now).toBe(0);
    // 14 fs.stat requests were issued at once and nothing else was in flight then.
    expect(stats.inFlight.max).toBe(14);
    for (const [kind, s] of Object.entries(stats.requests)) {
      expect({ kind, count: s.latency.count }).toEqual({ kind, count: s.completed + s.failed });
    }
  });

  test('synchronous calls (statSync, readFileSync, pbkdf2Sync, gzipSync, randomBytes without a callback) are not pool requests', () => {
    const m = monitor();
    fs.statSync(__filename);
    fs.readFileSync(__filename);
    crypto.pbkdf2Sync('p', 's', 1, 32, 'sha256');
    zlib.gunzipSync(zlib.gzipSync('sync'));
    crypto.randomBytes(16);
    expect(m.stats().requests).toEqual({});
  });

  test("dns.lookup: callback and promise of 'localhost' completed, an '.invalid' name failed", async () => {
    const m = monitor();
    const outcomes = await Promise.all([
      viaCallback((cb) => dns.lookup('localhost', cb)),
      outcomeOf(dns.promises.lookup('localhost')),
      viaCallback((cb) => dns.lookup('uvscope-test.invalid', cb)),
    ]);
    expect(outcomes).toEqual(['completed', 'completed', 'failed']);
    expect(counts(m.stats())).toEqual({ 'dns.lookup': done(2, 1) });
  });

  test('node:crypto: pbkdf2, scrypt, randomBytes/randomFill, hkdf, generatePrime, generateKeyPair, sign, webcrypto digest and decrypt, with failures', async () => {
    const { subtle } = crypto.webcrypto;
    // Prepared before the monitor starts (generating an AES key and encrypting are pool requests too).
    const aes = await subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
    const iv = new Uint8Array(12);
    const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv }, aes, Buffer.from('plaintext')));
    const tampered = Uint8Array.from(sealed, (byte, i) => (i === 0 ? byte ^ 1 : byte));
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });

    const m = monitor();
    const [pbkdf2, scrypt, hkdf] = await Promise.all([
      promisify(crypto.pbkdf2)('password', 'salt', 10, 32, 'sha256'),
      promisify(crypto.scrypt)('password', 'salt', 32) as Promise<Buffer>,
      promisify(crypto.hkdf)('sha256', 'key', 'salt', 'info', 32),
    ]);
    expect(pbkdf2.toString('hex')).toBe(crypto.pbkdf2Sync('password', 'salt', 10, 32, 'sha256').toString('hex'));
    expect(scrypt.toString('hex')).toBe(crypto.scryptSync('password', 'salt', 32).toString('hex'));
    expect(Buffer.from(hkdf).toString('hex')).toBe(Buffer.from(crypto.hkdfSync('sha256', 'key', 'salt', 'info', 32)).toString('hex'));
    const outcomes = await Promise.all([
      viaCallback((cb) => crypto.randomBytes(16, cb)),
      viaCallback((cb) => crypto.randomFill(Buffer.alloc(16), cb)),
      viaCallback((cb) => crypto.generatePrime(16, cb)),
      viaCallback((cb) => crypto.generateKeyPair('ec', { namedCurve: 'P-256' }, cb)),
      viaCallback((cb) => crypto.generateKeyPair('rsa', { modulusLength: 512, publicExponent: 2 }, cb)),
      viaCallback((cb) => crypto.sign('sha256', Buffer.from('data'), privateKey, cb)),
      outcomeOf(subtle.digest('SHA-256', Buffer.from('data'))),
      outcomeOf(subtle.decrypt({ name: 'AES-GCM', iv }, aes, sealed)),
      outcomeOf(subtle.decrypt({ name: 'AES-GCM', iv }, aes, tampered)),
    ]);
    expect(outcomes).toEqual(['completed', 'completed', 'completed', 'completed', 'failed', 'completed', 'completed', 'completed', 'failed']);
    expect(counts(m.stats())).toEqual({
      'crypto.pbkdf2': done(1),
      'crypto.scrypt': done(1),
      'crypto.hkdf': done(1),
      'crypto.randomBytes': done(2),
      'crypto.generatePrime': done(1),
      'crypto.generateKeyPair': done(1, 1),
      'crypto.sign': done(1),
      'crypto.digest': done(1),
      'crypto.cipher': done(1, 1),
    });
  });

  test('zlib: each write of a stream is a request (counted on the handle independently), a gunzip of garbage fails', async () => {
    const writesOf = (stream: zlib.Gzip | zlib.Gunzip) => {
      const handle = (stream as unknown as { _handle: { write: (...args: unknown[]) => unknown } })._handle;
      const write = handle.write;
      const seen = { writes: 0 };
      handle.write = function (this: unknown, ...args: unknown[]) {
        seen.writes++;
        return Reflect.apply(write, this, args);
      };
      return seen;
    };
    const m = monitor();
    const input = crypto.randomBytes(200_000);
    const gzip = zlib.createGzip();
    const gzipWrites = writesOf(gzip);
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    gzip.end(input);
    await once(gzip, 'end');
    expect(zlib.gunzipSync(Buffer.concat(chunks)).equals(input)).toBe(true);

    const gunzip = zlib.createGunzip();
    const gunzipWrites = writesOf(gunzip);
    gunzip.resume();
    gunzip.end(Buffer.from('this is not gzip data at all'));
    const [error] = (await once(gunzip, 'error')) as [Error & { code?: string }];
    expect(error.code).toBe('Z_DATA_ERROR');

    expect(gzipWrites.writes).toBeGreaterThanOrEqual(2);
    expect(gunzipWrites.writes).toBe(1);
    expect(counts(m.stats())).toEqual({ zlib: done(gzipWrites.writes, 1) });
  });

  test("uvscope's own jobs by kernel: uvscope.hash, uvscope.hmac, a failing uvscope.hashFile", async () => {
    const m = monitor();
    await Promise.all([threadpool.hash('sha256', 'a'), threadpool.hash('sha256', 'b'), threadpool.hmac('sha256', 'key', 'data')]);
    const failure = await threadpool.hashFile(MISSING, 'sha256').then(
      () => undefined,
      (error: Error & { code?: string }) => error.code,
    );
    expect(failure).toBe('ENOENT');
    const stats = m.stats();
    expect(counts(stats)).toEqual({ 'uvscope.hash': done(2), 'uvscope.hmac': done(1), 'uvscope.hashFile': done(0, 1) });
    expect(stats.inFlight).toMatchObject({ now: 0, max: 3 });
  });
});

describe('latency and in-flight counts', () => {
  test("each request's latency is at most the time from its call to its callback, measured around it; the histogram holds them within 1.1%", async () => {
    const channel = recordChannel();
    const measured: number[] = [];
    let m: PoolRequestMonitor;
    try {
      m = monitor();
      for (let i = 0; i < 30; i++) {
        const t = await timedStat(i % 5 === 4 ? MISSING : __filename);
        measured.push(Number(t.callbackNs - t.calledNs));
      }
      for (let i = 0; i < 10; i++) {
        const calledNs = process.hrtime.bigint();
        await fs.promises.stat(__filename);
        measured.push(Number(process.hrtime.bigint() - calledNs));
      }
    } finally {
      channel.stop();
    }
    const latencies = channel.records.map((r) => r.latencyNs);
    expect(channel.records.map((r) => r.kind)).toEqual(repeat(40, () => 'fs.stat'));
    expect(channel.records.filter((r) => r.outcome === 'failed')).toHaveLength(6);
    latencies.forEach((latencyNs, i) => {
      expect({ i, positive: latencyNs > 0, withinMeasured: latencyNs <= measured[i] }).toEqual({ i, positive: true, withinMeasured: true });
    });
    const summary: HistogramSummary = m.stats().requests['fs.stat'].latency;
    expect(summary.count).toBe(40);
    expect(summary.min).toBe(Math.min(...latencies));
    expect(summary.max).toBe(Math.max(...latencies));
    expect(summary.mean).toBeCloseTo(latencies.reduce((a, b) => a + b, 0) / 40, 3);
    for (const [q, value] of [[0.5, summary.p50], [0.9, summary.p90], [0.99, summary.p99], [0.999, summary.p999]] as const) {
      const exact = nearestRank(latencies, q);
      expect({ q, relativeError: Math.abs(value - exact) / exact < 0.011 }).toEqual({ q, relativeError: true });
    }

    // A single value is reported as recorded, in every field.
    const single = monitor();
    const calledNs = process.hrtime.bigint();
    await promisify(crypto.pbkdf2)('p', 's', 1, 16, 'sha256');
    const measuredNs = Number(process.hrtime.bigint() - calledNs);
    const one = single.stats().requests['crypto.pbkdf2'].latency;
    expect(one.count).toBe(1);
    expect(one.min).toBeGreaterThan(0);
    expect(one.min).toBeLessThanOrEqual(measuredNs);
    expect([one.max, one.mean, one.p50, one.p90, one.p99, one.p999]).toEqual(repeat(6, () => one.min));
  });

  test('inFlight: max is the number issued at once; mean x window lies between the sum of latencies and the sum of call-to-after times', async () => {
    const m = monitor();
    const times = await Promise.all(repeat(8, () => timedStat(__filename)));
    const sequential = [await timedStat(__filename), await timedStat(MISSING)];
    const stats = m.stats();
    expect(stats.inFlight.now).toBe(0);
    expect(stats.inFlight.max).toBe(8);
    const latency = stats.requests['fs.stat'].latency;
    expect(latency.count).toBe(10);
    // Each request counts in flight from its submission (after our call began) until its
    // callback returns (before our nextTick runs), and at least for its latency.
    const areaNs = stats.inFlight.mean * stats.windowNs;
    const lowerNs = latency.mean * latency.count;
    const upperNs = [...times, ...sequential].reduce((sum, t) => sum + Number(t.afterNs - t.calledNs), 0);
    expect(areaNs).toBeGreaterThanOrEqual(lowerNs * (1 - 1e-9) - 1);
    expect(areaNs).toBeLessThanOrEqual(upperNs * (1 + 1e-9) + 1);
  });

  test('requests waiting in the queue of a one-thread pool (child process): in flight at once, latency with the wait, reset() and a late monitor', async () => {
    const env = { ...process.env, UV_THREADPOOL_SIZE: '1' };
    const child = spawn(process.execPath, [path.join(FIXTURES, 'pool-requests-child.js'), LIB], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000 * SLOWDOWN);
    const [status] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    expect({ status, stderr }).toEqual({ status: 0, stderr: '' });
    const r = JSON.parse(stdout);
    expect(r.poolSize).toBe(1);
    // 0. submittedAtNs lies between the clock reads around the call (less 10 µs for its calibration).
    expect(r.submitted.records).toBe(5);
    expect(r.submitted.earlyNs).toBeLessThan(10_000);
    expect(r.submitted.lateNs).toBeLessThan(10_000);

    // 1. A hashFile job of a FIFO holds the thread; 9 Node requests and a hash job queue behind it.
    expect(r.queued.counts).toEqual({
      'fs.stat': { completed: 0, failed: 0, cancelled: 0, inFlight: 6 },
      'crypto.pbkdf2': { completed: 0, failed: 0, cancelled: 0, inFlight: 1 },
      'crypto.randomBytes': { completed: 0, failed: 0, cancelled: 0, inFlight: 1 },
      'dns.lookup': { completed: 0, failed: 0, cancelled: 0, inFlight: 1 },
    });
    expect(r.queued.inFlight).toMatchObject({ now: 11, max: 11 });
    expect(r.outcomes).toEqual(['completed', 'completed', 'completed', 'failed', 'completed', 'failed', 'completed', 'completed', 'completed']);
    expect(r.cancelledJob).toBe('AbortError');
    expect(r.afterQueued.counts).toEqual({
      'fs.stat': done(4, 2),
      'crypto.pbkdf2': done(1),
      'crypto.randomBytes': done(1),
      'dns.lookup': done(1),
      'uvscope.hash': done(0, 0, 1),
      'uvscope.hashFile': done(1),
    });
    expect(r.afterQueued.inFlight).toMatchObject({ now: 0, max: 11 });
    // None of them could start before the holding job ended: each latency includes that wait.
    expect(r.minQueueWaitNs).toBeGreaterThan(0);
    for (const kind of ['fs.stat', 'crypto.pbkdf2', 'crypto.randomBytes', 'dns.lookup']) {
      expect({ kind, atLeastTheWait: r.afterQueued.latency[kind].min >= r.minQueueWaitNs }).toEqual({ kind, atLeastTheWait: true });
    }

    // 2. reset() while 5 requests wait behind the holding job: they still settle and count.
    const waiting = { 'fs.stat': { completed: 0, failed: 0, cancelled: 0, inFlight: 4 }, 'crypto.pbkdf2': { completed: 0, failed: 0, cancelled: 0, inFlight: 1 } };
    expect(r.beforeReset.counts).toEqual(waiting);
    expect(r.afterReset.counts).toEqual(waiting);
    expect(r.afterReset.inFlight).toMatchObject({ now: 6, max: 6 });
    expect(r.resetSettled.counts).toEqual({ 'fs.stat': done(3, 1), 'crypto.pbkdf2': done(1), 'uvscope.hashFile': done(1) });
    expect(r.resetSettled.inFlight).toMatchObject({ now: 0, max: 6 });

    // 3. A monitor started while 5 requests waited (another monitor running) counts only the one issued after it.
    expect(r.late.final.counts).toEqual({ 'fs.stat': done(1) });
    expect(r.late.final.inFlight).toMatchObject({ now: 0, max: 1 });
    expect(r.late.lowestNow).toBe(0);
    expect(r.late.lowestKindInFlight).toBe(0);
  });

  test('a monitor started while requests are in flight (no other monitor) does not count them and never goes below 0', async () => {
    const early: Promise<unknown>[] = [
      ...repeat(3, () => statCallback(__filename)),
      statCallback(MISSING),
      ...repeat(2, () => outcomeOf(fs.promises.stat(__filename))),
      viaCallback((cb) => crypto.pbkdf2('p', 's', 1000, 32, 'sha256', cb)),
      viaCallback((cb) => dns.lookup('localhost', cb)),
      threadpool.hash('sha256', 'early'),
    ];
    const m = monitor();
    const seen: PoolRequestStats[] = [];
    const look = () => void seen.push(m.stats());
    await Promise.all([...early, statCallback(__filename)].map((p) => p.then(look)));
    const stats = m.stats();
    expect(counts(stats)).toEqual({ 'fs.stat': done(1) });
    expect(stats.inFlight).toMatchObject({ now: 0, max: 1 });
    expect(Math.min(...seen.map((s) => s.inFlight.now))).toBe(0);
    expect(seen.flatMap((s) => Object.values(s.requests).map((k) => k.inFlight)).every((n) => n >= 0)).toBe(true);
  });
});

describe('lifecycle', () => {
  test('stop() is idempotent; stats() after stop keeps the last window, whatever runs later; reset() after stop empties it', async () => {
    const m = monitor();
    await statCallback(__filename);
    m.stop();
    const stopped = m.stats();
    m.stop();
    await Promise.all([statCallback(__filename), fs.promises.stat(__filename), threadpool.hash('sha256', 'x')]);
    expect(m.stats()).toEqual(stopped);
    expect(counts(stopped)).toEqual({ 'fs.stat': done(1) });
    expect(stopped.windowNs).toBeGreaterThan(0);
    m.reset();
    expect(m.stats()).toMatchObject({ requests: {}, inFlight: { now: 0, max: 0, mean: 0 }, windowNs: 0 });
  });

  test('two monitors at once count independently; stopping one leaves the other counting', async () => {
    const a = monitor();
    await statCallback(__filename);
    const b = monitor();
    await Promise.all([statCallback(__filename), statCallback(MISSING), viaCallback((cb) => crypto.pbkdf2('p', 's', 1, 32, 'sha256', cb))]);
    a.stop();
    const aStopped = a.stats();
    await Promise.all([statCallback(__filename), fs.promises.stat(__filename), threadpool.hash('sha256', 'x')]);
    expect(counts(aStopped)).toEqual({ 'fs.stat': done(2, 1), 'crypto.pbkdf2': done(1) });
    expect(a.stats()).toEqual(aStopped);
    expect(counts(b.stats())).toEqual({ 'fs.stat': done(3, 1), 'crypto.pbkdf2': done(1), 'uvscope.hash': done(1) });
  });

  test('two copies of uvscope monitoring at once (two versions in node_modules) both count dns.lookup, whose callback is set before the request is seen', async () => {
    // Each copy has its own trampolines; the second must not move the first one's behind its own
    // (they share the slot: the callback then called itself until the stack overflowed).
    let other: typeof import('../../src/requests/monitor') | undefined;
    jest.isolateModules(() => {
      other = require('../../src/requests/monitor');
    });
    const a = monitor();
    const b = other!.monitorPoolRequests();
    try {
      await Promise.all([viaCallback((cb) => dns.lookup('localhost', cb)), viaCallback((cb) => dns.lookup('uvscope-test.invalid', cb))]);
      expect(counts(a.stats())).toEqual({ 'dns.lookup': done(1, 1) });
      expect(counts(b.stats())).toEqual({ 'dns.lookup': done(1, 1) });
    } finally {
      b.stop();
    }
  });

  test('fsOperations: false names every fs request fs and leaves the fs binding alone, also beside a monitor that names them', async () => {
    const originals = fsBindingFunctions();
    const plain = monitor({ fsOperations: false });
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
    await Promise.all([statCallback(__filename), fs.promises.stat(__filename), fs.promises.readFile(__filename)]);
    const handle = await fs.promises.open(__filename);
    await handle.close();
    const readFileRequests = ONE_READ_FILE_REQUEST ? 1 : 4;
    expect(counts(plain.stats())).toEqual({ fs: done(2 + readFileRequests + 2) });
    expect(plain.stats().fsOperations).toBe(false);

    const named = monitor();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(false);
    plain.reset();
    await Promise.all([statCallback(__filename), outcomeOf(fs.promises.stat(MISSING))]);
    expect(counts(plain.stats())).toEqual({ fs: done(1, 1) });
    expect(counts(named.stats())).toEqual({ 'fs.stat': done(1, 1) });
    expect(named.stats().fsOperations).toBe(true);
    named.stop();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
    plain.stop();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
  });

  test("the fs binding's functions are the originals again once the last naming monitor stops (a repeated stop() changes nothing)", async () => {
    const originals = fsBindingFunctions();
    const a = monitor();
    const b = monitor();
    a.stop();
    a.stop();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(false);
    await statCallback(__filename);
    expect(counts(b.stats())).toEqual({ 'fs.stat': done(1) });
    b.stop();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
    // And naming works again for the next monitor.
    const c = monitor();
    await statCallback(__filename);
    expect(counts(c.stats())).toEqual({ 'fs.stat': done(1) });
    c.stop();
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
  });

  test('no async_hooks by default; fsOperations: false brings in a hook (with promise hooks on Node 20 and 22) for every monitor of the thread until none runs', async () => {
    const named = monitor();
    expect(named.stats()).toMatchObject({ asyncHooks: false, promiseHooks: false, fsOperations: true });
    // In flight through the wrappers when the hook comes in: settles once, for the monitor that saw it start.
    const early = statCallback(__filename);
    const plain = monitor({ fsOperations: false });
    const hooked = plain.stats();
    expect(hooked.asyncHooks).toBe(true);
    if (NODE_MAJOR <= 22) expect(hooked.promiseHooks).toBe(true);
    if (NODE_MAJOR >= 26) expect(hooked.promiseHooks).toBe(false);
    expect(named.stats()).toMatchObject({ asyncHooks: true, fsOperations: true });
    expect(await early).toBe('completed');
    expect(await Promise.all([statCallback(__filename), outcomeOf(fs.promises.stat(MISSING))])).toEqual(['completed', 'failed']);
    expect(counts(named.stats())).toEqual({ 'fs.stat': done(2, 1) });
    expect(counts(plain.stats())).toEqual({ fs: done(1, 1) });

    plain.stop();
    expect(named.stats().asyncHooks).toBe(true);
    await statCallback(__filename);
    expect(counts(named.stats())).toEqual({ 'fs.stat': done(3, 1) });
    named.stop();
    // As of stop().
    expect(named.stats().asyncHooks).toBe(true);

    const next = monitor();
    expect(next.stats()).toMatchObject({ asyncHooks: false, promiseHooks: false, fsOperations: true });
    await statCallback(__filename);
    expect(counts(next.stats())).toEqual({ 'fs.stat': done(1) });
  });

  test("Node's objects are as they were once the last monitor stops, for a second monitor too; a wrapper someone put over uvscope's meanwhile keeps working (child process)", async () => {
    const r = await childJson('pool-requests-patches.js', [LIB]);
    const once = { 'fs.stat': 1, 'dns.lookup': 1, 'crypto.pbkdf2': 1, 'crypto.digest': 1 };
    for (const m of r.monitors) {
      expect(m.outcomes).toEqual(repeat(5, () => 'completed'));
      expect(m.counted).toMatchObject(once);
      expect(m.counted.zlib).toBeGreaterThanOrEqual(1);
      expect(m.whileRunning).toEqual(
        expect.arrayContaining([
          'fs.stat',
          'FileHandle.prototype.close',
          'GetAddrInfoReqWrap.prototype.oncomplete',
          'AsyncWrap.prototype.ondone',
          'PBKDF2Job.prototype.run',
          'Zlib.prototype.write',
        ]),
      );
      expect(m.afterStop).toEqual([]);
    }
    expect(r.stacked).toEqual({ stillTheirs: true, theirCalls: 4, countedUnderTheirs: { 'fs.stat': 3 }, afterAll: [] });
  });

  test('a monitor after one with fsOperations: false names fs.readFile as fully as the first would have (child process)', async () => {
    // The first leaves callback accessors on request classes' prototypes (Node 26's ReadFileJob
    // among them), which hide the `ondone` setter by which the second finds job classes.
    const r = await childJson('monitor-after-hook-source.js', [LIB]);
    const readFile = ONE_READ_FILE_REQUEST ? { 'fs.readFile': 1 } : { 'fs.open': 1, 'fs.fstat': 1, 'fs.read': 1, 'fs.close': 1 };
    expect(r.first).toEqual({ fs: ONE_READ_FILE_REQUEST ? 1 : 4, 'crypto.pbkdf2': 1 });
    expect(r.second).toEqual({ ...readFile, 'crypto.pbkdf2': 1 });
  });

  test('bad options: TypeError naming the option', () => {
    for (const options of [null, 'fs', 1, [], () => ({})]) {
      const error = thrown(() => monitorPoolRequests(options as never));
      expect({ name: error.name, code: error.code }).toEqual({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      expect(error.message).toMatch(/^The "options" argument/);
    }
    for (const fsOperations of ['yes', 1, null, {}]) {
      const error = thrown(() => monitorPoolRequests({ fsOperations } as never));
      expect({ name: error.name, code: error.code }).toEqual({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      expect(error.message).toContain('"options.fsOperations"');
    }
    for (const options of [undefined, {}, { fsOperations: undefined }, { fsOperations: false }]) monitor(options).stop();
  });
});

describe('threads and channels', () => {
  test("a monitor in a worker thread counts that thread's requests only, and the main thread's monitor only its own", async () => {
    const main = monitor();
    const worker = new Worker(path.join(FIXTURES, 'pool-requests-worker.js'), { workerData: { lib: LIB, stats: 5 } });
    try {
      await once(worker, 'message');
      worker.postMessage('go');
      const mine = Promise.all(repeat(3, () => statCallback(__filename)));
      const [report] = (await once(worker, 'message')) as [{ requests: Record<string, unknown>; wrappedWhileRunning: boolean; restored: boolean }];
      await mine;
      expect(report).toEqual({ requests: { 'fs.stat': { completed: 6, failed: 0, inFlight: 0 } }, wrappedWhileRunning: true, restored: true });
      expect(counts(main.stats())).toEqual({ 'fs.stat': done(3) });
    } finally {
      await worker.terminate();
    }
  });

  test(`'${POOL_REQUEST_CHANNEL}' publishes one record per Node request while subscribed (uvscope's jobs are on their own channel)`, async () => {
    const channel = recordChannel();
    const m = monitor();
    const brackets: Array<[bigint, bigint]> = [];
    const bracket = async (call: () => Promise<unknown>) => {
      const before = process.hrtime.bigint();
      await call();
      brackets.push([before, process.hrtime.bigint()]);
    };
    try {
      await bracket(() => statCallback(__filename));
      await bracket(() => statCallback(MISSING));
      await bracket(() => viaCallback((cb) => dns.lookup('localhost', cb)));
      await bracket(() => viaCallback((cb) => crypto.pbkdf2('p', 's', 1, 32, 'sha256', cb)));
      await bracket(() => outcomeOf(fs.promises.stat(MISSING)));
      await threadpool.hash('sha256', 'not on this channel');
    } finally {
      channel.stop();
    }
    expect(channel.records.map((r) => [r.kind, r.outcome])).toEqual([
      ['fs.stat', 'completed'],
      ['fs.stat', 'failed'],
      ['dns.lookup', 'completed'],
      ['crypto.pbkdf2', 'completed'],
      ['fs.stat', 'failed'],
    ]);
    channel.records.forEach((record, i) => {
      const [before, after] = brackets[i].map(Number);
      // submittedAtNs is converted from performance.now(): allow for the calibration's own clock reads (well under 10 µs).
      expect({ i, submittedInside: record.submittedAtNs >= before - 10_000 && record.submittedAtNs <= after + 10_000 }).toEqual({ i, submittedInside: true });
      expect({ i, latencyInside: record.latencyNs > 0 && record.latencyNs <= after - before }).toEqual({ i, latencyInside: true });
    });
    const published = channel.records.length;
    await statCallback(__filename);
    expect(channel.records).toHaveLength(published);
    expect(counts(m.stats())).toEqual({ 'fs.stat': done(2, 2), 'dns.lookup': done(1), 'crypto.pbkdf2': done(1), 'uvscope.hash': done(1) });
  });
});

describe("Node's behaviour with a monitor", () => {
  test.each([{}, { fsOperations: false }])(
    'fs, dns, node:crypto, webcrypto and zlib show their caller the same with a monitor (%j) as without: callback arguments and this, return values, errors at once and later, exceptions thrown by callbacks (child process)',
    async (options) => {
      const r = await childJson('pool-requests-transparency.js', [LIB, JSON.stringify(options)]);
      expect(r.with).toEqual(r.without);
      // Each callback's exception reached 'uncaughtException' as itself, after one call.
      for (const name of Object.keys(r.without).filter((n) => n.startsWith('throw from'))) {
        expect({ name, ...r.with[name] }).toEqual({ name, same: true, origin: 'uncaughtException', calls: 1 });
      }
      // Synchronous errors and synchronous jobs made no request; everything settled, none left in flight
      // (also the lookup whose submission failed at once on Node 20 and 22, dns.promises.lookup('xn--zz.com')).
      // The hook sees an FSReqCallback made before a bad argument throws (fs.stat(123) on Node 22+):
      // that one stays in flight with fsOperations: false (docs/pool-requests.md).
      const stats = r.stats as PoolRequestStats;
      expect(stats.requests['dns.lookup'].inFlight).toBe(0);
      if (options.fsOperations !== false) {
        expect(stats.inFlight.now).toBe(0);
        for (const [kind, s] of Object.entries(stats.requests)) expect({ kind, inFlight: s.inFlight }).toEqual({ kind, inFlight: 0 });
      }
      const stat = options.fsOperations === false ? undefined : stats.requests['fs.stat'];
      if (stat) expect({ completed: stat.completed, failed: stat.failed }).toEqual({ completed: 2, failed: 2 });
      expect(stats.requests['crypto.pbkdf2'].completed).toBe(2);
    },
  );

  test(`a '${POOL_REQUEST_CHANNEL}' subscriber that makes fs requests and stops the monitor, from inside a request's completion`, async () => {
    const originals = fsBindingFunctions();
    const m = monitor();
    const seen: string[] = [];
    const nested: Array<Promise<Outcome>> = [];
    const onRecord = (message: unknown) => {
      seen.push((message as PoolRequestRecord).kind);
      if (seen.length === 1) {
        nested.push(statCallback(__filename), outcomeOf(fs.promises.stat(MISSING)));
        m.stop();
      }
    };
    diagnosticsChannel.subscribe(POOL_REQUEST_CHANNEL, onRecord);
    let calls = 0;
    try {
      const outcome = await new Promise<Outcome>((resolve) =>
        fs.stat(__filename, (error) => {
          calls++;
          resolve(error ? 'failed' : 'completed');
        }),
      );
      expect(outcome).toBe('completed');
      expect(await Promise.all(nested)).toEqual(['completed', 'failed']);
    } finally {
      diagnosticsChannel.unsubscribe(POOL_REQUEST_CHANNEL, onRecord);
    }
    expect(calls).toBe(1);
    // The nested requests started while it ran; it stopped before they settled: counted in flight until stop, never settled.
    expect(seen).toEqual(['fs.stat']);
    expect(counts(m.stats())).toEqual({ 'fs.stat': { completed: 1, failed: 0, cancelled: 0, inFlight: 2 } });
    expect(sameFunctions(fsBindingFunctions(), originals)).toBe(true);
    await statCallback(__filename);
    expect(seen).toEqual(['fs.stat']);
  });
});
