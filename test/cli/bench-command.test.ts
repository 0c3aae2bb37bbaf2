/**
 * `uvscope bench -- <command>` and `uvscope bench --http URL -- <server>`, end to end: the
 * built CLI runs fixture programs whose pool requests are known, in every Node process they
 * start, at each size; failing runs are reported and never averaged in; servers never outlive
 * the bench.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const app = path.join(__dirname, 'fixtures', 'bench-app.js');
const server = path.join(__dirname, 'fixtures', 'bench-server.js');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-cmd-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function bench(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [cli, 'bench', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/** Whether `pid` is gone within 5 s (a killed process takes a moment to disappear). */
async function gone(pid: number): Promise<boolean> {
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    if (!alive(pid)) return true;
  }
  return false;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('uvscope bench -- <command>', () => {
  let report: any;
  let stdout: string;

  beforeAll(() => {
    const json = path.join(dir, 'command.json');
    const result = bench(['--sizes', '1,3', '--repeat', '2', '--json', json, '--', process.execPath, app]);
    expect(result.stderr).not.toMatch(/Error|at .*\.js:\d+/);
    expect(result.code).toBe(0);
    stdout = result.stdout;
    report = JSON.parse(fs.readFileSync(json, 'utf8'));
  }, 120_000);

  test('measures every Node process the command starts, at the size it was given', () => {
    expect(report.sizes.map((s: any) => s.size)).toEqual([1, 3]);
    for (const size of report.sizes) {
      expect(size.runs).toHaveLength(2);
      for (const run of size.runs) {
        expect(run.ok).toBe(true);
        expect(run.exitCode).toBe(0);
        // The app and the child it spawned.
        expect(run.processes).toBe(2);
        expect(run.poolSizeSeen).toBe(size.size);
        expect(run.cpuMs).toBeGreaterThan(0);
        expect(run.wallMs).toBeGreaterThan(0);
        expect(run.loopUtilization).toBeGreaterThan(0);
        expect(run.loopUtilization).toBeLessThanOrEqual(1);
        if (process.platform === 'linux') {
          // The busiest process's pool threads, from the pool's start to its exit.
          expect(run.pool.threads).toBe(size.size);
          expect(run.pool.busyRatio).toBeGreaterThan(0);
          expect(run.pool.busyRatio + run.pool.runQueueRatio).toBeLessThanOrEqual(1.05);
        }
      }
    }
  });

  test('counts the pool requests of both processes by kind, failures apart', () => {
    for (const size of report.sizes) {
      for (const run of size.runs) {
        expect(run.requests['crypto.pbkdf2']).toMatchObject({ count: 5, failed: 0 });
        expect(run.requests['crypto.scrypt']).toMatchObject({ count: 3, failed: 0 });
        expect(run.requests['fs.stat']).toMatchObject({ count: 4, failed: 1 });
        expect(run.requests['crypto.pbkdf2'].p99Ms).toBeGreaterThan(0);
      }
    }
  });

  test('prints the medians per size, the requests by kind and a verdict', () => {
    const lines = stdout.split('\n');
    expect(lines.find((l) => l.startsWith('size'))).toMatch(/wall ms\s+cpu ms\s+loop util\s+delay p99\s+sat p99\s+pool busy\s+pool runq\s+pool reqs/);
    expect(lines.find((l) => l.startsWith('crypto.pbkdf2'))).toMatch(/^crypto\.pbkdf2\s+5 [\d.]+\s+5 [\d.]+$/);
    expect(lines.find((l) => l.startsWith('fs.stat'))).toMatch(/^fs\.stat\s+4 \(1\) [\d.]+/);
    expect(stdout).toMatch(/best size: [13] \(.+\)/);
  });

  test('a failing run is reported, left out of the medians, and the bench exits 1', () => {
    const json = path.join(dir, 'failing.json');
    const result = bench(['--sizes', '1,2', '--repeat', '1', '--json', json, '--', process.execPath, app], { BENCH_APP_FAIL_AT_SIZE: '2' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED size 2, round 1: exit code 3: bench-app: failing on purpose/);
    const failing = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(failing.failedRuns).toBe(1);
    const [one, two] = failing.sizes;
    expect(one.okRuns).toBe(1);
    expect(two.okRuns).toBe(0);
    expect(two.wallMs).toBeNull(); // NaN in JSON: no median of failed runs
    expect(failing.best.size).toBe(1);
  }, 60_000);

  test('a command that cannot be started exits 127, as a shell does', () => {
    const result = bench(['--sizes', '1', '--repeat', '1', '--', 'uvscope-no-such-command']);
    expect(result.code).toBe(127);
    expect(result.stderr).toMatch(/command not found: uvscope-no-such-command/);
  });

  test('bad options are usage errors (exit 2) naming the option', () => {
    expect(bench(['--rate', '10', '--', 'node', 'x.js'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--rate applies to --http only/) });
    expect(bench(['--jobs', '10', '--', 'node', 'x.js'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--jobs applies to the built-in workloads/) });
    expect(bench(['--http', 'ftp://x', '--', 'node', 'x.js'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--http must be an http:\/\/ URL/) });
    expect(bench(['--http', 'http://127.0.0.1:1/'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--http needs a server command/) });
    expect(bench(['--sizes', '1,,2', '--', 'node'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--sizes/) });
  });
});

describe('uvscope bench --http URL -- <server>', () => {
  test('drives the server at each size with autocannon, reports requests and pool columns, stops every server', async () => {
    const port = await freePort();
    const pids = path.join(dir, 'server-pids');
    const json = path.join(dir, 'http.json');
    const url = `http://127.0.0.1:${port}/`;
    const result = bench(['--http', url, '--duration', '1', '--connections', '2', '--sizes', '1,2', '--repeat', '1', '--json', json, '--', process.execPath, server, String(port), pids]);
    expect(result.code).toBe(0);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    for (const size of report.sizes) {
      const run = size.runs[0];
      expect(run.ok).toBe(true);
      expect(run.http.requests).toBeGreaterThan(0);
      expect(run.http.errors).toBe(0);
      expect(run.http.latencyP99Ms).toBeGreaterThanOrEqual(run.http.latencyP50Ms);
      expect(run.poolSizeSeen).toBe(size.size);
      // Each answered request did one pbkdf2 and one readFile (plus the readiness probe's).
      expect(run.requests['crypto.pbkdf2'].count).toBeGreaterThanOrEqual(run.http.requests);
    }
    expect(result.stdout.split('\n').find((l) => l.startsWith('size'))).toMatch(/req\/s\s+p50 ms\s+p99 ms\s+p999 ms\s+errors\s+timeouts/);
    const started = fs.readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(started).toHaveLength(2);
    for (const pid of started) expect(await gone(pid)).toBe(true);
  }, 60_000);

  test('Ctrl-C of the bench stops the server it is driving', async () => {
    const port = await freePort();
    const pids = path.join(dir, 'interrupted-pids');
    const child = spawn(process.execPath, [cli, 'bench', '--http', `http://127.0.0.1:${port}/`, '--duration', '30', '--sizes', '1', '--repeat', '1', '--', process.execPath, server, String(port), pids], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The load has started once the server answered: its pid is written before it listens.
    while (!fs.existsSync(pids) || fs.readFileSync(pids, 'utf8').trim() === '') await new Promise((r) => setTimeout(r, 50));
    const [pid] = fs.readFileSync(pids, 'utf8').trim().split('\n').map(Number);
    expect(alive(pid)).toBe(true);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(await gone(pid)).toBe(true);
    expect(stderr).not.toMatch(/Error/);
  }, 60_000);

  test('a server that never answers fails its run with a clear error, and is stopped', async () => {
    const port = await freePort();
    const pids = path.join(dir, 'silent-pids');
    const result = bench(['--http', `http://127.0.0.1:${port}/`, '--ready-timeout', '1.5', '--duration', '1', '--sizes', '1', '--repeat', '1', '--', process.execPath, server, String(port), pids, 'silent']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAILED size 1, round 1: http:\/\/127\.0\.0\.1:\d+\/ did not answer within 1\.5 s/);
    for (const pid of fs.readFileSync(pids, 'utf8').trim().split('\n').map(Number)) expect(await gone(pid)).toBe(true);
  }, 60_000);
});
