/**
 * The `uvscope` parent process never loads the native addon: its help, its argument errors and
 * the formatting of what its children measured (bench's table, trace's stall lines and summary)
 * work where the addon cannot load. The CLI runs with a preload (test/cli/fixtures/refuse-addon.js)
 * that makes every addon load of the parent process throw and logs it; the children it starts
 * (bench runs, traced processes) load the addon as usual, and must, to measure anything.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { watchOutput } from '../helpers';
import { MARKER_PHASE_CODES, PHASE_NAMES } from '../../src/loop/phases';
import { PhaseCode } from '../../src/native';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');
const refuse = path.join(fixtures, 'refuse-addon.js');

let dir: string;
let addonLog: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-no-addon-'));
});
beforeEach(() => {
  addonLog = path.join(dir, `addon-loads-${expect.getState().currentTestName?.replace(/\W+/g, '-')}.log`);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The environment of a process whose addon loads are refused when its main script is `script`. */
function refusingEnv(script: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const nodeOptions = [process.env.NODE_OPTIONS, `--require ${refuse}`].filter(Boolean).join(' ');
  return { ...process.env, ...extra, NODE_OPTIONS: nodeOptions, REFUSE_ADDON_IN: script, ADDON_LOG: addonLog };
}

function run(args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, env: refusingEnv(cli), encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Addon loads the parent attempted (each was refused). */
function attemptedLoads(): string[] {
  return fs.existsSync(addonLog) ? fs.readFileSync(addonLog, 'utf8').trim().split('\n') : [];
}

test('the preload refuses and logs an addon load in the process it names (so the tests below can fail)', () => {
  const script = path.join(root, 'lib', 'cli', 'bench', 'run.js');
  const result = spawnSync(process.execPath, [script, JSON.stringify({ workload: 'hash', jobs: 1, concurrency: 1 })], {
    cwd: root,
    env: refusingEnv(script),
    encoding: 'utf8',
  });
  expect(result.status).not.toBe(0);
  expect(result.stderr).toMatch(/refused to load the native addon/);
  expect(attemptedLoads()).toEqual([expect.stringMatching(/^\d+ .*\.node$/)]);
});

test('--help of every command', () => {
  for (const args of [['--help'], ['bench', '--help'], ['trace', '--help']]) {
    const result = run(args);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: uvscope/);
  }
  expect(attemptedLoads()).toEqual([]);
});

test('argument errors: one line and the usage, exit 2', () => {
  for (const [args, reason] of [
    [['nope'], /unknown command 'nope'/],
    [['bench', '--sizes', '0'], /--sizes: each size must be an integer from 1 to 1024, got '0'/],
    [['bench', '--workload', 'nope'], /--workload must be one of/],
    [['trace'], /missing the command to trace/],
    [['trace', '--stall-ms', '5', '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')], /--stall-ms must be 0 or an integer from 10 to 3600000/],
  ] as const) {
    const result = run([...args]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(reason);
    expect(result.stderr).toMatch(/usage: uvscope/);
  }
  expect(attemptedLoads()).toEqual([]);
});

test('bench: the parent formats the table of runs measured by children that load the addon', () => {
  const jsonFile = path.join(dir, 'bench.json');
  const result = run(['bench', '--sizes', '1,2', '--jobs', '8', '--repeat', '1', '--workload', 'hash', '--json', jsonFile]);
  expect(result.stderr).not.toMatch(/Error|at .*\.js:\d+/);
  expect(result.code).toBe(0);
  const rows = result.stdout.split('\n').filter((l) => /^\s+\d+\s+\d+\s/.test(l));
  expect(rows.map((r) => Number(r.trim().split(/\s+/)[0]))).toEqual([1, 2]);
  expect(result.stdout).toMatch(/best size: [12] \(.+\)/);
  // The children measured the pool through the addon: each verified its pool size.
  const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as { size: number; runs: { measuredSize: number }[] }[];
  expect(json.map((s) => s.runs.map((r) => r.measuredSize))).toEqual([[1], [2]]);
  expect(attemptedLoads()).toEqual([]);
}, 120_000);

test('trace: the parent prints a stall while the traced script is blocked, and the summary', async () => {
  const out = path.join(dir, 'stall.json');
  const go = path.join(dir, 'stall-go');
  const child = spawn(process.execPath, [cli, 'trace', '--stall-ms', '100', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-stall.js')], {
    cwd: root,
    env: refusingEnv(cli, { STALL_GO: go }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { output, exited, until } = watchOutput(child);
  try {
    await until(() => /^stall: main thread blocked \d+ ms in [a-z]+/m.test(output.stderr), 'stall line on stderr');
  } finally {
    fs.writeFileSync(go, '');
  }
  expect(await exited).toBe(0);
  expect(output.stderr).toMatch(/^stalls \(> 100 ms\): 1, longest \d+\.\d+ ms in [a-z]+ \(main thread of pid \d+\)$/m);
  // The traced process loaded the addon: its loop markers are in the trace.
  const trace = JSON.parse(fs.readFileSync(out, 'utf8')) as { traceEvents: { name: string }[] };
  expect(trace.traceEvents.some((e) => e.name === 'stall')).toBe(true);
  expect(attemptedLoads()).toEqual([]);
}, 60_000);

test("the addon-free phase names and marker codes agree with native.ts's PhaseCode (checked against the addon at load)", () => {
  expect(PHASE_NAMES[PhaseCode.Unknown]).toBe('unknown');
  expect(PHASE_NAMES[PhaseCode.Timers]).toBe('timers');
  expect(PHASE_NAMES[PhaseCode.Pending]).toBe('pending');
  expect(PHASE_NAMES[PhaseCode.Idle]).toBe('idle');
  expect(PHASE_NAMES[PhaseCode.Prepare]).toBe('prepare');
  expect(PHASE_NAMES[PhaseCode.Poll]).toBe('poll');
  expect(PHASE_NAMES[PhaseCode.Check]).toBe('check');
  expect(PHASE_NAMES[PhaseCode.Close]).toBe('close');
  expect(PHASE_NAMES).toHaveLength(8);
  for (const [code, name] of Object.entries(MARKER_PHASE_CODES)) expect(PHASE_NAMES[Number(code)]).toBe(name);
});
