/**
 * Thread pool correctness: every output is checked against an independent source, either
 * node:crypto (same OpenSSL, but a different code path: no uvscope involved) or test vectors
 * typed in from the RFCs (4231, 6070, 7914). Also the documented errors for bad inputs, and
 * AsyncLocalStorage flowing from submission to settlement.
 *
 * Values the addon creates (Buffers, errors from the native side) belong to the outer realm
 * in jest, so results are compared as hex strings and errors by name/code/message.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { COPY_LIMIT_BYTES, JOB_CHANNEL, poolSize, ThreadPool, threadpool } from '../../src';
import { rejection, thrown, SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const FIXTURES = path.join(__dirname, 'fixtures');

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const XOFS = new Set(['shake128', 'shake256']);

/** Splits `data` into `n` uneven, non-empty chunks (subarray views of it). */
function unevenChunks(data: Buffer, n: number): Buffer[] {
  const cuts = [0];
  // Weights 1, 3, 2, 5, 1, 4, 2, ... make chunk sizes differ; never a multiple of a block size by design.
  const weights = Array.from({ length: n }, (_, i) => ((i * 7) % 5) + 1);
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < n - 1; i++) {
    acc += weights[i];
    cuts.push(Math.max(cuts[cuts.length - 1] + 1, Math.floor((data.length * acc) / total) + 3 * i));
  }
  cuts.push(data.length);
  return cuts.slice(0, -1).map((start, i) => data.subarray(start, cuts[i + 1]));
}

/** `fn` throws an error with this name and code, whose message names `inMessage`. */
function expectThrow(fn: () => unknown, name: string, code: string, inMessage?: string) {
  const error = thrown(fn);
  expect({ name: error.name, code: error.code }).toEqual({ name, code });
  if (inMessage) expect(error.message).toContain(inMessage);
  return error;
}

describe('outputs equal node:crypto', () => {
  const MiB = crypto.randomBytes(1 << 20);
  const inputs: [string, Buffer][] = [
    ['0 B', Buffer.alloc(0)],
    ['1 B', Buffer.from([0xa5])],
    ['1 MiB', MiB],
  ];

  test('algorithms() is the set of crypto.getHashes() names, including the common ones and the XOFs', () => {
    const algorithms = threadpool.algorithms();
    expect(algorithms.length).toBeGreaterThan(10);
    for (const name of algorithms) expect(crypto.getHashes()).toContain(name);
    for (const name of ['md5', 'sha1', 'sha256', 'sha512', 'sha3-256', 'blake2b512', 'shake128', 'shake256']) {
      expect(algorithms).toContain(name);
    }
    expect(new ThreadPool().algorithms()).toEqual(algorithms);
  });

  test('hash() over 0 B, 1 B and 1 MiB for every algorithm', async () => {
    const mismatches: string[] = [];
    let compared = 0;
    for (const algorithm of threadpool.algorithms()) {
      const results = await Promise.all(inputs.map(([, data]) => threadpool.hash(algorithm, data)));
      inputs.forEach(([label, data], i) => {
        compared++;
        const expected = crypto.createHash(algorithm).update(data).digest('hex');
        if (hex(results[i]) !== expected) mismatches.push(`${algorithm} ${label}`);
      });
    }
    expect(mismatches).toEqual([]);
    expect(compared).toBe(threadpool.algorithms().length * 3);
  });

  test('hash() of strings is the UTF-8 digest, as createHash().update(string)', async () => {
    const strings = ['', 'abc', 'héllo wörld ✓ 𝄞', 'x'.repeat(100_000)];
    for (const algorithm of ['sha256', 'sha1', 'sha3-512', 'md5']) {
      for (const s of strings) {
        expect(hex(await threadpool.hash(algorithm, s))).toBe(crypto.createHash(algorithm).update(s).digest('hex'));
      }
    }
  });

  test('hash() of TypedArray and DataView views uses exactly the viewed bytes', async () => {
    const backing = crypto.randomBytes(4096);
    const u8 = new Uint8Array(backing.buffer, backing.byteOffset + 3, 1000);
    const u32 = new Uint32Array(backing.buffer, backing.byteOffset + 16, 100);
    const dv = new DataView(backing.buffer, backing.byteOffset + 7, 333);
    for (const view of [u8, u32, dv]) {
      const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
      expect(hex(await threadpool.hash('sha256', view))).toBe(crypto.createHash('sha256').update(bytes).digest('hex'));
    }
  });

  test('createHasher() with 7 uneven chunked updates, for every algorithm, equals createHash', async () => {
    const data = MiB.subarray(0, 100_003);
    const chunks = unevenChunks(data, 7);
    expect(chunks).toHaveLength(7);
    expect(new Set(chunks.map((c) => c.length)).size).toBeGreaterThan(3);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const mismatches: string[] = [];
    for (const algorithm of threadpool.algorithms()) {
      const hasher = threadpool.createHasher(algorithm);
      // Not awaited one by one: the hasher must keep them in call order on its own.
      const updates = chunks.map((chunk) => hasher.update(chunk));
      const digest = await hasher.digest();
      await Promise.all(updates);
      const node = crypto.createHash(algorithm);
      for (const chunk of chunks) node.update(chunk);
      if (hex(digest) !== node.digest('hex')) mismatches.push(algorithm);
    }
    expect(mismatches).toEqual([]);
  });

  test('createHasher() with awaited string and buffer updates, and with no update at all', async () => {
    const hasher = threadpool.createHasher('sha512');
    await hasher.update('héllo ');
    await hasher.update(Buffer.from('wörld'));
    await hasher.update('');
    expect(hex(await hasher.digest())).toBe(crypto.createHash('sha512').update('héllo wörld').digest('hex'));
    const empty = threadpool.createHasher('sha256');
    expect(hex(await empty.digest())).toBe(crypto.createHash('sha256').digest('hex'));
  });

  test('XOFs: hash/hashMany/createHasher/hashFile with and without outputLength equal createHash(alg, { outputLength })', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-xof-')), 'data');
    fs.writeFileSync(file, MiB.subarray(0, 5000));
    try {
      for (const algorithm of ['shake128', 'shake256']) {
        for (const data of [Buffer.alloc(0), Buffer.from('abc'), MiB]) {
          // Default output length (16 / 32 bytes on Node 20).
          expect(hex(await threadpool.hash(algorithm, data))).toBe(crypto.createHash(algorithm).update(data).digest('hex'));
          for (const outputLength of [0, 1, 16, 32, 100, 1000]) {
            const expected = crypto.createHash(algorithm, { outputLength }).update(data).digest('hex');
            const got = await threadpool.hash(algorithm, data, { outputLength });
            expect(got.length).toBe(outputLength);
            expect(hex(got)).toBe(expected);
          }
        }
        const [a, b] = await threadpool.hashMany(algorithm, ['abc', MiB], { outputLength: 77 });
        expect(hex(a)).toBe(crypto.createHash(algorithm, { outputLength: 77 }).update('abc').digest('hex'));
        expect(hex(b)).toBe(crypto.createHash(algorithm, { outputLength: 77 }).update(MiB).digest('hex'));

        const hasher = threadpool.createHasher(algorithm, { outputLength: 200 });
        const chunks = unevenChunks(MiB, 7);
        for (const chunk of chunks) void hasher.update(chunk);
        expect(hex(await hasher.digest())).toBe(crypto.createHash(algorithm, { outputLength: 200 }).update(MiB).digest('hex'));

        expect(hex(await threadpool.hashFile(file, algorithm, { outputLength: 50 }))).toBe(
          crypto.createHash(algorithm, { outputLength: 50 }).update(MiB.subarray(0, 5000)).digest('hex'),
        );
      }
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  test('non-XOF digests accept outputLength equal to their size', async () => {
    expect(hex(await threadpool.hash('sha256', 'abc', { outputLength: 32 }))).toBe(
      crypto.createHash('sha256', { outputLength: 32 }).update('abc').digest('hex'),
    );
  });

  test('hashMany() returns the digests in input order, split into options.jobs pool jobs', async () => {
    const items: (string | Buffer)[] = [Buffer.alloc(0), 'a', MiB, MiB.subarray(1), 'zzz', Buffer.from([0])];
    const expected = items.map((item) => crypto.createHash('sha256').update(item).digest('hex'));
    for (const jobs of [1, 2, 3, 5, 6, 7, 1024]) {
      const pool = new ThreadPool();
      const digests = await pool.hashMany('sha256', items, { jobs });
      expect(digests.map(hex)).toEqual(expected);
      const stats = pool.stats();
      expect(stats.kernels.hashMany?.completed).toBe(Math.min(jobs, items.length));
      expect(stats.submitted).toBe(Math.min(jobs, items.length));
      expect(stats.kernels.hashMany?.bytes).toBe(items.reduce((n, item) => n + Buffer.byteLength(item), 0));
      expect(stats.inFlight).toBe(0);
    }
    const pool = new ThreadPool();
    expect(await pool.hashMany('sha1', [])).toHaveLength(0);
    expect(await pool.hashMany('sha1', [], { jobs: 4 })).toHaveLength(0);
    expect(pool.stats().submitted).toBe(2);
  });

  test('hashMany() makes as many jobs as the pool runs at once by default: maxConcurrency, else poolSize()', async () => {
    const items = Array.from({ length: 40 }, (_, i) => `input ${i}`);
    const expected = items.map((item) => crypto.createHash('sha1').update(item).digest('hex'));
    for (const [pool, jobs] of [
      [new ThreadPool(), Math.min(poolSize().size, items.length)],
      [new ThreadPool({ maxConcurrency: 3 }), 3],
      [new ThreadPool({ maxConcurrency: 1 }), 1],
      [new ThreadPool({ maxConcurrency: 64 }), items.length],
    ] as const) {
      expect((await pool.hashMany('sha1', items)).map(hex)).toEqual(expected);
      expect(pool.stats().kernels.hashMany?.completed).toBe(jobs);
    }
  });

  test('hashMany() jobs take the inputs in turn: a job that starts after the others finished finds none left', async () => {
    const records: { kernel: string; bytes: number }[] = [];
    const listener = (record: unknown) => records.push(record as { kernel: string; bytes: number });
    diagnostics_channel.subscribe(JOB_CHANNEL, listener);
    try {
      // One job at a time: the first takes every input, the other two none.
      const pool = new ThreadPool({ maxConcurrency: 1 });
      const inputs = [MiB, 'x', MiB.subarray(7), 'yz', ''];
      const total = inputs.reduce((n, input) => n + Buffer.byteLength(input), 0);
      const digests = await pool.hashMany('sha256', inputs, { jobs: 3 });
      expect(digests.map(hex)).toEqual(inputs.map((x) => crypto.createHash('sha256').update(x).digest('hex')));
      expect(records.map((r) => [r.kernel, r.bytes])).toEqual([
        ['hashMany', total],
        ['hashMany', 0],
        ['hashMany', 0],
      ]);
      // Jobs running together share the inputs: the bytes they report add up to the whole.
      records.length = 0;
      const many = Array.from({ length: 64 }, (_, i) => MiB.subarray(i));
      const manyTotal = many.reduce((n, input) => n + input.length, 0);
      await new ThreadPool().hashMany('sha256', many, { jobs: 4 });
      expect(records).toHaveLength(4);
      expect(records.reduce((n, r) => n + r.bytes, 0)).toBe(manyTotal);
    } finally {
      diagnostics_channel.unsubscribe(JOB_CHANNEL, listener);
    }
  });

  test('hashMany() aborted: every job is cancelled or stopped before the promise rejects', async () => {
    const pool = new ThreadPool();
    const inputs = Array.from({ length: 8 }, () => Buffer.alloc(8 * MiB.length));
    const controller = new AbortController();
    const promise = pool.hashMany('sha256', inputs, { signal: controller.signal, jobs: 4 });
    controller.abort('enough');
    const error = await rejection(promise);
    expect(error.name).toBe('AbortError');
    expect(error.cause).toBe('enough');
    const stats = pool.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.submitted).toBe(4);
    expect(stats.cancelled + stats.completed).toBe(4);
    expect(stats.failed).toBe(0);
    // Aborted before the call: nothing is submitted.
    await expect(pool.hashMany('sha256', inputs, { signal: controller.signal, jobs: 4 })).rejects.toMatchObject({ name: 'AbortError' });
    expect(pool.stats().submitted).toBe(4);
  });

  test('hashMany() whose jobs do not all fit the queue rejects ERR_UVSCOPE_QUEUE_FULL and cancels the jobs it queued', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1, maxQueue: 2 });
    const error = await rejection(pool.hashMany('sha256', ['a', 'b', 'c', 'd', 'e'], { jobs: 5 }));
    expect(error.code).toBe('ERR_UVSCOPE_QUEUE_FULL');
    const stats = pool.stats();
    expect(stats.submitted).toBe(3); // one running, two waiting; the fourth did not fit
    expect(stats.inFlight).toBe(0);
    expect(stats.cancelled).toBeGreaterThanOrEqual(2); // the two waiting in uvscope's FIFO
    expect(stats.cancelled + stats.completed).toBe(3);
    // The pool is usable afterwards.
    expect((await pool.hashMany('sha256', ['a', 'b'], { jobs: 2 })).map(hex)).toEqual(
      ['a', 'b'].map((x) => crypto.createHash('sha256').update(x).digest('hex')),
    );
  });

  test('aliases (RSA-SHA256, sha256WithRSAEncryption) give the canonical digest', async () => {
    const expected = crypto.createHash('sha256').update('abc').digest('hex');
    expect(hex(await threadpool.hash('RSA-SHA256', 'abc'))).toBe(expected);
    expect(hex(await threadpool.hash('sha256WithRSAEncryption', 'abc'))).toBe(expected);
  });

  test('hmac() equals createHmac for several digests, keys (incl. empty, longer than a block, ArrayBuffer) and data sizes', async () => {
    const keys: Buffer[] = [Buffer.alloc(0), Buffer.from('k'), crypto.randomBytes(64), crypto.randomBytes(200)];
    for (const algorithm of ['sha1', 'sha256', 'sha512', 'sha3-256', 'md5', 'blake2b512']) {
      for (const key of keys) {
        for (const data of [Buffer.alloc(0), Buffer.from('message'), MiB]) {
          const expected = crypto.createHmac(algorithm, key).update(data).digest('hex');
          expect(hex(await threadpool.hmac(algorithm, key, data))).toBe(expected);
        }
      }
    }
    const key = crypto.randomBytes(32);
    const arrayBuffer = key.buffer.slice(key.byteOffset, key.byteOffset + key.length);
    expect(hex(await threadpool.hmac('sha256', arrayBuffer, 'data'))).toBe(
      crypto.createHmac('sha256', key).update('data').digest('hex'),
    );
    expect(hex(await threadpool.hmac('sha256', 'string key', 'ü'))).toBe(
      crypto.createHmac('sha256', 'string key').update('ü').digest('hex'),
    );
  });

  test('pbkdf2() equals crypto.pbkdf2Sync, including keylen 0, partial last blocks and many blocks', async () => {
    const cases: [string, number, number][] = [
      ['sha1', 1, 20],
      ['sha1', 3, 41],
      ['sha256', 1000, 0],
      ['sha256', 1000, 1],
      ['sha256', 5000, 100], // 4 blocks, the last partial, iterations across an abort-check boundary
      ['sha512', 10, 129],
      ['sha3-256', 7, 64],
    ];
    for (const [digest, iterations, keylen] of cases) {
      // A zero-length key is the empty string by definition (RFC 8018 dkLen); Node 22+ with
      // OpenSSL 3.5 refuses to derive it ("Deriving bits failed"), Node 20 returns it.
      const expected =
        keylen === 0 ? '' : crypto.pbkdf2Sync('pässword', 'salt\0y', iterations, keylen, digest).toString('hex');
      const got = await threadpool.pbkdf2('pässword', Buffer.from('salt\0y'), iterations, keylen, digest);
      expect([digest, iterations, keylen, hex(got)]).toEqual([digest, iterations, keylen, expected]);
    }
    const empty = await threadpool.pbkdf2('', '', 2, 32, 'sha256');
    expect(hex(empty)).toBe(crypto.pbkdf2Sync('', '', 2, 32, 'sha256').toString('hex'));
  });

  test('scrypt() equals crypto.scryptSync, with aliases cost/blockSize/parallelization and keylen 0', async () => {
    const salt = crypto.randomBytes(16);
    const cases: [crypto.ScryptOptions, number][] = [
      [{ N: 16, r: 1, p: 1 }, 64],
      [{ N: 256, r: 4, p: 2 }, 33],
      [{ cost: 512, blockSize: 2, parallelization: 3 }, 16],
      [{ N: 16, r: 1, p: 1 }, 0],
    ];
    for (const [params, keylen] of cases) {
      const expected = crypto.scryptSync('pw', salt, keylen, params).toString('hex');
      expect(hex(await threadpool.scrypt('pw', salt, keylen, params))).toBe(expected);
    }
    // Defaults (N=16384, r=8, p=1), as node:crypto's.
    expect(hex(await threadpool.scrypt('pw', salt, 32))).toBe(crypto.scryptSync('pw', salt, 32).toString('hex'));
  });
});

describe('RFC test vectors', () => {
  // RFC 4231, section 4: HMAC-SHA-256 and HMAC-SHA-512.
  const aa131 = Buffer.alloc(131, 0xaa);
  const rfc4231: { id: number; key: Buffer; data: Buffer; sha256: string; sha512: string; truncatedTo?: number }[] = [
    {
      id: 1,
      key: Buffer.alloc(20, 0x0b),
      data: Buffer.from('4869205468657265', 'hex'), // "Hi There"
      sha256: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      sha512:
        '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde' +
        'daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    },
    {
      id: 2,
      key: Buffer.from('4a656665', 'hex'), // "Jefe"
      data: Buffer.from('7768617420646f2079612077616e7420666f72206e6f7468696e673f', 'hex'), // "what do ya want for nothing?"
      sha256: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
      sha512:
        '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554' +
        '9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
    },
    {
      id: 3,
      key: Buffer.alloc(20, 0xaa),
      data: Buffer.alloc(50, 0xdd),
      sha256: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
      sha512:
        'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39' +
        'bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
    },
    {
      id: 4,
      key: Buffer.from('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'),
      data: Buffer.alloc(50, 0xcd),
      sha256: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
      sha512:
        'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db' +
        'a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
    },
    {
      id: 5, // the RFC gives only the first 128 bits of the output
      key: Buffer.alloc(20, 0x0c),
      data: Buffer.from('546573742057697468205472756e636174696f6e', 'hex'), // "Test With Truncation"
      sha256: 'a3b6167473100ee06e0c796c2955552b',
      sha512: '415fad6271580a531d4179bc891d87a6',
      truncatedTo: 16,
    },
    {
      id: 6,
      key: aa131,
      data: Buffer.from(
        '54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a' +
          '65204b6579202d2048617368204b6579204669727374',
        'hex',
      ), // "Test Using Larger Than Block-Size Key - Hash Key First"
      sha256: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      sha512:
        '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352' +
        '6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
    },
    {
      id: 7,
      key: aa131,
      data: Buffer.from(
        '5468697320697320612074657374207573696e672061206c6172676572207468' +
          '616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074' +
          '68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565' +
          '647320746f20626520686173686564206265666f7265206265696e6720757365' +
          '642062792074686520484d414320616c676f726974686d2e',
        'hex',
      ),
      sha256: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
      sha512:
        'e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944' +
        'b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58',
    },
  ];

  test.each(rfc4231)('RFC 4231 test case $id: HMAC-SHA-256 and HMAC-SHA-512', async ({ key, data, sha256, sha512, truncatedTo }) => {
    const [mac256, mac512] = await Promise.all([threadpool.hmac('sha256', key, data), threadpool.hmac('sha512', key, data)]);
    expect(mac256.length).toBe(32);
    expect(mac512.length).toBe(64);
    const n = truncatedTo ?? Infinity;
    expect(hex(mac256.subarray(0, n))).toBe(sha256);
    expect(hex(mac512.subarray(0, n))).toBe(sha512);
  });

  // RFC 6070: PBKDF2-HMAC-SHA1. The 16,777,216-iteration vector is left out of CI (about 10 s).
  const rfc6070: [string, string, number, number, string][] = [
    ['password', 'salt', 1, 20, '0c60c80f961f0e71f3a9b524af6012062fe037a6'],
    ['password', 'salt', 2, 20, 'ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957'],
    ['password', 'salt', 4096, 20, '4b007901b765489abead49d926f721d065a429c1'],
    [
      'passwordPASSWORDpassword',
      'saltSALTsaltSALTsaltSALTsaltSALTsalt',
      4096,
      25,
      '3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038',
    ],
    ['pass\0word', 'sa\0lt', 4096, 16, '56fa6aa75548099dcc37d7f03425e0c3'],
  ];

  test.each(rfc6070)('RFC 6070 PBKDF2-HMAC-SHA1(%j, %j, c=%d, dkLen=%d)', async (password, salt, c, dkLen, expected) => {
    expect(hex(await threadpool.pbkdf2(password, salt, c, dkLen, 'sha1'))).toBe(expected);
  });

  // RFC 7914, section 12. The third needs 16 MiB and a bit: maxmem is passed explicitly.
  const rfc7914: [string, string, number, number, number, number | undefined, string][] = [
    [
      '',
      '',
      16,
      1,
      1,
      undefined,
      `77 d6 57 62 38 65 7b 20 3b 19 ca 42 c1 8a 04 97 f1 6b 48 44 e3 07 4a e8 df df fa 3f ed e2 14 42
       fc d0 06 9d ed 09 48 f8 32 6a 75 3a 0f c8 1f 17 e8 d3 e0 fb 2e 0d 36 28 cf 35 e2 0c 38 d1 89 06`,
    ],
    [
      'password',
      'NaCl',
      1024,
      8,
      16,
      undefined,
      `fd ba be 1c 9d 34 72 00 78 56 e7 19 0d 01 e9 fe 7c 6a d7 cb c8 23 78 30 e7 73 76 63 4b 37 31 62
       2e af 30 d9 2e 22 a3 88 6f f1 09 27 9d 98 30 da c7 27 af b9 4a 83 ee 6d 83 60 cb df a2 cc 06 40`,
    ],
    [
      'pleaseletmein',
      'SodiumChloride',
      16384,
      8,
      1,
      64 * 1024 * 1024,
      `70 23 bd cb 3a fd 73 48 46 1c 06 cd 81 fd 38 eb fd a8 fb ba 90 4f 8e 3e a9 b5 43 f6 54 5d a1 f2
       d5 43 29 55 61 3f 0f cf 62 d4 97 05 24 2a 9a f9 e6 1e 85 dc 0d 65 1e 40 df cf 01 7b 45 57 58 87`,
    ],
  ];

  test.each(rfc7914)('RFC 7914 scrypt(P=%j, S=%j, N=%d, r=%d, p=%d, dkLen=64)', async (P, S, N, r, p, maxmem, expected) => {
    const key = await threadpool.scrypt(P, S, 64, { N, r, p, ...(maxmem ? { maxmem } : {}) });
    expect(hex(key)).toBe(hex(unhex(expected)));
  });
});

describe('hashFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-hashfile-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a 20 MiB file of random bytes: the digest of its content, by string, Buffer and file: URL path', async () => {
    const file = path.join(dir, 'big.bin');
    const content = crypto.randomBytes(20 * 1024 * 1024 + 17); // not a multiple of the 1 MiB read size
    fs.writeFileSync(file, content);
    const pool = new ThreadPool();
    const [a, b, c, d] = await Promise.all([
      pool.hashFile(file, 'sha256'),
      pool.hashFile(Buffer.from(file), 'sha512'),
      pool.hashFile(pathToFileURL(file), 'sha1'),
      pool.hashFile(file, 'md5'),
    ]);
    expect(hex(a)).toBe(crypto.createHash('sha256').update(content).digest('hex'));
    expect(hex(b)).toBe(crypto.createHash('sha512').update(content).digest('hex'));
    expect(hex(c)).toBe(crypto.createHash('sha1').update(content).digest('hex'));
    expect(hex(d)).toBe(crypto.createHash('md5').update(content).digest('hex'));
    const stats = pool.stats();
    expect(stats.kernels.hashFile?.completed).toBe(4);
    expect(stats.kernels.hashFile?.bytes).toBe(4 * content.length);
  });

  test('an empty file', async () => {
    const file = path.join(dir, 'empty');
    fs.writeFileSync(file, '');
    expect(hex(await threadpool.hashFile(file, 'sha256'))).toBe(crypto.createHash('sha256').digest('hex'));
  });

  test('a missing file rejects with ENOENT, syscall open, the path and errno, like fs', async () => {
    const missing = path.join(dir, 'does-not-exist');
    const error = await rejection(threadpool.hashFile(missing, 'sha256'));
    const fsError = await rejection(fs.promises.open(missing, 'r'));
    expect(error.code).toBe('ENOENT');
    expect(error.syscall).toBe('open');
    expect(error.path).toBe(missing);
    expect(error.errno).toBe(fsError.errno);
    expect(error.message).toContain('ENOENT');
    expect(error.message).toContain(missing);
  });

  test('a directory rejects with EISDIR', async () => {
    const error = await rejection(threadpool.hashFile(dir, 'sha256'));
    expect(error.code).toBe('EISDIR');
    expect(error.path).toBe(dir);
    expect(typeof error.syscall).toBe('string');
  });

  // Root bypasses file permissions: run as root, the check happens in a child process that runs
  // as the unprivileged user `nobody` (uid/gid 65534); otherwise in this process. One of the two
  // is skipped, by name.
  const asRoot = process.getuid?.() === 0;
  const unreadable = () => {
    const file = path.join(dir, 'secret');
    fs.writeFileSync(file, 'secret');
    fs.chmodSync(file, 0o000);
    fs.chmodSync(dir, 0o755);
    return file;
  };

  (asRoot ? test.skip : test)('an unreadable file rejects with EACCES (not root: in this process)', async () => {
    const file = unreadable();
    const error = await rejection(threadpool.hashFile(file, 'sha256'));
    expect(error.code).toBe('EACCES');
    expect(error.syscall).toBe('open');
    expect(error.path).toBe(file);
  });

  (asRoot ? test : test.skip)('an unreadable file rejects with EACCES (root: in a child running as nobody)', () => {
    const file = unreadable();
    const child = spawnSync(process.execPath, [path.join(FIXTURES, 'pool-child.js'), LIB, 'hash-file', file], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
      timeout: 20_000 * SLOWDOWN,
    });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({ code: 'EACCES', syscall: 'open', path: file, errno: -13 });
  });
});

describe('bad inputs give the documented error, never a crash', () => {
  /** Expects a synchronous throw with this name and code; `inMessage` must appear in the message. */
  test('wrong argument types: ERR_INVALID_ARG_TYPE, as node:crypto', () => {
    const pool = new ThreadPool();
    const any = pool as unknown as Record<string, (...args: unknown[]) => unknown>;
    expectThrow(() => any.hash(5, 'x'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"algorithm"');
    expectThrow(() => any.hash('sha256', 5), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"data"');
    expectThrow(() => any.hash('sha256', null), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"data"');
    expectThrow(() => any.hash('sha256', new ArrayBuffer(4)), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"data"');
    expectThrow(() => any.hmac('sha256', {}, 'x'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"key"');
    expectThrow(() => any.hmac('sha256', 'k', 7), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"data"');
    expectThrow(() => any.hmac(1, 'k', 'x'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"hmac"');
    expectThrow(() => any.hashMany('sha256', 'not an array'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"inputs"');
    expectThrow(() => any.hashMany('sha256', ['ok', 3]), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'inputs[1]');
    for (const jobs of ['2', null, {}]) {
      expectThrow(() => any.hashMany('sha256', ['ok'], { jobs }), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.jobs');
    }
    for (const jobs of [0, -1, 1.5, 1025, NaN]) {
      expectThrow(() => pool.hashMany('sha256', ['ok'], { jobs }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.jobs');
    }
    expectThrow(() => any.hashFile(42, 'sha256'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"path"');
    expectThrow(() => pool.hashFile('/tmp/a\0b', 'sha256'), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'path');
    expect(thrown(() => fs.openSync('/tmp/a\0b', 'r')).code).toBe('ERR_INVALID_ARG_VALUE');
    expectThrow(() => any.pbkdf2('p', 's', '1', 32, 'sha256'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"iterations"');
    expectThrow(() => any.scrypt('p', 's', '64'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"keylen"');
    expectThrow(() => any.sleep('5'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"ms"');
    expectThrow(() => any.hash('sha256', 'x', 'options'), 'TypeError', 'ERR_INVALID_ARG_TYPE', '"options"');
    // node:crypto agrees on the codes for the same mistakes.
    const nodeAny = crypto as unknown as Record<string, (...args: unknown[]) => { update: (d: unknown) => unknown }>;
    expect(thrown(() => nodeAny.createHash(5)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => nodeAny.createHash('sha256').update(5)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => nodeAny.createHmac('sha256', {})).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(pool.stats().submitted).toBe(0);
  });

  test('unknown algorithm: TypeError ERR_CRYPTO_INVALID_DIGEST from every call that takes one', () => {
    const pool = new ThreadPool();
    for (const call of [
      () => pool.hash('nope', 'x'),
      () => pool.hashMany('nope', ['x']),
      () => pool.hmac('nope', 'k', 'x'),
      () => pool.hashFile(__filename, 'nope'),
      () => pool.createHasher('nope'),
      () => pool.pbkdf2('p', 's', 1, 32, 'nope'),
    ]) {
      expectThrow(call, 'TypeError', 'ERR_CRYPTO_INVALID_DIGEST', 'nope');
    }
    // node:crypto's pbkdf2 uses the same code.
    expect(thrown(() => crypto.pbkdf2Sync('p', 's', 1, 32, 'nope')).code).toBe('ERR_CRYPTO_INVALID_DIGEST');
    expect(pool.stats().submitted).toBe(0);
  });

  test('negative or fractional keylen, iterations 0, bad outputLength: RangeError ERR_OUT_OF_RANGE naming the argument', () => {
    const pool = new ThreadPool();
    const cases: [() => unknown, string, () => unknown][] = [
      [() => pool.pbkdf2('p', 's', 1, -1, 'sha256'), 'keylen', () => crypto.pbkdf2Sync('p', 's', 1, -1, 'sha256')],
      [() => pool.pbkdf2('p', 's', 1, 1.5, 'sha256'), 'keylen', () => crypto.pbkdf2Sync('p', 's', 1, 1.5, 'sha256')],
      [() => pool.pbkdf2('p', 's', 0, 32, 'sha256'), 'iterations', () => crypto.pbkdf2Sync('p', 's', 0, 32, 'sha256')],
      [() => pool.pbkdf2('p', 's', 2.5, 32, 'sha256'), 'iterations', () => crypto.pbkdf2Sync('p', 's', 2.5, 32, 'sha256')],
      [() => pool.scrypt('p', 's', -1), 'keylen', () => crypto.scryptSync('p', 's', -1)],
      [() => pool.scrypt('p', 's', 0.5), 'keylen', () => crypto.scryptSync('p', 's', 0.5)],
      [
        () => pool.hash('shake256', 'x', { outputLength: -1 }),
        'outputLength',
        () => crypto.createHash('shake256', { outputLength: -1 }),
      ],
      [
        () => pool.hash('shake256', 'x', { outputLength: 1.5 }),
        'outputLength',
        () => crypto.createHash('shake256', { outputLength: 1.5 }),
      ],
    ];
    for (const [call, argument, nodeCall] of cases) {
      expectThrow(call, 'RangeError', 'ERR_OUT_OF_RANGE', argument);
      expect(thrown(nodeCall).code).toBe('ERR_OUT_OF_RANGE');
    }
    expectThrow(() => pool.sleep(-1), 'RangeError', 'ERR_OUT_OF_RANGE', '"ms"');
    expectThrow(() => pool.spin(Number.NaN), 'RangeError', 'ERR_OUT_OF_RANGE', '"ms"');
    expect(pool.stats().submitted).toBe(0);
  });

  test('a detached buffer (typed array, via structuredClone or MessagePort transfer) is a TypeError ERR_INVALID_ARG_VALUE', () => {
    const pool = new ThreadPool();
    const detach = (view: ArrayBufferView) => structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });

    const u8 = new Uint8Array(16);
    detach(u8);
    expectThrow(() => pool.hash('sha256', u8), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'data');

    const viaChannel = new Uint8Array(32);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(viaChannel.buffer, [viaChannel.buffer]);
    port1.close();
    port2.close();
    expectThrow(() => pool.hmac('sha256', 'key', viaChannel), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'data');
    expectThrow(() => pool.hmac('sha256', viaChannel, 'data'), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'key');
    expectThrow(() => pool.pbkdf2(viaChannel, 'salt', 1, 8, 'sha256'), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'password');
    expectThrow(() => pool.createHasher('sha256').update(viaChannel), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'data');
    expectThrow(() => pool.hashMany('sha256', ['ok', viaChannel]), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'inputs[1]');

    expect(pool.stats().submitted).toBe(0);
  });

  test('a DataView over a detached ArrayBuffer is a TypeError ERR_INVALID_ARG_VALUE too', () => {
    const pool = new ThreadPool();
    const dv = new DataView(new ArrayBuffer(8));
    structuredClone(dv.buffer, { transfer: [dv.buffer] });
    expectThrow(() => pool.hash('sha256', dv), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'data');
    expectThrow(() => pool.hmac('sha256', dv, 'x'), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'key');
    expect(pool.stats().submitted).toBe(0);
  });

  test('an empty, not detached, buffer is fine', async () => {
    const empty = new Uint8Array(new ArrayBuffer(0));
    expect(hex(await threadpool.hash('sha256', empty))).toBe(crypto.createHash('sha256').digest('hex'));
  });

  test('scrypt over maxmem or with bad N: RangeError ERR_CRYPTO_INVALID_SCRYPT_PARAMS, thrown synchronously, nothing queued', () => {
    const pool = new ThreadPool();
    const cases: [crypto.ScryptOptions, number][] = [
      [{ N: 16384, r: 8, p: 1, maxmem: 16 * 1024 * 1024 }, 64], // needs about 16.8 MB
      [{ N: 1 << 20, r: 8, p: 1 }, 64], // about 1 GiB, over the 32 MiB default
      [{ N: 3, r: 1, p: 1 }, 64], // not a power of two
      [{ N: 1, r: 1, p: 1 }, 64],
    ];
    for (const [params, keylen] of cases) {
      const error = expectThrow(() => pool.scrypt('pw', 'salt', keylen, params), 'RangeError', 'ERR_CRYPTO_INVALID_SCRYPT_PARAMS');
      expect(error).toBeInstanceOf(RangeError);
      expect(thrown(() => crypto.scryptSync('pw', 'salt', keylen, params)).code).toBe('ERR_CRYPTO_INVALID_SCRYPT_PARAMS');
    }
    expectThrow(() => pool.scrypt('p', 's', 8, { N: 16, cost: 16 }), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'params.cost');
    expect(pool.stats().submitted).toBe(0);
    expect(pool.stats().inFlight).toBe(0);
  });

  test('non-XOF digest with outputLength other than its size: ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH (as node:crypto)', () => {
    const pool = new ThreadPool();
    expectThrow(() => pool.hash('sha256', 'x', { outputLength: 5 }), 'Error', 'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH');
    expectThrow(() => pool.hashMany('sha1', ['x'], { outputLength: 64 }), 'Error', 'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH');
    expectThrow(() => pool.createHasher('md5', { outputLength: 0 }), 'Error', 'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH');
    expectThrow(() => pool.hashFile(__filename, 'sha512', { outputLength: 1 }), 'Error', 'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH');
    expect(thrown(() => crypto.createHash('sha256', { outputLength: 5 }).digest()).code).toBe(
      'ERR_OSSL_EVP_NOT_XOF_OR_INVALID_LENGTH',
    );
    expect(pool.stats().submitted).toBe(0);
  });

  test('createHasher: update or digest after digest throws ERR_CRYPTO_HASH_FINALIZED (as node:crypto)', async () => {
    const hasher = threadpool.createHasher('sha256');
    void hasher.update('a');
    const digest = hasher.digest();
    expectThrow(() => hasher.update('b'), 'Error', 'ERR_CRYPTO_HASH_FINALIZED');
    expectThrow(() => hasher.digest(), 'Error', 'ERR_CRYPTO_HASH_FINALIZED');
    expect(hex(await digest)).toBe(crypto.createHash('sha256').update('a').digest('hex'));
    const node = crypto.createHash('sha256');
    node.digest();
    expect(thrown(() => node.update('b')).code).toBe('ERR_CRYPTO_HASH_FINALIZED');
  });

  test('options.signal not an AbortSignal: ERR_INVALID_ARG_TYPE', () => {
    const pool = new ThreadPool();
    const notSignals: unknown[] = [{}, { aborted: false, addEventListener() {} }, 'signal', 1, new AbortController()];
    for (const signal of notSignals) {
      expectThrow(() => pool.noop({ signal } as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.signal');
      expectThrow(() => pool.hash('sha256', 'x', { signal } as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.signal');
    }
    expect(pool.stats().submitted).toBe(0);
  });

  test('ThreadPool options: maxConcurrency 0 / 1.5 / 2000 are RangeErrors; maxQueue needs maxConcurrency', () => {
    for (const maxConcurrency of [0, -1, 1.5, 2000]) {
      expectThrow(() => new ThreadPool({ maxConcurrency }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.maxConcurrency');
    }
    expectThrow(() => new ThreadPool({ maxConcurrency: '2' as never }), 'TypeError', 'ERR_INVALID_ARG_TYPE');
    expectThrow(() => new ThreadPool({ maxConcurrency: 1, maxQueue: -1 }), 'RangeError', 'ERR_OUT_OF_RANGE', 'options.maxQueue');
    expectThrow(() => new ThreadPool({ maxQueue: 5 }), 'TypeError', 'ERR_INVALID_ARG_VALUE', 'options.maxQueue');
    expectThrow(() => new ThreadPool(null as never), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options');
    expect(new ThreadPool({ maxConcurrency: 1024 }).maxConcurrency).toBe(1024);
    expect(new ThreadPool().maxConcurrency).toBe(0);
  });

  test('after all of the above the default pool still works and nothing is left in flight', async () => {
    expect(hex(await threadpool.hash('sha256', 'still alive'))).toBe(
      crypto.createHash('sha256').update('still alive').digest('hex'),
    );
    expect(threadpool.stats().inFlight).toBe(0);
  });
});

describe('inputs: a copy up to COPY_LIMIT_BYTES by default, zeroCopy true/false decide', () => {
  const sha256 = (data: crypto.BinaryLike) => crypto.createHash('sha256').update(data).digest('hex');

  /**
   * Runs `submit` while a one-thread pool is held by a sleep job, so the jobs it submits wait in
   * uvscope's queue; `mutate` runs before they can start; then the sleep is aborted.
   */
  async function whileQueued<T>(submit: (pool: ThreadPool) => Promise<T>, mutate: () => void): Promise<T> {
    const pool = new ThreadPool({ maxConcurrency: 1 });
    const hold = new AbortController();
    const blocker = pool.sleep(60_000, { signal: hold.signal }).catch((error) => {
      if (error?.code !== 'ABORT_ERR') throw error;
    });
    const job = submit(pool);
    expect(pool.stats().queued).toBeGreaterThan(0);
    mutate();
    hold.abort();
    await blocker;
    return job;
  }

  test('copied inputs are digested as they were at the call; in-place ones as they are when the job runs', async () => {
    expect(COPY_LIMIT_BYTES).toBe(16 * 1024);
    const small = crypto.randomBytes(COPY_LIMIT_BYTES);
    const large = crypto.randomBytes(100_000);
    const inputs = {
      smallDefault: Buffer.from(small), // copied
      smallZeroCopy: Buffer.from(small), // in place
      largeDefault: Buffer.from(large), // in place
      largeCopied: Buffer.from(large), // zeroCopy: false, copied
      hmacSmall: Buffer.from(small), // copied
      hmacLarge: Buffer.from(large), // zeroCopy: false, copied
    };
    const digests = await whileQueued(
      (pool) =>
        Promise.all([
          pool.hash('sha256', inputs.smallDefault),
          pool.hash('sha256', inputs.smallZeroCopy, { zeroCopy: true }),
          pool.hash('sha256', inputs.largeDefault),
          pool.hash('sha256', inputs.largeCopied, { zeroCopy: false }),
          pool.hmac('sha256', 'k', inputs.hmacSmall),
          pool.hmac('sha256', 'k', inputs.hmacLarge, { zeroCopy: false }),
        ]),
      () => Object.values(inputs).forEach((buffer, i) => buffer.fill(i + 1)),
    );
    const hmac = (data: Buffer) => crypto.createHmac('sha256', 'k').update(data).digest('hex');
    expect(digests.map(hex)).toEqual([
      sha256(small),
      sha256(inputs.smallZeroCopy), // the bytes after the change
      sha256(inputs.largeDefault), // the bytes after the change
      sha256(large),
      hmac(small),
      hmac(large),
    ]);
  });

  test('hashMany copies what needs copying (views, not strings or SharedArrayBuffers) and keeps the order', async () => {
    const a = crypto.randomBytes(3000); // under COPY_LIMIT_BYTES: copied
    const b = new Uint16Array([1, 2, 3, 4]);
    const shared = new Uint8Array(new SharedArrayBuffer(64)).fill(7);
    const inputs = [Buffer.from(a), 'text', shared, new Uint8Array(0), new DataView(b.slice().buffer)];
    const expected = [sha256(a), sha256('text'), sha256(Buffer.from(shared)), sha256(''), sha256(new Uint8Array(b.buffer))];
    const digests = await whileQueued(
      (pool) => pool.hashMany('sha256', inputs),
      () => {
        (inputs[0] as Buffer).fill(0);
        new Uint8Array((inputs[4] as DataView).buffer).fill(9);
      },
    );
    expect(digests.map(hex)).toEqual(expected);
    // A SharedArrayBuffer is read in place (it cannot be detached): its later bytes count.
    const sharedDigests = await whileQueued(
      (pool) => pool.hashMany('sha256', [shared]),
      () => shared.fill(8),
    );
    expect(sharedDigests.map(hex)).toEqual([sha256(Buffer.alloc(64, 8))]);
  });

  test('Hasher.update feeds a small chunk as it was at the call', async () => {
    const chunk = crypto.randomBytes(5000);
    const expected = sha256(Buffer.concat([chunk, chunk]));
    const hasher = threadpool.createHasher('sha256');
    const view = Buffer.from(chunk);
    const first = hasher.update(new DataView(view.buffer, view.byteOffset, view.byteLength)); // any view
    view.fill(0); // the copy was taken at the call, whether or not the step has run
    view.set(chunk);
    const second = hasher.update(view);
    view.fill(0);
    await Promise.all([first, second]);
    expect(hex(await hasher.digest())).toBe(expected);
  });

  test('options.zeroCopy must be a boolean', () => {
    const pool = new ThreadPool();
    for (const zeroCopy of ['yes', 1, null]) {
      const options = { zeroCopy } as never;
      expectThrow(() => pool.hash('sha256', 'x', options), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.zeroCopy');
      expectThrow(() => pool.hashMany('sha256', ['x'], options), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.zeroCopy');
      expectThrow(() => pool.hmac('sha256', 'k', 'x', options), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.zeroCopy');
      expectThrow(() => pool.createHasher('sha256').update('x', options), 'TypeError', 'ERR_INVALID_ARG_TYPE', 'options.zeroCopy');
    }
    expect(pool.stats().submitted).toBe(0);
  });
});

describe('AsyncLocalStorage', () => {
  test('the store flows from submission to settlement: after await and in .then', async () => {
    const als = new AsyncLocalStorage<{ id: number }>();
    const seen: unknown[] = [];
    const run = (id: number) =>
      als.run({ id }, async () => {
        const viaThen = threadpool.hash('sha256', 'x').then(() => seen.push(['then', id, als.getStore()]));
        await threadpool.sleep(5);
        seen.push(['await sleep', id, als.getStore()]);
        await threadpool.hash('sha256', Buffer.alloc(1000));
        seen.push(['await hash', id, als.getStore()]);
        await threadpool.scrypt('p', 's', 16, { N: 16, r: 1, p: 1 }).catch(() => undefined);
        seen.push(['await scrypt', id, als.getStore()]);
        await viaThen;
      });
    // Interleaved contexts: settlements of one context's jobs must not leak into another's.
    await Promise.all([run(1), run(2), run(3)]);
    expect(als.getStore()).toBeUndefined();
    expect(seen).toHaveLength(12);
    for (const [, id, store] of seen as [string, number, unknown][]) expect(store).toEqual({ id });
  });

  test('the store flows into rejection handlers too (hashFile of a missing file)', async () => {
    const als = new AsyncLocalStorage<string>();
    const store = await als.run('ctx', () =>
      threadpool.hashFile('/nonexistent/uvscope', 'sha256').then(
        () => 'resolved?',
        () => als.getStore(),
      ),
    );
    expect(store).toBe('ctx');
  });
});
