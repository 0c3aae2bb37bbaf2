/**
 * HKDF and Argon2 on the pool. HKDF against crypto.hkdfSync and RFC 5869's test cases 1-3 and
 * 4 (SHA-1); Argon2 against RFC 9106 section 5's vectors and, where this Node has it (24.7+),
 * crypto.argon2Sync, wherever the running OpenSSL has Argon2 (3.2+); where it does not
 * (Node 20's OpenSSL 3.0), the documented rejection. The same binary runs every one of these
 * Nodes (scripts/node-matrix.sh), so each branch is taken on some Node of the matrix.
 */
import crypto from 'node:crypto';

import { kdfs, ThreadPool, threadpool } from '../../src';
import { rejection, thrown } from '../helpers';

const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex');
const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const [major, minor] = process.versions.openssl.split('.').map(Number);
const OPENSSL_HAS_ARGON2 = major > 3 || (major === 3 && minor >= 2);
type Argon2Sync = (algorithm: string, parameters: object) => Buffer;
const nodeArgon2 = (crypto as unknown as { argon2Sync?: Argon2Sync }).argon2Sync;

describe('hkdf', () => {
  test('equals crypto.hkdfSync (an ArrayBuffer) for several digests, lengths and empty inputs', async () => {
    const cases: [string, string | Buffer, string | Buffer, string | Buffer, number][] = [
      ['sha256', 'key', 'salt', 'info', 64],
      ['sha512', '', '', '', 100],
      ['sha1', crypto.randomBytes(80), crypto.randomBytes(3), crypto.randomBytes(1024), 255 * 20],
      ['sha3-256', 'k', Buffer.alloc(0), 'x', 1],
      ['sha384', 'k', 's', 'i', 0],
      ['md5', 'k', 's', 'i', 17],
    ];
    for (const [digest, ikm, salt, info, keylen] of cases) {
      const ours = await threadpool.hkdf(digest, ikm, salt, info, keylen);
      expect(Object.prototype.toString.call(ours)).toBe('[object ArrayBuffer]');
      // keylen 0: an empty ArrayBuffer, as Node 20's crypto.hkdf gives (OpenSSL 3.5, in Node 24
      // and later, refuses to derive 0 bytes: crypto.hkdf throws there).
      expect(hex(ours)).toBe(keylen === 0 ? '' : hex(crypto.hkdfSync(digest, ikm, salt, info, keylen)));
    }
    const key = crypto.createSecretKey(Buffer.from('secret key object'));
    expect(hex(await threadpool.hkdf('sha256', key, 's', 'i', 42))).toBe(hex(crypto.hkdfSync('sha256', key, 's', 'i', 42)));
  });

  // RFC 5869 appendix A, test cases 1-4.
  const vectors = [
    {
      id: 1, digest: 'sha256', ikm: '0b'.repeat(22), salt: '000102030405060708090a0b0c', info: 'f0f1f2f3f4f5f6f7f8f9', length: 42,
      okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    },
    {
      id: 2, digest: 'sha256',
      ikm: Array.from({ length: 80 }, (_, i) => i.toString(16).padStart(2, '0')).join(''),
      salt: Array.from({ length: 80 }, (_, i) => (0x60 + i).toString(16).padStart(2, '0')).join(''),
      info: Array.from({ length: 80 }, (_, i) => (0xb0 + i).toString(16).padStart(2, '0')).join(''),
      length: 82,
      okm:
        'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09' +
        'da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87',
    },
    {
      id: 3, digest: 'sha256', ikm: '0b'.repeat(22), salt: '', info: '', length: 42,
      okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    },
    {
      id: 4, digest: 'sha1', ikm: '0b'.repeat(11), salt: '000102030405060708090a0b0c', info: 'f0f1f2f3f4f5f6f7f8f9', length: 42,
      okm: '085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896',
    },
  ];
  test.each(vectors)('RFC 5869 test case $id', async ({ digest, ikm, salt, info, length, okm }) => {
    expect(hex(await threadpool.hkdf(digest, unhex(ikm), unhex(salt), unhex(info), length))).toBe(okm);
  });

  test("node:crypto's refusals: bad digest, XOF, info over 1024 bytes, keylen over 255 x the hash length", () => {
    const pool = new ThreadPool();
    const refusal = (fn: () => unknown) => {
      const e = thrown(fn);
      return [e.name, e.code];
    };
    expect(refusal(() => pool.hkdf('nope', 'k', 's', 'i', 1))).toEqual(['TypeError', 'ERR_CRYPTO_INVALID_DIGEST']);
    expect(refusal(() => pool.hkdf('shake256', 'k', 's', 'i', 1))).toEqual(['TypeError', 'ERR_CRYPTO_INVALID_DIGEST']);
    expect(refusal(() => pool.hkdf('sha256', 'k', 's', Buffer.alloc(1025), 1))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(refusal(() => pool.hkdf('sha256', 'k', 's', 'i', 255 * 32 + 1))).toEqual(
      refusal(() => crypto.hkdfSync('sha256', 'k', 's', 'i', 255 * 32 + 1)),
    );
    expect(refusal(() => pool.hkdf('sha256', 'k', 's', 'i', -1))).toEqual(refusal(() => crypto.hkdfSync('sha256', 'k', 's', 'i', -1)));
    expect(refusal(() => pool.hkdf('sha256', 42 as never, 's', 'i', 1))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(pool.stats().submitted).toBe(0);
  });
});

describe('argon2', () => {
  // RFC 9106 section 5: 32 bytes of 0x01, salt 16 x 0x02, secret 8 x 0x03, associated data 12 x 0x04.
  const parameters = {
    message: Buffer.alloc(32, 0x01),
    nonce: Buffer.alloc(16, 0x02),
    secret: Buffer.alloc(8, 0x03),
    associatedData: Buffer.alloc(12, 0x04),
    parallelism: 4,
    tagLength: 32,
    memory: 32,
    passes: 3,
  };
  const rfc9106 = [
    ['argon2d', '512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb'],
    ['argon2i', 'c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8'],
    ['argon2id', '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659'],
  ] as const;

  test('kdfs() lists the Argon2 variants exactly where the running OpenSSL has them (3.2+)', () => {
    const names = kdfs();
    expect(names.slice(0, 3)).toEqual(['hkdf', 'pbkdf2', 'scrypt']);
    expect(names.includes('argon2id')).toBe(OPENSSL_HAS_ARGON2);
    expect(threadpool.kdfs()).toEqual(names);
  });

  (OPENSSL_HAS_ARGON2 ? test.each(rfc9106) : test.skip.each(rfc9106))('RFC 9106 section 5: %s', async (algorithm, tag) => {
    expect(hex(await threadpool.argon2(algorithm, parameters))).toBe(tag);
  });

  (OPENSSL_HAS_ARGON2 && nodeArgon2 ? test : test.skip)('equals crypto.argon2Sync over several parameter sets (Node 24.7+)', async () => {
    const sets = [
      { message: 'password', nonce: 'somesalt', parallelism: 1, tagLength: 4, memory: 8, passes: 1 },
      { message: '', nonce: crypto.randomBytes(8), parallelism: 3, tagLength: 65, memory: 100, passes: 2 },
      { message: crypto.randomBytes(100), nonce: crypto.randomBytes(32), parallelism: 2, tagLength: 32, memory: 64, passes: 1, secret: 'pepper' },
      { message: 'p', nonce: 'saltsalt', parallelism: 1, tagLength: 16, memory: 19 * 1024, passes: 2, associatedData: 'ad' },
    ];
    for (const algorithm of ['argon2d', 'argon2i', 'argon2id'] as const) {
      for (const set of sets) {
        expect(hex(await threadpool.argon2(algorithm, set))).toBe(hex(nodeArgon2!(algorithm, set)));
      }
    }
  });

  (OPENSSL_HAS_ARGON2 ? test.skip : test)('without Argon2 in OpenSSL (Node 20): a rejection with a code that names the OpenSSL version', async () => {
    const error = await rejection(threadpool.argon2('argon2id', parameters));
    expect(error.code).toBe('ERR_UVSCOPE_ARGON2_UNAVAILABLE');
    expect(error.message).toContain(process.versions.openssl);
  });

  test("crypto.argon2's refusals, thrown before anything is queued (on every Node)", () => {
    const pool = new ThreadPool();
    const refusal = (fn: () => unknown) => {
      const e = thrown(fn);
      return [e.name, e.code, e.message];
    };
    const cases: [string, object][] = [
      ['argon2x', parameters],
      ['argon2id', { ...parameters, nonce: Buffer.alloc(7) }],
      ['argon2id', { ...parameters, parallelism: 0 }],
      ['argon2id', { ...parameters, parallelism: 2 ** 24 }],
      ['argon2id', { ...parameters, tagLength: 3 }],
      ['argon2id', { ...parameters, memory: 31 }],
      ['argon2id', { ...parameters, passes: 0 }],
      ['argon2id', { ...parameters, passes: 2 ** 32 }],
      ['argon2id', { ...parameters, message: 5 }],
      ['argon2id', { ...parameters, tagLength: 1.5 }],
    ];
    for (const [algorithm, set] of cases) {
      const ours = refusal(() => pool.argon2(algorithm as 'argon2id', set as typeof parameters));
      if (nodeArgon2) {
        const theirs = refusal(() => nodeArgon2(algorithm, set));
        // Same class and code; messages agree except in how a property (ours: argument) is named.
        expect(ours.slice(0, 2)).toEqual(theirs.slice(0, 2));
        expect(String(ours[2]).replace(/^The "(parameters[^"]*)" argument/, 'The "$1" property')).toBe(theirs[2]);
      } else {
        expect(['TypeError', 'RangeError']).toContain(ours[0]);
      }
    }
    expect(refusal(() => pool.argon2('argon2id', null as never)).slice(0, 2)).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(pool.stats().submitted).toBe(0);
  });

  (OPENSSL_HAS_ARGON2 ? test : test.skip)('a queued derivation is cancelled by its signal; the job channel names it argon2', async () => {
    const pool = new ThreadPool({ maxConcurrency: 1 });
    const blocker = pool.sleep(20);
    const controller = new AbortController();
    const job = pool.argon2('argon2id', parameters, { signal: controller.signal });
    controller.abort('no');
    expect((await rejection(job)).name).toBe('AbortError');
    await blocker;
    expect(pool.stats().kernels.argon2?.cancelled).toBe(1);
  });
});
