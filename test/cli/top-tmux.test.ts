/**
 * `uvscope top` in a real terminal: tmux (a server of the test's own, 80x24) runs it, and the
 * screen is read with `tmux capture-pane -p`. Launching a command: its process and threads
 * appear with figures, a stall made in it appears while it lasts (from the watchdog's live
 * report: the blocked thread cannot answer) and as it ends, no line is wider than 80
 * columns, `q` quits and gives the shell its screen back (alternate screen left, not in raw
 * mode), and when the command exits by itself top exits with its code. Attaching with --pid:
 * Ctrl-C quits and the attached process runs on. Needs tmux (.ci/run installs it).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SLOWDOWN } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const agent = path.join(root, 'lib', 'agent.js');
const app = path.join(__dirname, 'fixtures', 'top-app.js');

let dir: string;
// A tmux server of each test's own (a new one under the name of one being killed may fail to start).
let serverCount = 0;
let server = '';
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8' });
beforeEach(() => {
  server = `uvscope-top-test-${process.pid}-${++serverCount}`;
});

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-top-test-'));
});
afterEach(() => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `command` (a shell line) in a new 80x24 tmux session; afterwards the shell prints the exit code and whether the terminal is in canonical (not raw) mode, then waits. */
function runInTmux(command: string): void {
  const shell = `${command}; code=$?; echo "TOP-EXIT=$code $(stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\{0,1\\}icanon')"; sleep 600`;
  tmux('new-session', '-d', '-s', 'top', '-x', '80', '-y', '24', shell);
}

const screen = () => tmux('capture-pane', '-p', '-t', 'top');

/** Polls the screen (every 100 ms) until `test` holds; throws with the screen after 30 s. */
async function waitForScreen(test: (text: string) => boolean, what: string): Promise<string> {
  const deadline = Date.now() + 30_000 * SLOWDOWN;
  for (;;) {
    const text = screen();
    if (test(text)) return text;
    if (Date.now() > deadline) throw new Error(`no ${what} on the screen:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const columns = (text: string) => Math.max(...text.split('\n').map((line) => [...line].length));
/** Every row is one of top's (a wrapped line would start a row with the rest of another). */
const rowsAreTops = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .every((line) => /^(uvscope top · |THREAD |\d+ node |  main |  worker \d+ |    pool |  STALL IN PROGRESS: |STALLS |\d\d:\d\d:\d\d \d+ )/.test(line));

test('uvscope top -- node app.js: figures per thread, a stall while it lasts and as it ends, 80 columns, q quits and restores the terminal', async () => {
  const control = fs.mkdtempSync(path.join(dir, 'app-'));
  runInTmux(`TOP_APP_DIR=${control} ${process.execPath} ${cli} top -- ${process.execPath} ${app}`);
  const first = await waitForScreen((t) => /^\s+main\s+\d+%/m.test(t) && /^\s+worker \d+\s+\d+%/m.test(t) && /pool fs\.stat \d/.test(t), 'main and worker rows');
  expect(first).toMatch(/^uvscope top · .*  \d\d:\d\d:\d\d UTC  q: quit$/m);
  expect(first).toMatch(/THREAD\s+UTIL\s+P99 ms\s+MAX ms\s+ITER\/s\s+STALLS\s+HTTP\/s\s+HTTP p99/);
  expect(first).toMatch(/^\d+ node top-app\.js\s+v\d+/m);
  // The HTTP requests the app makes to itself are counted.
  await waitForScreen((t) => /^\s+main\s+\d+%\s+\S+\s+\S+\s+\S+\s+0\s+\d+(\.\d)?\s+\d/m.test(t), 'an HTTP rate on the main row');
  expect(columns(first)).toBeLessThanOrEqual(80);
  expect(rowsAreTops(first)).toBe(true);

  fs.writeFileSync(path.join(control, 'stall'), '');
  // While it lasts (3 s; the agent's threshold is 1 s): the main thread cannot answer, its
  // watchdog thread said it. The innermost frame named: spin, or what it calls (Node 22 shows a
  // validator of performance.now).
  const inProgress = await waitForScreen((t) => /^  STALL IN PROGRESS: main blocked [12]\.\d s so far in timers, \d+% on CPU, \S/m.test(t), 'the stall in progress');
  expect(columns(inProgress)).toBeLessThanOrEqual(80);
  expect(rowsAreTops(inProgress)).toBe(true);
  const stalled = await waitForScreen((t) => /STALLS \(newest first\)/.test(t) && /main blocked 3\.\d\d s in timers, \d+% on CPU, \S/.test(t), 'the stall');
  expect(stalled).not.toMatch(/STALL IN PROGRESS/);
  expect(columns(stalled)).toBeLessThanOrEqual(80);
  expect(rowsAreTops(stalled)).toBe(true);
  // The main row counts it from its next figures on.
  await waitForScreen((t) => /^\s+main\s+\d+%\s+\S+\s+\S+\s+\S+\s+1\s/m.test(t), 'the stall counted on the main row');

  tmux('send-keys', '-t', 'top', 'q');
  const after = await waitForScreen((t) => /TOP-EXIT=/.test(t), 'the exit line');
  expect(after).toMatch(/TOP-EXIT=0 icanon/);
  // The alternate screen is gone: what top printed after it, not its rows.
  expect(after).not.toMatch(/THREAD\s+UTIL/);
  expect(after).toMatch(/1 stall seen; the last: \d+ main blocked/);
  expect(after).toMatch(/--- the command's output \(last lines\) ---\ntop-app \d+/);
}, 90_000);

test("the launched command exits by itself: top closes and exits with the command's code", async () => {
  const control = fs.mkdtempSync(path.join(dir, 'app-'));
  runInTmux(`TOP_APP_DIR=${control} ${process.execPath} ${cli} top -- ${process.execPath} ${app}`);
  await waitForScreen((t) => /^\s+main\s+\d+%/m.test(t), 'the main row');
  fs.writeFileSync(path.join(control, 'exit'), '');
  const after = await waitForScreen((t) => /TOP-EXIT=/.test(t), 'the exit line');
  expect(after).toMatch(/TOP-EXIT=3 icanon/);
}, 90_000);

test('uvscope top --pid N: Ctrl-C quits, restores the terminal, and the process runs on', async () => {
  const control = fs.mkdtempSync(path.join(dir, 'app-'));
  const sockets = path.join(control, 'sockets');
  const child: ChildProcess = spawn(process.execPath, ['--require', agent, app], { env: { ...process.env, TOP_APP_DIR: control, UVSCOPE_CONTROL_DIR: sockets }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    runInTmux(`UVSCOPE_CONTROL_DIR=${sockets} ${process.execPath} ${cli} top --pid ${child.pid}`);
    const shown = await waitForScreen((t) => /^\s+main\s+\d+%/m.test(t), 'the main row');
    expect(shown).toMatch(new RegExp(`^uvscope top · process ${child.pid}`, 'm'));
    tmux('send-keys', '-t', 'top', 'C-c');
    const after = await waitForScreen((t) => /TOP-EXIT=/.test(t), 'the exit line');
    expect(after).toMatch(/TOP-EXIT=0 icanon/);
    expect(child.exitCode).toBeNull();
    expect(fs.existsSync(path.join(sockets, `${child.pid}.sock`))).toBe(true);
  } finally {
    fs.writeFileSync(path.join(control, 'exit'), '');
  }
  expect(await exited).toBe(3);
}, 90_000);
