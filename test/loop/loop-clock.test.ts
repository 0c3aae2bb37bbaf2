/**
 * The loop observer's clock (native/loop/loop_clock.h): its source as this machine allows it,
 * told independently (/proc/cpuinfo's nonstop_tsc, the glibc version), and its marker times in
 * order with process.hrtime.bigint() read in JavaScript between them, to better than the time
 * between them: on the main thread and in a worker (a clock of its own), over enough turns to
 * cross hundreds of anchors, with the counter and with UVSCOPE_LOOP_CLOCK=hrtime. Child
 * processes: the choice is made once per process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const LIB = path.resolve(__dirname, '..', '..', 'lib');
const FIXTURE = path.join(__dirname, 'fixtures', 'clock-agreement.js');

interface Agreement {
  clock: { source: string; resyncs: number };
  markers: number;
  backwards: number;
  afterCheckNs: number;
  beforePrepareNs: number;
}

/** Whether the counter should be used here: x86-64 Linux, an invariant TSC, glibc's rseq. */
function counterExpected(): boolean {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim().split(/\s+/) ?? [];
  if (!flags.includes('nonstop_tsc')) return false; // Linux sets it from CPUID's invariant-TSC bit
  const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
  if (!glibc) return false;
  const [major, minor] = glibc.split('.').map(Number);
  if (major < 2 || (major === 2 && minor < 35)) return false; // rseq registered from 2.35
  return !/glibc\.pthread\.rseq=0/.test(process.env.GLIBC_TUNABLES ?? '');
}

function agreement(turns: number, where: 'main' | 'worker', env: NodeJS.ProcessEnv = {}): Agreement {
  const result = spawnSync(process.execPath, [FIXTURE, LIB, String(turns), where], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(result.stdout);
}

function expectInOrder(seen: Agreement, turns: number): void {
  // Four markers per turn (prepare, check, close, timers), give or take the first and last.
  expect(Math.abs(seen.markers - 4 * turns)).toBeLessThanOrEqual(8);
  expect(seen.backwards).toBe(0);
  // Every JS reading after its check marker and before the next prepare marker.
  expect(seen.afterCheckNs).toBeGreaterThanOrEqual(0);
  expect(seen.beforePrepareNs).toBeGreaterThanOrEqual(0);
  expect(seen.clock.resyncs).toBe(0);
}

const source = counterExpected() ? 'tsc' : 'hrtime';

test(`the main thread's markers and process.hrtime agree in order over 300,000 turns (source here: ${source})`, () => {
  const seen = agreement(300_000, 'main');
  expect(seen.clock.source).toBe(source);
  expectInOrder(seen, 300_000);
}, 120_000);

test("a worker's observer has a clock of its own, in order with the worker's process.hrtime", () => {
  const seen = agreement(100_000, 'worker');
  expect(seen.clock.source).toBe(source);
  expectInOrder(seen, 100_000);
}, 120_000);

test('UVSCOPE_LOOP_CLOCK=hrtime: uv_hrtime() at every marker, the same order', () => {
  const seen = agreement(100_000, 'main', { UVSCOPE_LOOP_CLOCK: 'hrtime' });
  expect(seen.clock).toEqual({ source: 'hrtime', resyncs: 0 });
  expectInOrder(seen, 100_000);
}, 120_000);
