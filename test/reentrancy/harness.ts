/**
 * The jest side of the re-entrancy suite (test/reentrancy/*.test.ts; not a test file itself).
 * Every scenario (a point where uvscope calls user JavaScript, times an action that code takes
 * from there: see test/reentrancy/fixtures/reentrancy-world.js) runs in a child process
 * (test/reentrancy/fixtures/reentrancy-child.js), so that a crash, a hang or an exit is observed from
 * outside. One child per point runs, in order: the in-thread actions on its main thread, every
 * action in a worker_thread of its own (terminate() of that worker and process.exit() in it
 * included), then process.exit() from the callback on its main thread. When a child dies in a
 * scenario, that scenario fails with how it died (and the command that repeats it alone), and a
 * new child takes the scenarios after it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const CHILD = path.join(__dirname, 'fixtures', 'reentrancy-child.js');
/** ASan and valgrind runs are slower: deadlines stretch (what is asserted does not). */
const SLOW = process.env.UVSCOPE_SANITIZER === 'valgrind' ? 40 : process.env.UVSCOPE_SANITIZER ? 4 : 1;
/** A child still running after this long hangs: it is killed and its current scenario fails. */
const CHILD_TIMEOUT_MS = 240_000 * SLOW;
const CRASH_MARKERS = /FATAL|Segmentation|Aborted|Assertion failed|has open handles|core dumped|double free|corrupted|Sanitizer|runtime error:/;

/** Actions a callback takes without ending its thread; run on the main thread and in a worker. */
export const IN_THREAD_ACTIONS = ['abort', 'close', 'stop', 'hash', 'encrypt'] as const;

interface ScenarioResult {
  point: string;
  action: string;
  scenario: string;
  thread: 'main' | 'worker';
  hang: string[];
  fired?: number;
  settled?: Record<string, string>;
  actionErrors?: string[];
  closeErrors?: string[];
  wrong?: string[];
  statsProblems?: string[];
  notes?: string[];
  live: { counts: Record<string, number>; expected: Record<string, number> };
  workerExitCode?: number;
  workerError?: string;
  terminateRequested?: boolean;
}

interface ChildRun {
  args: string[];
  status: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  stdout: string;
  stderr: string;
}

/** One scenario's outcome: its result line, or how the child died while running it. */
export interface Outcome {
  result?: ScenarioResult;
  /** `main:exit` only: the child exited from the callback (status, stderr in `run`). */
  exited?: ChildRun;
  died?: string;
}

function runChild(point: string, scenarios: readonly string[]): Promise<ChildRun> {
  const args = ['--expose-gc', CHILD, point, scenarios.join(',')];
  return new Promise((resolve, reject) => {
    // 8 pool threads: the world keeps three busy with long jobs, the point and its action need more.
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, UV_THREADPOOL_SIZE: '8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ args, status, signal, killed, stdout, stderr });
    });
  });
}

/** How the child ended, the command that repeats it (for `scenario`: that one alone) and its stderr. */
function describeRun(run: ChildRun, scenario?: string): string {
  const how = run.killed
    ? `hung: killed after ${CHILD_TIMEOUT_MS} ms`
    : run.signal
      ? `killed by ${run.signal}`
      : `exited with status ${run.status}`;
  const args = run.args.map((a) => path.relative(ROOT, a) || a);
  if (scenario !== undefined) args[args.length - 1] = scenario;
  return `${how}\nrepeat: npm run build && UV_THREADPOOL_SIZE=8 node ${args.join(' ')}\nstderr:\n${run.stderr.slice(-3000)}`;
}

/** Every scenario of a point, in the order its child runs them (`main:exit` ends the process: last). */
export function scenariosOf(actions: readonly string[]): string[] {
  return [...actions.map((a) => `main:${a}`), ...actions.map((a) => `worker:${a}`), 'worker:terminate', 'worker:exit', 'main:exit'];
}

export interface PointOutcomes {
  byScenario: Map<string, Outcome>;
  /** Every child run, to check that each ended cleanly (LeakSanitizer reports at exit). */
  runs: ChildRun[];
}

/** Runs every scenario of `point`: a child that dies in one leaves it `died`, and a new child takes the rest. */
export async function runPoint(point: string, actions: readonly string[]): Promise<PointOutcomes> {
  const byScenario = new Map<string, Outcome>();
  const runs: ChildRun[] = [];
  let remaining = scenariosOf(actions);
  while (remaining.length > 0) {
    const run = await runChild(point, remaining);
    runs.push(run);
    let current: string | undefined;
    let exitMarker = false;
    for (const line of run.stdout.split('\n')) {
      if (line.startsWith('REENTRY-BEGIN ')) {
        current = (JSON.parse(line.slice('REENTRY-BEGIN '.length)) as { scenario: string }).scenario;
        exitMarker = false;
      } else if (line.startsWith('REENTRY-RESULT ')) {
        const result = JSON.parse(line.slice('REENTRY-RESULT '.length)) as ScenarioResult;
        byScenario.set(result.scenario, { result });
        current = undefined;
      } else if (line.startsWith('REENTRY-EXIT ')) {
        exitMarker = true;
      }
    }
    if (current === 'main:exit' && exitMarker) byScenario.set(current, { exited: run });
    else if (current !== undefined) byScenario.set(current, { died: describeRun(run, current) });
    const next = remaining.filter((scenario) => !byScenario.has(scenario));
    if (next.length === remaining.length) {
      // Died before its first scenario began: every one left fails with it.
      for (const scenario of remaining) byScenario.set(scenario, { died: describeRun(run) });
      break;
    }
    remaining = next;
  }
  return { byScenario, runs };
}

function resultProblems(outcome: Outcome | undefined, extra: (result: ScenarioResult) => string[]): string[] {
  if (!outcome) return ['no outcome (the scenario never ran)'];
  if (outcome.died) return [`the child process died in this scenario: ${outcome.died}`];
  const result = outcome.result;
  if (!result) return ['no result line'];
  const found: string[] = [];
  for (const key of ['hang', 'actionErrors', 'closeErrors', 'wrong', 'statsProblems'] as const) {
    const list = result[key] ?? [];
    if (list.length > 0) found.push(`${key}: ${list.join(' | ')}`);
  }
  if (result.workerError) found.push(`uncaught in the worker: ${result.workerError}`);
  for (const [key, value] of Object.entries(result.live.expected)) {
    if (result.live.counts[key] !== value) {
      const when = result.thread === 'main' ? 'after close and gc' : 'after the worker exited';
      found.push(`live ${key}: ${result.live.counts[key]} ${when}, expected ${value}`);
    }
  }
  found.push(...extra(result));
  return found;
}

/** A callback that ran its action and returned: everything settled (once), closed without error, right, freed. */
export function inThreadProblems(outcome: Outcome | undefined): string[] {
  return resultProblems(outcome, (r) => [
    ...(r.fired ? [] : ['the point never called back']),
    ...(r.thread === 'worker' && r.workerExitCode !== 0 ? [`worker exit code ${r.workerExitCode}, expected 0 (it must end by itself)`] : []),
  ]);
}

/** A worker that had its parent terminate it from inside the callback, or called process.exit(42) there. */
export function workerEndingProblems(outcome: Outcome | undefined, action: 'terminate' | 'exit'): string[] {
  return resultProblems(outcome, (r) =>
    action === 'terminate'
      ? [
          ...(r.terminateRequested ? [] : ['the callback never asked to be terminated']),
          ...(r.workerExitCode === 1 ? [] : [`worker exit code ${r.workerExitCode}, expected 1 (terminated)`]),
        ]
      : r.workerExitCode === 42
        ? []
        : [`worker exit code ${r.workerExitCode}, expected 42 (its process.exit(42) from the callback)`],
  );
}

/** The child whose callback called process.exit(42) on its main thread: status 42, nothing on stderr that says crash. */
export function mainExitProblems(outcome: Outcome | undefined): string[] {
  if (!outcome) return ['no outcome (the scenario never ran)'];
  if (outcome.died) return [`the child process died in this scenario: ${outcome.died}`];
  const run = outcome.exited;
  if (!run) return ['the callback never called process.exit()'];
  const found: string[] = [];
  if (run.killed || run.signal || run.status !== 42) found.push(`expected exit status 42: ${describeRun(run, 'main:exit')}`);
  else if (CRASH_MARKERS.test(run.stderr)) found.push(`stderr:\n${run.stderr.slice(-3000)}`);
  return found;
}

/** Every child ended as it should (the one that ran `main:exit` with 42, others 0), with no crash or sanitizer report. */
export function childRunProblems(outcomes: PointOutcomes): string[] {
  const found: string[] = [];
  for (const run of outcomes.runs) {
    const expected = run.args[run.args.length - 1].endsWith('main:exit') && run.stdout.includes('REENTRY-EXIT ') ? 42 : 0;
    if (run.killed || run.signal || run.status !== expected || CRASH_MARKERS.test(run.stderr)) found.push(describeRun(run));
  }
  return found;
}

/**
 * The jest tests of some points: one per point, thread and action (`actions`: the in-thread
 * actions; worker termination and process.exit() are always added).
 */
export function describeReentrancy(points: readonly string[], actions: readonly string[] = IN_THREAD_ACTIONS): void {
  for (const point of points) {
    describe(point, () => {
      let outcomes: PointOutcomes;
      beforeAll(async () => {
        outcomes = await runPoint(point, actions);
      }, 10 * CHILD_TIMEOUT_MS);

      for (const thread of ['main', 'worker']) {
        for (const action of actions) {
          test(`${thread === 'main' ? 'main thread' : 'worker'}: ${action}`, () => {
            expect(inThreadProblems(outcomes.byScenario.get(`${thread}:${action}`))).toEqual([]);
          });
        }
      }
      test('worker: terminate() of the calling worker', () => {
        expect(workerEndingProblems(outcomes.byScenario.get('worker:terminate'), 'terminate')).toEqual([]);
      });
      test('worker: process.exit() in the worker', () => {
        expect(workerEndingProblems(outcomes.byScenario.get('worker:exit'), 'exit')).toEqual([]);
      });
      test('main thread: process.exit()', () => {
        expect(mainExitProblems(outcomes.byScenario.get('main:exit'))).toEqual([]);
      });
      test('every child process ends cleanly (no crash, sanitizer or leak report)', () => {
        expect(childRunProblems(outcomes)).toEqual([]);
      });
    });
  }
}
