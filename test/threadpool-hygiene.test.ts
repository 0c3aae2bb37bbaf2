/**
 * What the pool kernels owe the host process beyond correct results, each checked in a child
 * process (test/fixtures/hygiene-*.js) against the compiled library (lib/):
 * - hashFile() of a FIFO or a character device never holds a pool thread for good: an abort,
 *   worker.terminate() and process.exit() end a job that waits for a writer;
 * - every copy of secret material the kernels own is wiped before it is freed (checked by an
 *   interposer of free() that scans each block the addon frees);
 * - a failed allocation on a pool thread (a huge XOF output or Argon2 tag) rejects the job with
 *   a coded error instead of ending the process.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { SLOWDOWN } from './helpers';

const LIB = path.resolve(__dirname, '..', 'lib', 'index.js');
const FIXTURES = path.join(__dirname, 'fixtures');

interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <fixture> <LIB> ...args`, killed after `killMs` (then signal is SIGKILL). */
export function runChild(
  fixture: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; killMs?: number; argv0?: string[] } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.argv0 ?? []), path.join(FIXTURES, fixture), LIB, ...args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
