/**
 * What the pool kernels owe the host process beyond correct results, each checked in a child
 * process (test/threadpool/fixtures/hygiene-*.js) against the compiled library (lib/):
 * - hashFile() of a FIFO or a character device never holds a pool thread for good: an abort,
 *   worker.terminate() and process.exit() end a job that waits for a writer;
 * - every copy of secret material the kernels own is wiped before it is freed (checked by an
 *   interposer of free() that scans each block the addon frees);
 * - a failed allocation on a pool thread (a huge XOF output or Argon2 tag) rejects the job with
 *   a coded error instead of ending the process.
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { threadpool } from '../../src';
import { SLOWDOWN, withoutSanitizer } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const FIXTURES = path.join(__dirname, 'fixtures');

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node [nodeArgs] <fixture> <LIB> ...args`, killed after `killMs` (then signal is SIGKILL),
 * with its address space limited to `addressSpaceKiB` (ulimit -v) if given.
 */
function runChild(
  fixture: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; killMs?: number; nodeArgs?: string[]; addressSpaceKiB?: number } = {},
): Promise<ChildResult> {
  const command = [process.execPath, ...(options.nodeArgs ?? []), path.join(FIXTURES, fixture), LIB, ...args];
  const [file, ...argv] =
    options.addressSpaceKiB === undefined ? command : ['sh', '-c', 'ulimit -v "$0" && exec "$@"', String(options.addressSpaceKiB), ...command];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), (options.killMs ?? 20_000) * SLOWDOWN);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

function lines(result: ChildResult): Record<string, unknown>[] {
  return result.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('hashFile of a FIFO or a device never holds a pool thread for good', () => {
  const fifo = (mode: string) => runChild('hygiene-fifo.js', [mode]);
  const clean = { status: 0, signal: null, stderr: '' };

  test('a writer that writes 1 MiB + 17 bytes (more than the pipe holds) and closes: the digest of the bytes', async () => {
    const result = await fifo('writer');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    const [line] = lines(result);
    expect(line.digest).toBe(line.expected);
  });

  test('the job waits for a writer that comes only once it runs', async () => {
    const result = await fifo('late-writer');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    const [line] = lines(result);
    expect(line.digest).toBe(line.expected);
  });

  test('a FIFO nobody writes to: an abort of the running job rejects with AbortError and the process exits', async () => {
    const result = await fifo('abort');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    expect(lines(result)).toEqual([{ name: 'AbortError', code: 'ABORT_ERR', causeIsReason: true }]);
  });

  test('/dev/zero (endless) stops at an abort; /dev/null hashes as empty', async () => {
    const result = await fifo('dev-zero');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    const [line] = lines(result);
    expect(line.name).toBe('AbortError');
    expect(line.nullDigest).toBe(line.expectedNull);
  });

  test('worker.terminate() of a worker whose job waits on a FIFO returns, and the process exits', async () => {
    const result = await fifo('terminate');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    expect(lines(result)).toEqual([{ running: 1, terminated: true, exitCode: 1 }]);
  });

  test('process.exit() while a job waits on a FIFO exits', async () => {
    const result = await fifo('exit');
    expect({ ...result, stdout: undefined }).toEqual({ ...clean, stdout: undefined });
    expect(lines(result)).toEqual([{ running: 1 }]);
  });
});

describe('secret material is wiped before the addon frees it', () => {
  // valgrind replaces the allocator with its own; under AddressSanitizer the scanner uses its free hook.
  const testOrSkip = process.env.UVSCOPE_SANITIZER === 'valgrind' ? test.skip : test;
  let dir: string;
  let scanner: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-scan-'));
    scanner = path.join(dir, 'free-scan.so');
    // gcc itself runs without the sanitizer runtime (LeakSanitizer would fail it for its own allocations).
    execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-o', scanner, path.join(FIXTURES, 'hygiene-free-scan.c'), '-ldl'], { env: withoutSanitizer() });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  testOrSkip('keys, IVs, passwords, Argon2 secrets, plaintext, file contents and derived keys: no block the addon frees holds one', async () => {
    const secret = crypto.randomBytes(32);
    const iv = crypto.randomBytes(16);
    const salt = crypto.randomBytes(16);
    const info = crypto.randomBytes(8);
    // What a leak would show, by name: the secret, the IV, and every key derived from the secret.
    const patterns: [string, Buffer][] = [
      ['secret[0:16]', secret.subarray(0, 16)],
      ['secret[16:32]', secret.subarray(16)],
      ['iv[0:12]', iv.subarray(0, 12)],
    ];
    const derived: [string, Buffer][] = [
      ['pbkdf2', crypto.pbkdf2Sync(secret, salt, 1000, 64, 'sha256')],
      ['scrypt', crypto.scryptSync(secret, salt, 64, { N: 1024 })],
      ['hkdf', Buffer.from(crypto.hkdfSync('sha256', secret, salt, info, 64))],
    ];
    const argon2 = threadpool.kdfs().includes('argon2id');
    if (argon2) {
      const parameters = { message: secret, nonce: salt, secret, parallelism: 2, tagLength: 64, memory: 64, passes: 2 };
      derived.push(['argon2id', await threadpool.argon2('argon2id', parameters)]);
    } else {
      console.info('Argon2 is not available with this OpenSSL (3.2+ needed): its derivation is not scanned');
    }
    for (const [name, key] of derived) patterns.push([`${name}[0:16]`, key.subarray(0, 16)], [`${name}[48:64]`, key.subarray(48)]);
    // The control: a hashMany() digest, which the addon frees unwiped (not a secret).
    const control = crypto.randomBytes(32);
    patterns.push(['control', crypto.createHash('sha256').update(control).digest()]);
    const controlPattern = patterns.length - 1;

    const hex = (bytes: Buffer) => bytes.toString('hex');
    const env = {
      ...process.env,
      LD_PRELOAD: [process.env.LD_PRELOAD, scanner].filter(Boolean).join(' '),
      UVSCOPE_SCAN_OUT: path.join(dir, `scan-${process.hrtime.bigint()}.txt`),
      UVSCOPE_SCAN_PATTERNS: patterns.map(([, bytes]) => hex(bytes)).join(','),
      HYGIENE_SECRETS: JSON.stringify({ secret: hex(secret), iv: hex(iv), salt: hex(salt), info: hex(info), control: hex(control), controlPattern }),
    };
    const result = await runChild('hygiene-secrets.js', [], { env, nodeArgs: ['--expose-gc'] });
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const [report] = lines(result) as unknown as [{ scanner: string; argon2: boolean; hits: Hit[] }];
    expect(['glibc', 'sanitizer']).toContain(report.scanner);
    expect(report.argon2).toBe(argon2);
    const ours = report.hits.filter((hit) => hit.kind === 'ours').map((hit) => ({ ...hit, pattern: patterns[hit.pattern][0] }));
    // The scanner saw the addon free the control's digests...
    expect(ours.filter((hit) => hit.pattern === 'control').length).toBeGreaterThan(0);
    // ...and no block of the addon's with a secret in it (named, with the frames that freed it).
    expect(ours.filter((hit) => hit.pattern !== 'control')).toEqual([]);
  });
});

interface Hit {
  kind: 'ours' | 'other';
  pattern: number;
  bytes: number;
  frames: string[];
}

describe('an allocation that fails on a pool thread rejects the job; the process lives on', () => {
  // AddressSanitizer's operator new reports and aborts instead of throwing std::bad_alloc, and
  // reserves terabytes of address space (no ulimit -v); valgrind's new aborts too.
  const testOrSkip = process.env.UVSCOPE_SANITIZER ? test.skip : test;

  testOrSkip('XOF outputs, PBKDF2/scrypt keys and Argon2 tags TypeScript accepts, in 2 GiB of address space: ERR_UVSCOPE_OUT_OF_MEMORY', async () => {
    // Node itself takes about 1 GiB of address space here; every call asks for 2 GiB or more.
    const result = await runChild('hygiene-oom.js', [], { addressSpaceKiB: 2 * 1024 * 1024 });
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const [report] = lines(result) as unknown as [{ cases: { name: string; code: string; message: string }[]; argon2: boolean; after: boolean }];
    const oom = { code: 'ERR_UVSCOPE_OUT_OF_MEMORY', message: expect.stringContaining('memory') };
    const expected = [
      { name: 'hash shake256', ...oom },
      { name: 'hashMany shake256', ...oom },
      { name: 'createHasher shake128', ...oom },
      { name: 'hashFile shake256', ...oom },
      { name: 'pbkdf2 keylen', ...oom },
      { name: 'scrypt keylen', ...oom },
    ];
    if (report.argon2) {
      // Argon2's memory blocks are OpenSSL's to allocate: its "malloc failure", with the same code.
      expected.push({ name: 'argon2 tagLength', ...oom }, { name: 'argon2 memory', code: oom.code, message: expect.stringContaining('malloc failure') });
    } else {
      console.info('Argon2 is not available with this OpenSSL (3.2+ needed): its cases are not run');
    }
    expect(report.cases).toEqual(expected);
    expect(report.after).toBe(true);
  });
});
