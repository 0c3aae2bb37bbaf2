/**
 * Property-based tests of the whole public API with fast-check (test/stress/fixtures/stress-property.js
 * has the properties and the contract they check). Each group runs in a child process against
 * the compiled library (lib/), so that a crash, or a pool thread that never finishes, fails the
 * group instead of taking the test runner down; the child prints one `STRESS-RESULT {json}` line
 * with each property's result (counterexample shrunk by fast-check, with the error), the number
 * of API calls made, and the divergences from node:crypto / fs that stay within the contract.
 *
 * Size: UVSCOPE_STRESS_SCALE (1 = CI: about 10,000 calls in all; 10 = full: about 100,000).
 * Seed: UVSCOPE_FC_SEED (fixed by default, in each test's name); UVSCOPE_FC_HANG_MS: how long a
 * promise may take to settle before it counts as never settling (default 5000).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURE = path.join(__dirname, 'fixtures', 'stress-property.js');
const SCALE = Number(process.env.UVSCOPE_STRESS_SCALE || 1);
const SEED = process.env.UVSCOPE_FC_SEED || '20261124';
const TIMEOUT_MS = Math.round(1000 * (60 + 30 * Math.max(1, SCALE)));
const CRASH_MARKERS = /FATAL|Aborted|Segmentation|Assertion failed|core dumped|double free|corrupted|Sanitizer|runtime error:/;

interface PropertyResult {
  name: string;
  numRuns?: number;
  calls?: number;
  ms?: number;
  failed?: boolean;
  report?: string;
  skipped?: string;
}
interface GroupResult {
  group: string;
  seed: number;
  calls: number;
  hangs: number;
  properties: PropertyResult[];
  divergences: { key: string; count: number; example: string; detail?: string }[];
  pool: Record<string, number>;
}

function runGroup(group: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; result?: GroupResult }> {
  const env = { ...process.env, UVSCOPE_STRESS_SCALE: String(SCALE), UVSCOPE_FC_SEED: SEED };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FIXTURE, group], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n[property.test] child killed after ${TIMEOUT_MS - 5000} ms (hang)\n`;
      child.kill('SIGKILL');
    }, TIMEOUT_MS - 5000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('STRESS-RESULT '));
      resolve({ status, signal, stdout, stderr, result: line ? (JSON.parse(line.slice('STRESS-RESULT '.length)) as GroupResult) : undefined });
    });
  });
}

let totalCalls = 0;
const totals: string[] = [];

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'lib', 'index.js'))) throw new Error('lib/ is not built: run `npx tsc -p .` first');
});

afterAll(() => {
  console.log(`property tests: ${totalCalls} API calls in all (scale ${SCALE}, fast-check seed ${SEED})\n${totals.join('\n')}`);
});

const GROUPS: [string, string][] = [
  ['hash', 'hash(), hashMany(), createHasher() against node:crypto'],
  ['kdf', 'hmac(), pbkdf2(), scrypt() against node:crypto'],
  ['file', 'hashFile() against fs.readFileSync + node:crypto'],
  ['pool', 'ThreadPool options, spin/sleep/noop, module functions, FIFO order of a bounded pool'],
  ['observer', 'LoopObserver options, listeners, method sequences against a model'],
  ['cipher', 'encrypt(), decrypt(), createCipher(), hkdf(), argon2() against node:crypto'],
  ['mixed', 'random calls of every kind at once on shared pools'],
];

describe.each(GROUPS)(`%s (fast-check seed ${SEED})`, (group, what) => {
  test(`${what}: each call gives a valid result or a documented error; no crash, no hang`, async () => {
    const run = await runGroup(group);
    const r = run.result;
    if (r) {
      totalCalls += r.calls;
      totals.push(
        `  ${group}: ${r.calls} calls, ${r.properties.filter((p) => p.failed).length} failing properties` +
          (r.divergences.length ? `; divergences from the oracle: ${r.divergences.map((d) => `${d.count}x ${d.key}`).join('; ')}` : ''),
      );
    }
    // It reported; a property that failed shows its shrunk counterexample and error.
    expect(r ? 'reported' : `no result line; status ${run.status} signal ${run.signal}\nstderr:\n${run.stderr.slice(0, 4000)}`).toBe('reported');
    const failures = r!.properties.filter((p) => p.failed || p.skipped).map((p) => `${p.name}\n${p.skipped ?? p.report}`);
    expect(failures).toEqual([]);
    // And no crash: a clean exit (a child with a job that never settled kills itself, but then a
    // property failed above).
    expect({ status: run.status, signal: run.signal, crash: CRASH_MARKERS.exec(run.stderr)?.[0] ?? null }).toEqual({ status: 0, signal: null, crash: null });
    expect(r!.hangs).toBe(0);
    // Nothing of the default pool is left in flight.
    expect(r!.pool.inFlight).toBe(0);
  }, TIMEOUT_MS);
});
