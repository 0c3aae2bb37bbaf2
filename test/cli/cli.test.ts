/**
 * End-to-end tests of the `uvscope` command, spawning the built CLI (lib/cli/main.js).
 * The HTML report is rendered in headless Chromium when it is installed (CI installs Debian's
 * chromium); without it that test is skipped and says so.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, inChromium, watchOutput } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-cli-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('uvscope bench', () => {
  let json: any[];
  let htmlFile: string;
  let stdout: string;

  beforeAll(() => {
    const jsonFile = path.join(dir, 'bench.json');
    htmlFile = path.join(dir, 'bench.html');
    const result = run(['bench', '--sizes', '1,2', '--jobs', '12', '--repeat', '2', '--workload', 'mixed', '--json', jsonFile, '--html', htmlFile]);
    expect(result.stderr).not.toMatch(/Error|at .*\.js:\d+/);
    expect(result.code).toBe(0);
    stdout = result.stdout;
    json = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
  }, 120_000);

  test('prints a table with one row per size and names the best size', () => {
    const lines = stdout.trim().split('\n');
    const header = lines.find((l) => l.trim().startsWith('size'))!;
    expect(header).toMatch(/jobs\/s/);
    expect(header).toMatch(/qwait p99\s+pool busy\s+pool runq\s+loop util/);
    expect(header).toMatch(/fs p99/);
    const rows = lines.filter((l) => /^\s+\d+\s+\d+\s/.test(l));
    expect(rows.map((r) => Number(r.trim().split(/\s+/)[0]))).toEqual([1, 2]);
    expect(stdout).toMatch(/best size: [12] \(.+\)/);
  });

  test('--json holds one result object per pool size, matching the documented schema', () => {
    expect(Array.isArray(json)).toBe(true);
    expect(json.map((r) => r.size)).toEqual([1, 2]);
    for (const result of json) {
      // Each size was verified in its child with measureSize().
      expect(result.measuredSize).toBe(result.size);
      expect(result.workload).toBe('mixed');
      expect(result.runs).toHaveLength(2);
      for (const key of ['wallMs', 'jobsPerSec', 'latencyP50Ms', 'latencyP99Ms', 'queueWaitP50Ms', 'queueWaitP99Ms', 'loopDelayP99Ms', 'fsP50Ms', 'fsP99Ms', 'dnsP50Ms', 'dnsP99Ms']) {
        expect(typeof result[key]).toBe('number');
        expect(result[key]).toBeGreaterThanOrEqual(0);
      }
      expect(result.latencyP99Ms).toBeGreaterThanOrEqual(result.latencyP50Ms);
      expect(result.loopUtilization).toBeGreaterThan(0);
      expect(result.loopUtilization).toBeLessThanOrEqual(1);
      for (const runResult of result.runs) {
        expect(runResult.jobs).toBe(12);
        expect(runResult.queueWaitSamplesMs).toHaveLength(12);
      }
      if (process.platform === 'linux') {
        // The child's pool threads over the timed part: every thread found, ratios of threads × run.
        expect(result.pool.threads).toBe(result.size);
        expect(result.pool.busyRatio).toBeGreaterThan(0);
        expect(result.pool.busyRatio + result.pool.runQueueRatio).toBeLessThanOrEqual(1.05);
        for (const runResult of result.runs) expect(runResult.pool.threads).toBe(result.size);
      }
    }
    expect(json.filter((r) => r.best)).toHaveLength(1);
  });

  test('--html is self-contained with one chart per metric', () => {
    const html = fs.readFileSync(htmlFile, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\//);
    const metrics = [...html.matchAll(/<svg class="chart" data-metric="([^"]+)"/g)].map((m) => m[1]);
    const pool = process.platform === 'linux' ? ['poolThreads'] : [];
    expect(metrics).toEqual(['throughput', 'latency', 'queueWait', 'loopUtilization', 'loopDelay', ...pool, 'fsLatency', 'dnsLatency']);
  });

  const chromium = fs.existsSync(CHROMIUM) ? test : test.skip;
  chromium('the HTML report renders in headless Chromium: every chart drew its data, no console errors', async () => {
    const { result: charts, problems } = await inChromium(htmlFile, async (page) => {
      if (process.env.UVSCOPE_SCREENSHOT) await page.screenshot({ path: process.env.UVSCOPE_SCREENSHOT, fullPage: true });
      return page.$$eval('svg.chart', (svgs: any[]) =>
        svgs.map((svg) => {
          const box = svg.getBoundingClientRect();
          const bars = [...svg.querySelectorAll("rect[data-value]")].filter((r: any) => Number(r.getAttribute('height')) > 0).length;
          const lines = [...svg.querySelectorAll("polyline")].filter((p: any) => (p.getAttribute('points') ?? '').split(' ').length > 1).length;
          return { metric: svg.dataset.metric, width: box.width, height: box.height, marks: bars + lines };
        }),
      );
    });
    expect(charts).toHaveLength(process.platform === 'linux' ? 8 : 7);
    for (const chart of charts) {
      expect(chart.width).toBeGreaterThan(100);
      expect(chart.height).toBeGreaterThan(100);
      expect({ metric: chart.metric, drew: chart.marks > 0 }).toEqual({ metric: chart.metric, drew: true });
    }
    expect(problems).toEqual([]);
  }, 60_000);
});

describe('uvscope trace', () => {
  test('traces a sample script: every phase, the 30 ms block as a long slice, jobs on pool-thread tracks', () => {
    const out = path.join(dir, 'trace.json');
    const html = path.join(dir, 'trace.html');
    const result = run(['trace', '--out', out, '--html', html, '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')]);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/main thread: \d+ iterations/);
    expect(result.stderr).toMatch(/long iterations \(> 20 ms busy\): [1-9]/);
    const trace = JSON.parse(fs.readFileSync(out, 'utf8'));
    const events: any[] = trace.traceEvents;
    const loop = events.filter((e) => e.ph === 'X' && e.cat === 'loop');
    expect(new Set(loop.map((e) => e.name))).toEqual(new Set(['startup', 'poll', 'check', 'timers', 'pending']));
    // Poll's wait for I/O nests in poll slices, and is at most the slice.
    const waits = events.filter((e) => e.cat === 'loop-wait');
    expect(waits.length).toBeGreaterThan(0);
    for (const wait of waits) {
      const poll = loop.find((e) => e.name === 'poll' && e.ts === wait.ts)!;
      expect(wait.dur).toBeLessThanOrEqual(poll.dur + 1e-6);
      expect(poll.args.waitMs).toBeCloseTo(wait.dur / 1000, 6);
    }
    // The busy 30 ms block is one slice of at least 30 ms, outside poll.
    const long = loop.filter((e) => e.dur >= 30_000);
    expect(long.length).toBeGreaterThanOrEqual(1);
    expect(long.some((e) => e.name !== 'poll' && e.name !== 'startup')).toBe(true);
    // Jobs sit on pool-thread tracks named as such.
    const jobs = events.filter((e) => e.ph === 'X' && e.cat === 'job');
    expect(jobs.map((j) => j.name).sort()).toEqual(['hash', 'sleep', 'spin']);
    const threadNames = new Map(events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
    for (const job of jobs) expect(threadNames.get(job.tid)).toMatch(/^libuv pool thread \d+$/);
    expect(jobs.find((j) => j.name === 'sleep').dur).toBeGreaterThanOrEqual(14_000);
    expect(events.some((e) => e.ph === 'C' && e.name === 'loop utilization (main thread)')).toBe(true);
    // Node's own requests (the app's fs.stat among them) as slices on the thread's request
    // tracks, never overlapping on one track; summarised by kind.
    const requests = events.filter((e) => e.cat === 'pool-request');
    const stat = requests.find((e) => e.name === 'fs.stat');
    expect(stat).toMatchObject({ ph: 'X', args: { outcome: 'completed' } });
    expect(threadNames.get(stat.tid)).toMatch(/^Node pool requests of main thread/);
    for (const track of new Set(requests.map((e) => e.tid))) {
      const onTrack = requests.filter((e) => e.tid === track).sort((a, b) => a.ts - b.ts);
      for (let i = 1; i < onTrack.length; i++) expect(onTrack[i].ts).toBeGreaterThanOrEqual(onTrack[i - 1].ts + onTrack[i - 1].dur - 1e-3);
    }
    expect(result.stderr).toMatch(/Node pool requests: \d+ .*\n(\s+.*\n)*\s+fs\.stat: 1, p50/);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/<canvas id="timeline"/);
  });

  test('a stall is printed on stderr while the script is still blocked, and is a slice of the trace with its reports', async () => {
    const out = path.join(dir, 'stall.json');
    const go = path.join(dir, 'stall-go');
    const child = spawn(process.execPath, [cli, 'trace', '--stall-ms', '100', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-stall.js')], {
      cwd: root,
      env: { ...process.env, STALL_GO: go },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { output, exited, until } = watchOutput(child);
    try {
      await until(() => output.stdout.includes('blocking\n'), "the script's block");
      const stallLine = /^stall: main thread blocked (\d+) ms in ([a-z]+)/m;
      await until(() => stallLine.test(output.stderr), 'stall line on stderr');
      // The script is still inside its block: it waits for the file only this test creates.
      expect(fs.existsSync(go)).toBe(false);
      expect(output.stdout).not.toContain('released');
      expect(child.exitCode).toBeNull();
      const [, blockedMs, phase] = stallLine.exec(output.stderr)!;
      expect(Number(blockedMs)).toBeGreaterThanOrEqual(100);
      expect(phase).not.toBe('startup');
    } finally {
      fs.writeFileSync(go, '');
    }
    expect(await exited).toBe(0);
    expect(output.stdout).toContain('released');
    expect(output.stderr).toMatch(/^stalls \(> 100 ms\): 1, longest \d+\.\d+ ms in [a-z]+ \(main thread of pid \d+\)$/m);

    const events: any[] = JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents;
    const stalls = events.filter((e) => e.cat === 'stall');
    expect(stalls).toHaveLength(1);
    const [stall] = stalls;
    expect(stall).toMatchObject({ name: 'stall', ph: 'X', tid: 0, args: { thresholdMs: 100 } });
    expect(stall.dur).toBeGreaterThanOrEqual(100_000);
    expect(stall.args.durationMs).toBeGreaterThanOrEqual(100);
    expect(stall.args.reportCount).toBeGreaterThanOrEqual(1);
    expect(stall.args.reports[0].elapsedMs).toBeGreaterThanOrEqual(100);
    // With the stack addon, the report carries its stack; without it, the trace says why not.
    expect(Array.isArray(stall.args.reports[0].stack) || typeof stall.args.stackUnavailable === 'string').toBe(true);
    // It nests in the loop slice it happened in (the trace format needs slices on one track to nest).
    // Compared in whole ns: ts and dur are µs with 3 decimals, and their float sum can differ
    // from the next slice's ts in the last bit (335785.633 vs 335785.63300000003).
    const ns = (e: { ts: number; dur: number }) => ({ start: Math.round(e.ts * 1e3), end: Math.round((e.ts + e.dur) * 1e3) });
    const loop = events.filter((e) => e.ph === 'X' && e.cat === 'loop');
    const s = ns(stall);
    const around = loop.filter((e) => ns(e).start <= s.start && ns(e).end >= s.end);
    expect(around.length).toBeGreaterThanOrEqual(1);
    for (const slice of loop) {
      const l = ns(slice);
      const overlaps = l.start < s.end && s.start < l.end;
      const nests = (l.start <= s.start && l.end >= s.end) || (s.start <= l.start && s.end >= l.end);
      expect({ slice: slice.name, ts: slice.ts, improper: overlaps && !nests }).toEqual({ slice: slice.name, ts: slice.ts, improper: false });
    }
    expect(new Set(loop.map((e) => e.name))).toEqual(new Set(['startup', 'poll', 'check', 'timers', 'pending']));
  });

  test('--stall-ms 0: no watchdog, no stall slices', () => {
    const out = path.join(dir, 'nostall.json');
    const result = run(['trace', '--stall-ms', '0', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')]);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/^stall/m);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents.filter((e: any) => e.cat === 'stall')).toEqual([]);
  });

  test('a script that throws still gets its trace, and the exit code is the script\'s', () => {
    const out = path.join(dir, 'throw.json');
    const result = run(['trace', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')], { THROW: '1' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/boom from the traced app/);
    const trace = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(trace.traceEvents.filter((e: any) => e.cat === 'loop').length).toBeGreaterThan(10);
  });

  test('a server that runs until stopped is traced for --duration seconds', () => {
    const out = path.join(dir, 'server.json');
    // Without CPU samples (starting V8's profiler takes a while under ASan), and long enough
    // for the server's loop to turn before it is stopped even in a sanitizer build.
    const result = run(['trace', '--no-cpu', '--duration', '2', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-server.js')]);
    expect(result.code).toBe(0);
    const trace = JSON.parse(fs.readFileSync(out, 'utf8'));
    const polls = trace.traceEvents.filter((e: any) => e.name === 'poll');
    // Its loop turned while traced (how often depends on the machine: a sanitizer build on a
    // busy machine managed 8 in 2 s).
    expect(polls.length).toBeGreaterThan(2);
  });
});

describe('bad usage exits 2 with a one-line reason and the usage, never a stack trace', () => {
  test.each([
    [['bench', '--workload', 'nope'], /--workload must be one of/],
    [['bench', '--sizes', '0'], /--sizes: each size must be an integer from 1 to 1024, got '0'/],
    [['bench', '--jobs'], /option --jobs needs a value/],
    [['bench', '--frobnicate'], /unknown option --frobnicate/],
    [['trace'], /missing the command to trace/],
    [['trace', '--sample-us', '10', '--', 'true'], /--sample-us must be an integer from 50 to 1000000, got '10'/],
    [['trace', '--stall-ms', '5', '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')], /--stall-ms must be 0 or an integer from 10 to 3600000, got '5'/],
    [['frob'], /unknown command 'frob'/],
  ])('uvscope %j', (args, reason) => {
    const result = run(args as string[]);
    expect(result.code).toBe(2);
    const [first] = result.stderr.split('\n');
    expect(first).toMatch(reason);
    expect(first.startsWith('uvscope: ')).toBe(true);
    expect(result.stderr).toMatch(/usage: uvscope/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  test('--help works for every command', () => {
    for (const args of [['--help'], ['bench', '--help'], ['trace', '--help']]) {
      const result = run(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^usage: uvscope/);
    }
  });
});
