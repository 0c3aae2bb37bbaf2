/**
 * The jest side of the re-entrancy suite (test/reentrancy-*.test.ts; not a test file itself).
 * Every scenario (a point where uvscope calls user JavaScript, times an action that code takes
 * from there: see test/fixtures/reentrancy-world.js) runs in a child process
 * (test/fixtures/reentrancy-child.js), so that a crash, a hang or an exit is observed from
 * outside: per point, one child runs the in-thread actions on the main thread, one runs every
 * action each in a worker_thread of its own (terminate() of that worker and process.exit() in it
 * included), and one calls process.exit() from the callback on the main thread. When a child
 * dies in a scenario, that scenario fails with how it died and the child is started again for
 * the scenarios after it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const CHILD = path.join(__dirname, 'fixtures', 'reentrancy-child.js');
/** ASan and valgrind runs are slower: deadlines stretch (what is asserted does not). */
const SLOW = process.env.UVSCOPE_SANITIZER === 'valgrind' ? 40 : process.env.UVSCOPE_SANITIZER ? 4 : 1;
/** A child still running after this long hangs: it is killed and its current scenario fails. */
const CHILD_TIMEOUT_MS = 150_000 * SLOW;
const CRASH_MARKERS = /FATAL|Segmentation|Aborted|Assertion failed|has open handles|core dumped|double free|corrupted|Sanitizer|runtime error:/;

/** Actions a callback takes without ending its thread; run on the main thread and in a worker. */
export const IN_THREAD_ACTIONS = ['abort', 'close', 'stop', 'hash', 'encrypt'] as const;
/** Run in a worker only: the calling worker is terminated, or calls process.exit(42). */
export const WORKER_ENDING_ACTIONS = ['terminate', 'exit'] as const;

type Thread = 'main' | 'worker';

interface ScenarioResult {
  point: string;
  action: string;
  thread: Thread;
  hang: string[];
  fired?: number;
  settled?: Record<string, string>;
  settleCounts?: string[];
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
  died?: string;
}

function runChild(thread: Thread, point: string, actions: readonly string[]): Promise<ChildRun> {
  const args = [...(thread === 'main' ? ['--expose-gc'] : []), CHILD, thread, point, actions.join(',')];
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

/** How the child ended, the command that repeats it (for `action`: that scenario alone) and its stderr. */
function describeDeath(run: ChildRun, action?: string): string {
  const how = run.killed
    ? `hung: killed after ${CHILD_TIMEOUT_MS} ms`
    : run.signal
      ? `killed by ${run.signal}`
      : `exited with status ${run.status}`;
  const args = run.args.map((a) => path.relative(ROOT, a) || a);
  if (action !== undefined) args[args.length - 1] = action;
  return `${how}\nrepeat: UV_THREADPOOL_SIZE=8 node ${args.join(' ')}\nstderr:\n${run.stderr.slice(-3000)}`;
}

/** What one point's children said, by thread and action. */
export interface PointOutcomes {
  main: Map<string, Outcome>;
  worker: Map<string, Outcome>;
  /** The main-thread process.exit() child. */
  exit: ChildRun;
  /** Every child run, to check that each ended cleanly (LeakSanitizer reports at exit). */
  runs: ChildRun[];
}

/**
 * Runs `actions` of `point` in `thread`, one child after another: a child that dies in a scenario
 * leaves that scenario with `died`, and a new child takes the rest.
 */
async function runBatch(thread: Thread, point: string, actions: readonly string[], runs: ChildRun[]): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  let remaining = [...actions];
  while (remaining.length > 0) {
    const run = await runChild(thread, point, remaining);
    runs.push(run);
    let current: string | undefined;
    for (const line of run.stdout.split('\n')) {
      if (line.startsWith('REENTRY-BEGIN ')) {
        current = (JSON.parse(line.slice('REENTRY-BEGIN '.length)) as { action: string }).action;
      } else if (line.startsWith('REENTRY-RESULT ')) {
        const result = JSON.parse(line.slice('REENTRY-RESULT '.length)) as ScenarioResult;
        outcomes.set(result.action, { result });
        current = undefined;
      }
    }
    if (current !== undefined) outcomes.set(current, { died: describeDeath(run, current) });
    const next = remaining.filter((action) => !outcomes.has(action));
    if (next.length === remaining.length) {
      // Died before its first scenario began: every one of them fails with it.
      for (const action of remaining) outcomes.set(action, { died: describeDeath(run) });
      break;
    }
    remaining = next;
  }
  return outcomes;
}

export async function runPoint(point: string): Promise<PointOutcomes> {
  const runs: ChildRun[] = [];
  const main = await runBatch('main', point, IN_THREAD_ACTIONS, runs);
  const worker = await runBatch('worker', point, [...IN_THREAD_ACTIONS, ...WORKER_ENDING_ACTIONS], runs);
  const exit = await runChild('main', point, ['exit']);
  return { main, worker, exit, runs };
}

function problems(outcome: Outcome | undefined, extra: (result: ScenarioResult) => string[] = () => []): string[] {
  if (!outcome) return ['no outcome (the scenario never ran)'];
  if (outcome.died) return [`the child process died in this scenario: ${outcome.died}`];
  const result = outcome.result!;
  const found: string[] = [];
  for (const key of ['hang', 'settleCounts', 'actionErrors', 'closeErrors', 'wrong', 'statsProblems'] as const) {
    const list = result[key] ?? [];
    if (list.length > 0) found.push(`${key}: ${list.join(' | ')}`);
  }
  if (result.workerError) found.push(`uncaught in the worker: ${result.workerError}`);
  for (const [key, value] of Object.entries(result.live.expected)) {
    if (result.live.counts[key] !== value) found.push(`live ${key}: ${result.live.counts[key]}, expected ${value} (after close${result.thread === 'main' ? ' and gc' : ' and the worker exit'})`);
  }
  found.push(...extra(result));
  return found;
}

/** A scenario whose callback ran its action and returned: everything settled once, closed, freed. */
export function inThreadProblems(outcome: Outcome | undefined): string[] {
  return problems(outcome, (r) => [
    ...(r.fired ? [] : ['the point never called back']),
    ...(r.thread === 'worker' && r.workerExitCode !== 0 ? [`worker exit code ${r.workerExitCode}, expected 0 (it must end by itself)`] : []),
  ]);
}

/** A worker that asked its parent to terminate it from inside the callback (or called process.exit(42) there). */
export function workerEndingProblems(outcome: Outcome | undefined, action: 'terminate' | 'exit'): string[] {
  return problems(outcome, (r) =>
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

/** The main-thread child whose callback called process.exit(42). */
export function mainExitProblems(run: ChildRun): string[] {
  const found: string[] = [];
  if (run.killed || run.signal || run.status !== 42) found.push(`expected exit status 42: ${describeDeath(run)}`);
  if (!run.stdout.includes('REENTRY-EXIT ')) found.push('the callback never ran process.exit()');
  if (CRASH_MARKERS.test(run.stderr)) found.push(`stderr:\n${run.stderr.slice(-3000)}`);
  return found;
}

/** Every child ended as it should (0, or 42 for the exit child), without a sanitizer or crash report. */
export function childRunProblems(outcomes: PointOutcomes): string[] {
  const found: string[] = [];
  for (const run of outcomes.runs) {
    if (run.killed || run.signal || run.status !== 0 || CRASH_MARKERS.test(run.stderr)) found.push(describeDeath(run));
  }
  return found;
}

/** The jest tests of some points: one per point, thread and action. */
export function describeReentrancy(points: readonly string[]): void {
  for (const point of points) {
    describe(point, () => {
      let outcomes: PointOutcomes;
      beforeAll(async () => {
        outcomes = await runPoint(point);
      }, 20 * CHILD_TIMEOUT_MS);

      for (const action of IN_THREAD_ACTIONS) {
        test(`main thread: ${action}`, () => {
          expect(inThreadProblems(outcomes.main.get(action))).toEqual([]);
        });
      }
      for (const action of IN_THREAD_ACTIONS) {
        test(`worker: ${action}`, () => {
          expect(inThreadProblems(outcomes.worker.get(action))).toEqual([]);
        });
      }
      test('worker: terminate() of the calling worker', () => {
        expect(workerEndingProblems(outcomes.worker.get('terminate'), 'terminate')).toEqual([]);
      });
      test('worker: process.exit() in the worker', () => {
        expect(workerEndingProblems(outcomes.worker.get('exit'), 'exit')).toEqual([]);
      });
      test('main thread: process.exit()', () => {
        expect(mainExitProblems(outcomes.exit)).toEqual([]);
      });
      test('every child process ends cleanly (no crash, sanitizer or leak report)', () => {
        expect(childRunProblems(outcomes)).toEqual([]);
      });
    });
  }
}
