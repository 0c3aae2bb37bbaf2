/**
 * Ciphers on the pool: encrypt/decrypt and streaming PoolCiphers against node:crypto's
 * createCipheriv/createDecipheriv (a code path with no uvscope in it) and against published
 * vectors typed in from their sources: the GCM specification's test cases (McGrew and Viega,
 * the AES-GCM vectors NIST's validation uses) and RFC 8439 section 2.8.2 (ChaCha20-Poly1305).
 * Also authentication failures (never plaintext), node:crypto's refusals before anything is
 * queued, abort, zero-copy rules and the job channel.
 */
import crypto from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';

import { JOB_CHANNEL, maxCipherOutput, ThreadPool, threadpool } from '../../src';
import { rejection, thrown } from '../helpers';

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const AEAD = new Set(['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305']);
const MAIN = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305', 'aes-256-ctr', 'aes-256-cbc'];

function keyAndIv(algorithm: string): [Buffer, Buffer] {
  const info = crypto.getCipherInfo(algorithm)!;
  return [crypto.randomBytes(info.keyLength), crypto.randomBytes(info.ivLength ?? 0)];
}

/** node:crypto's encryption: [ciphertext hex, tag hex or undefined]. */
function nodeEncrypt(algorithm: string, key: Buffer, iv: Buffer, data: Buffer, aad?: Buffer, authTagLength?: number) {
  const cipher = crypto.createCipheriv(algorithm, key, iv, authTagLength === undefined ? undefined : ({ authTagLength } as object)) as crypto.CipherGCM;
  if (aad) cipher.setAAD(aad);
  const out = Buffer.concat([cipher.update(data), cipher.final()]);
  return [out.toString('hex'), /gcm|poly1305/.test(algorithm) ? cipher.getAuthTag().toString('hex') : undefined] as [string, string | undefined];
}

/** Splits `data` into uneven chunks (views), none a multiple of 16 bytes by design. */
function chunks(data: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < n - 1 && at < data.length; i++) {
    const size = Math.min(data.length - at, Math.floor(data.length / n) + (i % 3) * 7 + 1);
    out.push(data.subarray(at, at + size));
    at += size;
  }
  out.push(data.subarray(at));
  return out;
}

describe('outputs equal node:crypto', () => {
  const sizes = [0, 1, 15, 16, 17, 1000, (1 << 20) + 3];

  test('ciphers() lists the five main ciphers, and every name it lists works with createCipheriv', () => {
    const names = threadpool.ciphers();
    for (const name of MAIN) expect(names).toContain(name);
    for (const name of ['aes-128-ccm', 'aes-256-ocb', 'aes-256-xts', 'id-aes256-wrap']) expect(names).not.toContain(name);
    for (const name of names) {
      const [key, iv] = keyAndIv(name);
      expect(() => crypto.createCipheriv(name, key, iv)).not.toThrow();
    }
  });

  test.each(MAIN)('%s: encrypt, decrypt and a streaming cipher over 0 B to 1 MiB, with and without AAD', async (algorithm) => {
    const [key, iv] = keyAndIv(algorithm);
    for (const size of sizes) {
      const data = crypto.randomBytes(size);
      for (const aad of AEAD.has(algorithm) ? [undefined, crypto.randomBytes(size % 40)] : [undefined]) {
        const [ciphertext, tag] = nodeEncrypt(algorithm, key, iv, data, aad);
        const result = await threadpool.encrypt(algorithm, key, iv, data, { aad });
        expect([hex(result.ciphertext), result.authTag && hex(result.authTag)]).toEqual([ciphertext, tag]);
        const authTag = result.authTag;
        expect(hex(await threadpool.decrypt(algorithm, key, iv, result.ciphertext, { aad, authTag }))).toBe(data.toString('hex'));

        const cipher = threadpool.createCipher(algorithm, key, iv, { aad });
        const parts: Buffer[] = [];
        for (const chunk of chunks(data, 5)) parts.push(await cipher.update(chunk));
        parts.push(await cipher.final());
        expect(Buffer.concat(parts).toString('hex')).toBe(ciphertext);
        if (tag) expect(hex(cipher.getAuthTag())).toBe(tag);

        const decipher = threadpool.createDecipher(algorithm, key, iv);
        if (aad) decipher.setAAD(aad);
        if (authTag) decipher.setAuthTag(authTag);
        // Steps called without awaiting run in order all the same.
        const steps = chunks(unhex(ciphertext), 4).map((chunk) => decipher.update(chunk));
        steps.push(decipher.final());
        expect(Buffer.concat(await Promise.all(steps)).toString('hex')).toBe(data.toString('hex'));
      }
    }
  });

  test('other ciphers of ciphers() (CFB, OFB, ECB, 192-bit keys) equal node:crypto too', async () => {
    const names = ['aes-192-gcm', 'aes-128-cfb', 'aes-256-ofb', 'aes-128-ecb', 'aes-192-cbc', 'aes-128-ctr', 'aes-256-cfb8', 'chacha20'];
    const available = threadpool.ciphers();
    for (const name of names.filter((n) => available.includes(n))) {
      const [key, iv] = keyAndIv(name);
      const data = crypto.randomBytes(333);
      const [ciphertext, tag] = nodeEncrypt(name, key, iv, data);
      const result = await threadpool.encrypt(name, key, iv.length ? iv : null, data);
      expect([name, hex(result.ciphertext), result.authTag && hex(result.authTag)]).toEqual([name, ciphertext, tag]);
    }
  });

  test('authTagLength: GCM 4, 8, 12 and 16 bytes, ChaCha20-Poly1305 8 and 16, equal node:crypto and decrypt', async () => {
    for (const [algorithm, lengths] of [['aes-256-gcm', [4, 8, 12, 13, 16]], ['chacha20-poly1305', [8, 16]]] as const) {
      const [key, iv] = keyAndIv(algorithm);
      const data = crypto.randomBytes(100);
      for (const authTagLength of lengths) {
        const [ciphertext, tag] = nodeEncrypt(algorithm, key, iv, data, undefined, authTagLength);
        const result = await threadpool.encrypt(algorithm, key, iv, data, { authTagLength });
        expect([hex(result.ciphertext), hex(result.authTag!)]).toEqual([ciphertext, tag]);
        const plain = await threadpool.decrypt(algorithm, key, iv, result.ciphertext, { authTag: result.authTag, authTagLength });
        expect(hex(plain)).toBe(data.toString('hex'));
      }
    }
  });

  test('GCM with IVs of 1, 8, 16 and 60 bytes equals node:crypto', async () => {
    const key = crypto.randomBytes(16);
    for (const ivLength of [1, 8, 16, 60]) {
      const iv = crypto.randomBytes(ivLength);
      const data = crypto.randomBytes(50);
      const result = await threadpool.encrypt('aes-128-gcm', key, iv, data);
      expect([hex(result.ciphertext), hex(result.authTag!)]).toEqual(nodeEncrypt('aes-128-gcm', key, iv, data));
    }
  });

  test('CBC with autoPadding false equals setAutoPadding(false); strings are UTF-8; keys may be secret KeyObjects', async () => {
    const [key, iv] = keyAndIv('aes-256-cbc');
    const data = crypto.randomBytes(64);
    const node = crypto.createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
    const expected = Buffer.concat([node.update(data), node.final()]).toString('hex');
    expect(hex((await threadpool.encrypt('aes-256-cbc', key, iv, data, { autoPadding: false })).ciphertext)).toBe(expected);
    const text = 'héllo, pool ✓';
    expect(hex((await threadpool.encrypt('aes-256-cbc', crypto.createSecretKey(key), iv, text)).ciphertext)).toBe(
      nodeEncrypt('aes-256-cbc', key, iv, Buffer.from(text, 'utf8'))[0],
    );
  });
});

describe('published vectors', () => {
  const P60 =
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
    '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39';
  const P64 = `${P60}1aafd255`;
  const A = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
  const K128 = 'feffe9928665731c6d6a8f9467308308';
  // The GCM specification's test cases 1-5 (AES-128) and 13, 14, 16 (AES-256).
  const gcm = [
    { id: 1, key: '00'.repeat(16), iv: '00'.repeat(12), p: '', a: '', c: '', t: '58e2fccefa7e3061367f1d57a4e7455a' },
    { id: 2, key: '00'.repeat(16), iv: '00'.repeat(12), p: '00'.repeat(16), a: '', c: '0388dace60b6a392f328c2b971b2fe78', t: 'ab6e47d42cec13bdf53a67b21257bddf' },
    {
      id: 3, key: K128, iv: 'cafebabefacedbaddecaf888', p: P64, a: '',
      c: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985',
      t: '4d5c2af327cd64a62cf35abd2ba6fab4',
    },
    {
      id: 4, key: K128, iv: 'cafebabefacedbaddecaf888', p: P60, a: A,
      c: '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
      t: '5bc94fbc3221a5db94fae95ae7121a47',
    },
    {
      id: 5, key: K128, iv: 'cafebabefacedbad', p: P60, a: A,
      c: '61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598',
      t: '3612d2e79e3b0785561be14aaca2fccb',
    },
    { id: 13, key: '00'.repeat(32), iv: '00'.repeat(12), p: '', a: '', c: '', t: '530f8afbc74536b9a963b4f1c4cb738b' },
    { id: 14, key: '00'.repeat(32), iv: '00'.repeat(12), p: '00'.repeat(16), a: '', c: 'cea7403d4d606b6e074ec5d3baf39d18', t: 'd0d1c8a799996bf0265b98b5d48ab919' },
    {
      id: 16, key: K128 + K128, iv: 'cafebabefacedbaddecaf888', p: P60, a: A,
      c: '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
      t: '76fc6ece0f4e1768cddf8853bb2d551b',
    },
  ];

  test.each(gcm)('AES-GCM test case $id: encrypt and decrypt', async ({ key, iv, p, a, c, t }) => {
    const algorithm = key.length === 32 ? 'aes-128-gcm' : 'aes-256-gcm';
    const aad = a ? unhex(a) : undefined;
    const result = await threadpool.encrypt(algorithm, unhex(key), unhex(iv), unhex(p), { aad });
    expect([hex(result.ciphertext), hex(result.authTag!)]).toEqual([c, t]);
    expect(hex(await threadpool.decrypt(algorithm, unhex(key), unhex(iv), unhex(c), { aad, authTag: unhex(t) }))).toBe(p);
  });

  test('RFC 8439 section 2.8.2: ChaCha20-Poly1305 AEAD, one-shot and streaming', async () => {
    const key = unhex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const iv = unhex('070000004041424344454647');
    const aad = unhex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    const ciphertext =
      'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
      '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116';
    const tag = '1ae10b594f09e26a7e902ecbd0600691';
    const result = await threadpool.encrypt('chacha20-poly1305', key, iv, plaintext, { aad });
    expect([hex(result.ciphertext), hex(result.authTag!)]).toEqual([ciphertext, tag]);
    const decipher = threadpool.createDecipher('chacha20-poly1305', key, iv, { aad, authTag: unhex(tag) });
    const out = Buffer.concat([await decipher.update(unhex(ciphertext).subarray(0, 50)), await decipher.update(unhex(ciphertext).subarray(50)), await decipher.final()]);
    expect(out.toString('utf8')).toBe(plaintext);
  });
});

describe('authentication failures reject with a code, never with plaintext', () => {
  test.each([...AEAD])('%s: a flipped ciphertext bit, a wrong tag, a truncated tag or other AAD: ERR_UVSCOPE_AUTH_FAILED', async (algorithm) => {
    const [key, iv] = keyAndIv(algorithm);
    const data = crypto.randomBytes(3000);
    const aad = Buffer.from('header');
    const { ciphertext, authTag } = await threadpool.encrypt(algorithm, key, iv, data, { aad });
    const flipped = Buffer.from(ciphertext);
    flipped[1234] ^= 0x10;
    const wrongTag = Buffer.from(authTag!);
    wrongTag[0] ^= 1;
    const cases: [Buffer, Buffer, Buffer | undefined][] = [
      [flipped, authTag!, aad],
      [ciphertext, wrongTag, aad],
      [ciphertext, authTag!, Buffer.from('Header')],
      [ciphertext, authTag!, undefined],
    ];
    for (const [input, tag, withAad] of cases) {
      const error = await rejection(threadpool.decrypt(algorithm, key, iv, input, { aad: withAad, authTag: tag }));
      expect({ name: error.name, code: error.code, message: error.message }).toEqual({
        name: 'Error',
        code: 'ERR_UVSCOPE_AUTH_FAILED',
        message: 'Unsupported state or unable to authenticate data',
      });
    }
    // Streaming: final() rejects the same way.
    const decipher = threadpool.createDecipher(algorithm, key, iv, { aad, authTag: wrongTag });
    await decipher.update(ciphertext);
    expect((await rejection(decipher.final())).code).toBe('ERR_UVSCOPE_AUTH_FAILED');
    expect(threadpool.stats().inFlight).toBe(0);
  });

  test('CBC with bad padding or a partial block rejects with node:crypto codes', async () => {
    const [key, iv] = keyAndIv('aes-256-cbc');
    // Blocks that decrypt to zeros: a last byte of 0 is never valid PKCS#7 padding.
    const { ciphertext } = await threadpool.encrypt('aes-256-cbc', key, iv, Buffer.alloc(32), { autoPadding: false });
    const bad = await rejection(threadpool.decrypt('aes-256-cbc', key, iv, ciphertext));
    expect(bad.code).toBe('ERR_OSSL_BAD_DECRYPT');
    expect(hex(await threadpool.decrypt('aes-256-cbc', key, iv, ciphertext, { autoPadding: false }))).toBe('00'.repeat(32));
    const partial = await rejection(threadpool.decrypt('aes-256-cbc', key, iv, crypto.randomBytes(20)));
    expect(partial.code).toBe('ERR_OSSL_WRONG_FINAL_BLOCK_LENGTH');
  });
});

describe("bad arguments are refused before anything is queued, with node:crypto's errors", () => {
  const pool = new ThreadPool();
  const expectLikeNode = (ours: () => unknown, theirs: () => unknown) => {
    const a = thrown(ours);
    const b = thrown(theirs);
    expect({ name: a.name, code: a.code, message: a.message }).toEqual({ name: b.name, code: b.code, message: b.message });
  };

  test('key and iv lengths, tag lengths and unknown ciphers', () => {
    const key32 = Buffer.alloc(32);
    const iv12 = Buffer.alloc(12);
    const cases: [string, Buffer, Buffer | null, number | undefined][] = [
      ['aes-256-gcm', Buffer.alloc(31), iv12, undefined],
      ['aes-256-gcm', key32, Buffer.alloc(0), undefined],
      ['aes-256-gcm', key32, iv12, 3],
      ['aes-256-gcm', key32, iv12, 17],
      ['aes-256-cbc', key32, Buffer.alloc(15), undefined],
      ['aes-256-cbc', key32, null, undefined],
      ['aes-128-gcm', key32, iv12, undefined],
      ['chacha20-poly1305', key32, Buffer.alloc(13), undefined],
      ['chacha20-poly1305', key32, iv12, 17],
      ['aes-256-ctr', Buffer.alloc(16), Buffer.alloc(16), undefined],
      ['no-such-cipher', key32, iv12, undefined],
    ];
    for (const [algorithm, key, iv, authTagLength] of cases) {
      const options = authTagLength === undefined ? undefined : { authTagLength };
      expectLikeNode(
        () => pool.encrypt(algorithm, key, iv, 'data', options),
        () => crypto.createCipheriv(algorithm, key, iv, options as crypto.CipherGCMOptions),
      );
      expectLikeNode(
        () => pool.createDecipher(algorithm, key, iv, options),
        () => crypto.createDecipheriv(algorithm, key, iv, options as crypto.CipherGCMOptions),
      );
    }
    // A tag node:crypto's setAuthTag refuses.
    expectLikeNode(
      () => pool.decrypt('aes-256-gcm', key32, iv12, 'x', { authTag: Buffer.alloc(5) }),
      () => crypto.createDecipheriv('aes-256-gcm', key32, iv12).setAuthTag(Buffer.alloc(5)),
    );
    expect(pool.stats().submitted).toBe(0);
  });

  test("uvscope's own refusals: modes that cannot run chunk by chunk, AEAD without a tag, AAD or tags for other ciphers", () => {
    const key = Buffer.alloc(32);
    const refusal = (fn: () => unknown) => {
      const e = thrown(fn);
      return [e.name, e.code];
    };
    expect(refusal(() => pool.encrypt('aes-256-ccm', key, Buffer.alloc(12), 'x'))).toEqual(['TypeError', 'ERR_UVSCOPE_UNSUPPORTED_CIPHER']);
    expect(refusal(() => pool.decrypt('aes-256-gcm', key, Buffer.alloc(12), 'x'))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(refusal(() => pool.encrypt('aes-256-cbc', key, Buffer.alloc(16), 'x', { aad: 'h' }))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE']);
    expect(refusal(() => pool.decrypt('aes-256-ctr', key, Buffer.alloc(16), 'x', { authTag: Buffer.alloc(16) }))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE']);
    expect(refusal(() => pool.encrypt('aes-256-ctr', key, Buffer.alloc(16), 42 as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(refusal(() => pool.encrypt('aes-256-ctr', key, Buffer.alloc(16), 'x', { authTagLength: 1.5 }))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE']);
    expect(refusal(() => pool.encrypt('aes-256-ctr', key, Buffer.alloc(16), 'x', { zeroCopy: 1 as never }))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE']);
    expect(pool.stats().submitted).toBe(0);
  });

  test('streaming misuse: ERR_INVALID_STATE', async () => {
    const [key, iv] = keyAndIv('aes-256-gcm');
    const cipher = pool.createCipher('aes-256-gcm', key, iv);
    expect(thrown(() => cipher.getAuthTag()).code).toBe('ERR_INVALID_STATE');
    expect(thrown(() => cipher.setAuthTag(Buffer.alloc(16))).code).toBe('ERR_INVALID_STATE');
    await cipher.update('abc');
    expect(thrown(() => cipher.setAAD('late')).code).toBe('ERR_INVALID_STATE');
    await cipher.final();
    expect(thrown(() => cipher.update('more')).code).toBe('ERR_INVALID_STATE');
    expect(thrown(() => cipher.final()).code).toBe('ERR_INVALID_STATE');
    const decipher = pool.createDecipher('aes-256-gcm', key, iv);
    expect(thrown(() => decipher.final()).code).toBe('ERR_INVALID_STATE'); // no tag yet
  });
});

describe('options.output: the output written into memory of the caller', () => {
  const SIZES = [0, 1, 15, 16, 17, 4096, 100_003];

  test.each(MAIN)('%s: encrypt and decrypt into views of all kinds equal node:crypto, and nothing past the output is written', async (algorithm) => {
    const [key, iv] = keyAndIv(algorithm);
    for (const size of SIZES) {
      const data = crypto.randomBytes(size);
      const [expected, expectedTag] = nodeEncrypt(algorithm, key, iv, data);
      const room = maxCipherOutput(algorithm, size, true);
      // A Uint16Array view 6 bytes into a larger ArrayBuffer, sentinel bytes around it.
      const memory = new ArrayBuffer(room + (room % 2) + 16);
      new Uint8Array(memory).fill(0xa5);
      const output = new Uint16Array(memory, 6, (room + (room % 2)) / 2);
      const { ciphertext, authTag } = await threadpool.encrypt(algorithm, key, iv, data, { output });
      expect([hex(ciphertext), authTag && hex(authTag)]).toEqual([expected, expectedTag]);
      expect([ciphertext.buffer, ciphertext.byteOffset]).toEqual([memory, 6]);
      const after = new Uint8Array(memory, 6 + ciphertext.length);
      expect(after.every((b) => b === 0xa5)).toBe(true);
      expect(new Uint8Array(memory, 0, 6).every((b) => b === 0xa5)).toBe(true);

      // Decryption needs room for the ciphertext's length (the plaintext is known only after padding is checked).
      const plainMemory = new DataView(new ArrayBuffer(maxCipherOutput(algorithm, ciphertext.length, false) + 3), 3);
      const plaintext = await threadpool.decrypt(algorithm, key, iv, Buffer.from(ciphertext), { output: plainMemory, authTag });
      expect(hex(plaintext)).toBe(data.toString('hex'));
      expect(plaintext.buffer).toBe(plainMemory.buffer);
    }
  });

  test.each(MAIN)('%s: in place (the output is the input itself, or starts where it starts) equals node:crypto', async (algorithm) => {
    const [key, iv] = keyAndIv(algorithm);
    const data = crypto.randomBytes(70_001);
    const [expected, expectedTag] = nodeEncrypt(algorithm, key, iv, data);
    // Room for padding after the plaintext: the output starts where the input starts.
    const memory = Buffer.alloc(maxCipherOutput(algorithm, data.length, true));
    data.copy(memory);
    const input = memory.subarray(0, data.length);
    const { ciphertext, authTag } = await threadpool.encrypt(algorithm, key, iv, input, { output: memory, zeroCopy: true });
    expect([hex(ciphertext), authTag && hex(authTag)]).toEqual([expected, expectedTag]);
    expect(ciphertext.byteOffset).toBe(memory.byteOffset);
    const sealed = Buffer.from(ciphertext);
    const plaintext = await threadpool.decrypt(algorithm, key, iv, sealed, { output: sealed, authTag, zeroCopy: true });
    expect(plaintext.equals(data)).toBe(true);
    expect(plaintext.buffer).toBe(sealed.buffer);
  });

  test.each(['aes-256-cbc', 'aes-256-gcm', 'chacha20-poly1305'])('%s: streaming steps into one reused output (and in place) equal node:crypto', async (algorithm) => {
    const [key, iv] = keyAndIv(algorithm);
    const data = crypto.randomBytes(300_007);
    const [expected, expectedTag] = nodeEncrypt(algorithm, key, iv, data);
    const block = algorithm.endsWith('cbc') ? 16 : 0;
    const parts = chunks(data, 7);
    const output = Buffer.alloc(Math.max(...parts.map((p) => p.length)) + block);
    const cipher = threadpool.createCipher(algorithm, key, iv);
    const sealed: Buffer[] = [];
    for (const part of parts) {
      const out = await cipher.update(part, { output });
      expect(out.buffer).toBe(output.buffer);
      sealed.push(Buffer.from(out)); // the next step overwrites it
    }
    sealed.push(await cipher.final());
    const ciphertext = Buffer.concat(sealed);
    expect(ciphertext.toString('hex')).toBe(expected);
    const authTag = block ? undefined : cipher.getAuthTag();
    expect(authTag && hex(authTag)).toBe(expectedTag);

    // Decrypting in place, chunk by chunk: each step's output starts where its input starts.
    const decipher = threadpool.createDecipher(algorithm, key, iv, { authTag });
    const opened: Buffer[] = [];
    for (const part of chunks(ciphertext, 5)) {
      const room = Buffer.alloc(part.length + block);
      part.copy(room);
      opened.push(Buffer.from(await decipher.update(room.subarray(0, part.length), { output: room, zeroCopy: true })));
    }
    opened.push(await decipher.final());
    expect(Buffer.concat(opened).equals(data)).toBe(true);

    const tooSmall = thrown(() => threadpool.createCipher(algorithm, key, iv).update(Buffer.alloc(100), { output: Buffer.alloc(99 + block) }));
    expect([tooSmall.code, tooSmall.message]).toEqual([
      'ERR_OUT_OF_RANGE',
      `The value of "options.output" is out of range. It must be at least ${100 + block} bytes long (the largest possible output). Received ${99 + block}`,
    ]);
  });

  test('an output that overlaps the input in part makes the job read a copy: still equal to node:crypto', async () => {
    const [key, iv] = keyAndIv('aes-256-gcm');
    const data = crypto.randomBytes(50_000);
    const [expected, expectedTag] = nodeEncrypt('aes-256-gcm', key, iv, data);
    for (const shift of [-7, 7]) {
      const memory = Buffer.alloc(data.length + 16);
      const inputAt = shift > 0 ? 0 : -shift;
      data.copy(memory, inputAt);
      const input = memory.subarray(inputAt, inputAt + data.length);
      const output = memory.subarray(inputAt + shift, inputAt + shift + data.length);
      const { ciphertext, authTag } = await threadpool.encrypt('aes-256-gcm', key, iv, input, { output, zeroCopy: true });
      expect([hex(ciphertext), hex(authTag!)]).toEqual([expected, expectedTag]);
    }
  });

  test('a failed or wrong-tag decryption zeroes the output: no unverified plaintext stays there', async () => {
    const [key, iv] = keyAndIv('aes-256-gcm');
    const data = crypto.randomBytes(300_000);
    const { ciphertext, authTag } = await threadpool.encrypt('aes-256-gcm', key, iv, data);
    const wrongTag = Buffer.from(authTag!);
    wrongTag[3] ^= 1;
    const output = Buffer.alloc(data.length + 10, 0xa5);
    const error = await rejection(threadpool.decrypt('aes-256-gcm', key, iv, ciphertext, { output, authTag: wrongTag }));
    expect(error.code).toBe('ERR_UVSCOPE_AUTH_FAILED');
    expect(output.subarray(0, data.length).every((b) => b === 0)).toBe(true);
    expect(output.subarray(data.length).every((b) => b === 0xa5)).toBe(true);
    // In place, the ciphertext itself is what gets zeroed.
    const sealed = Buffer.from(ciphertext);
    await rejection(threadpool.decrypt('aes-256-gcm', key, iv, sealed, { output: sealed, authTag: wrongTag }));
    expect(sealed.every((b) => b === 0)).toBe(true);
    // Bad CBC padding too.
    const [cbcKey, cbcIv] = keyAndIv('aes-256-cbc');
    const zeros = await threadpool.encrypt('aes-256-cbc', cbcKey, cbcIv, Buffer.alloc(64), { autoPadding: false });
    const cbcOutput = Buffer.alloc(64, 0xa5);
    expect((await rejection(threadpool.decrypt('aes-256-cbc', cbcKey, cbcIv, zeros.ciphertext, { output: cbcOutput }))).code).toBe('ERR_OSSL_BAD_DECRYPT');
    expect(cbcOutput.every((b) => b === 0)).toBe(true);
  });

  test('concurrent encryptions each get their own tag', async () => {
    const [key, iv] = keyAndIv('chacha20-poly1305');
    const inputs = Array.from({ length: 64 }, (_, i) => crypto.randomBytes(100 + i));
    const results = await Promise.all(inputs.map((data) => threadpool.encrypt('chacha20-poly1305', key, iv, data)));
    results.forEach(({ ciphertext, authTag }, i) => {
      expect([hex(ciphertext), hex(authTag!)]).toEqual(nodeEncrypt('chacha20-poly1305', key, iv, inputs[i]));
    });
  });

  test('maxCipherOutput: the plaintext length, plus padding for padded block modes when encrypting', () => {
    expect([0, 15, 16, 31].map((n) => maxCipherOutput('aes-256-cbc', n, true))).toEqual([16, 16, 32, 32]);
    expect(maxCipherOutput('aes-256-cbc', 32, true, false)).toBe(32);
    expect(maxCipherOutput('aes-256-cbc', 48, false)).toBe(48);
    expect([maxCipherOutput('aes-256-gcm', 1000, true), maxCipherOutput('chacha20-poly1305', 7, false), maxCipherOutput('aes-256-ctr', 5, true)]).toEqual([1000, 7, 5]);
    expect(thrown(() => maxCipherOutput('aes-256-cbc', -1, true)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => maxCipherOutput('nope', 1, true)).code).toBe('ERR_CRYPTO_UNKNOWN_CIPHER');
    expect(thrown(() => maxCipherOutput('aes-256-cbc', 1, 'yes' as unknown as boolean)).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  test('refused before anything is queued: too small, not a view, detached, resizable', () => {
    const [key, iv] = keyAndIv('aes-256-cbc');
    const pool = new ThreadPool();
    const encryptInto = (output: unknown, size = 32) =>
      thrown(() => pool.encrypt('aes-256-cbc', key, iv, Buffer.alloc(size), { output: output as ArrayBufferView }));
    const small = encryptInto(Buffer.alloc(32)); // 32 bytes of plaintext pad to 48
    expect([small.name, small.code, small.message]).toEqual([
      'RangeError',
      'ERR_OUT_OF_RANGE',
      'The value of "options.output" is out of range. It must be at least 48 bytes long (the largest possible output). Received 32',
    ]);
    expect(encryptInto(new ArrayBuffer(64)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(encryptInto('out').message).toMatch(/"options\.output"/);
    const detached = new Uint8Array(64);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(encryptInto(detached)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/options\.output.*detached/) });
    const resizable = new Uint8Array(new (ArrayBuffer as unknown as new (n: number, o: object) => ArrayBuffer)(64, { maxByteLength: 128 }));
    expect(encryptInto(resizable)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/resizable/) });
    const decryptSmall = thrown(() => pool.decrypt('aes-256-cbc', key, iv, Buffer.alloc(48), { output: Buffer.alloc(47) }));
    expect(decryptSmall.code).toBe('ERR_OUT_OF_RANGE');
    expect(pool.stats().inFlight).toBe(0);
  });
});

describe('jobs like every other job', () => {
  test('zeroCopy: false encrypts the bytes as they were at the call, true as they are when the job runs', async () => {
    const [key, iv] = keyAndIv('aes-256-ctr');
    const pool = new ThreadPool({ maxConcurrency: 1 });
    for (const zeroCopy of [false, true]) {
      const data = Buffer.alloc(1 << 16, 1);
      const blocker = pool.sleep(20);
      const job = pool.encrypt('aes-256-ctr', key, iv, data, { zeroCopy });
      data.fill(2); // the job is still queued behind the sleep
      await blocker;
      const expected = nodeEncrypt('aes-256-ctr', key, iv, Buffer.alloc(1 << 16, zeroCopy ? 2 : 1))[0];
      expect(hex((await job).ciphertext)).toBe(expected);
    }
  });

  test('abort: queued jobs are cancelled, a running one stops, and a streaming cipher is unusable afterwards', async () => {
    const [key, iv] = keyAndIv('aes-256-gcm');
    const pool = new ThreadPool({ maxConcurrency: 1 });
    const blocker = pool.sleep(30);
    const controller = new AbortController();
    const queued = pool.encrypt('aes-256-gcm', key, iv, 'x', { signal: controller.signal });
    controller.abort('stop');
    const error = await rejection(queued);
    expect([error.name, error.cause]).toEqual(['AbortError', 'stop']);
    await blocker;

    // A running step of 256 MiB, aborted once it runs: it stops at its next 128 KiB chunk.
    const big = Buffer.alloc(256 << 20);
    const cipher = pool.createCipher('aes-256-gcm', key, iv);
    const running = new AbortController();
    const step = cipher.update(big, { signal: running.signal });
    while (pool.stats().running === 0) await new Promise((resolve) => setImmediate(resolve));
    running.abort();
    expect((await rejection(step)).name).toBe('AbortError');
    expect((await rejection(cipher.update('more'))).code).toBe('ERR_UVSCOPE_CIPHER_STATE');
    expect((await rejection(cipher.final())).code).toBe('ERR_UVSCOPE_CIPHER_STATE');
    const stats = pool.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.kernels.cipherUpdate?.cancelled).toBe(1);
  });

  test('the job channel reports the cipher kernels by name, in the shape of every job record', async () => {
    const records: Record<string, unknown>[] = [];
    const listener = (record: unknown) => records.push(record as Record<string, unknown>);
    diagnostics_channel.subscribe(JOB_CHANNEL, listener);
    try {
      const [key, iv] = keyAndIv('chacha20-poly1305');
      const pool = new ThreadPool();
      const { ciphertext, authTag } = await pool.encrypt('chacha20-poly1305', key, iv, 'hello');
      await pool.decrypt('chacha20-poly1305', key, iv, ciphertext, { authTag });
      const cipher = pool.createCipher('chacha20-poly1305', key, iv);
      await cipher.update('abc');
      await cipher.final();
      expect(records.map((r) => [r.kernel, r.outcome, r.bytes])).toEqual([
        ['encrypt', 'completed', 5],
        ['decrypt', 'completed', 5],
        ['cipherUpdate', 'completed', 3],
        ['cipherFinal', 'completed', 0],
      ]);
      expect(Object.keys(records[0]).sort()).toEqual(
        ['bytes', 'finishedAt', 'kernel', 'outcome', 'queueWaitNs', 'queuedAt', 'returnDelayNs', 'runNs', 'settledAt', 'startedAt', 'thread'].sort(),
      );
      expect(Object.keys(pool.stats().kernels).sort()).toEqual(['cipherFinal', 'cipherUpdate', 'decrypt', 'encrypt']);
    } finally {
      diagnostics_channel.unsubscribe(JOB_CHANNEL, listener);
    }
  });
});
