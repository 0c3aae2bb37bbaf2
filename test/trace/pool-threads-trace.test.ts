/**
 * The pool threads in `uvscope trace`: a counter per pool thread (`pool thread <tid>`, its busy
 * and run-queue ratios per 100 ms) and one for the pool (`pool threads`), read in the traced
 * process from the kernel (Linux schedstat), and a summary line with the ratios over the run.
 * End to end on a program whose pool work uvscope never submits (node:crypto's pbkdf2), checked
 * against the program's own list of its threads and parsed by Chrome DevTools' trace engine;
 * then the pure parts (the counters from given samples, the ratios over the run).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { POOL_COUNTER_NAME, PoolThreadSample, poolThreadEvents } from '../../src/trace/format';
import { ProcessCollector } from '../../src/trace/process-collector';
import { formatSummary } from '../../src/trace/summary';
import { CHROMIUM, inChromium, SLOWDOWN } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');

const linux = process.platform === 'linux' ? describe : describe.skip;

linux('uvscope trace -- node app.js: the pool threads as counters (Linux: per-thread schedstat)', () => {
  let dir: string;
  let events: any[];
  let file: any;
  let stderr: string;
  let own: { pid: number; tasks: number[] };
  let engine: { processes: { pid: number }[]; counters: Record<string, Record<string, number>> };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-pool-'));
    const out = path.join(dir, 'pool.json');
    const tasks = path.join(dir, 'tasks.json');
    const result = spawnSync(process.execPath, [cli, 'trace', '--no-cpu', '--out', out, '--html', path.join(dir, 'pool.html'), '--', process.execPath, path.join(fixtures, 'trace-pool.js')], {
      cwd: root,
      env: { ...process.env, UV_THREADPOOL_SIZE: '2', TRACE_POOL_TASKS: tasks },
      encoding: 'utf8',
      timeout: 120_000 * SLOWDOWN,
    });
    stderr = result.stderr;
    expect({ code: result.status, stderr }).toMatchObject({ code: 0 });
    file = JSON.parse(fs.readFileSync(out, 'utf8'));
    events = file.traceEvents;
    own = JSON.parse(fs.readFileSync(tasks, 'utf8'));
    const parsed = spawnSync(process.execPath, [path.join(fixtures, 'trace-engine.mjs'), out], { cwd: root, encoding: 'utf8', timeout: 60_000 * SLOWDOWN });
    expect(parsed.stderr).toBe('');
    engine = JSON.parse(parsed.stdout);
  }, 180_000 * SLOWDOWN);

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const perThread = () => events.filter((e) => e.ph === 'C' && /^pool thread \d+$/.test(e.name));

  test('one counter per pool thread: the two threads of UV_THREADPOOL_SIZE=2, threads of the traced process, not its main thread', () => {
    const tids = [...new Set(perThread().map((e) => Number(e.name.split(' ')[2])))].sort();
    expect(tids).toHaveLength(2);
    for (const tid of tids) expect(own.tasks).toContain(tid);
    expect(tids).not.toContain(own.pid);
    for (const e of perThread()) expect(e.pid).toBe(own.pid);
  });

  test('each value is a pair of ratios of its interval (busy + runq at most 1), sampled every 100 ms through the work', () => {
    const byThread = new Map<string, any[]>();
    for (const e of perThread()) byThread.set(e.name, [...(byThread.get(e.name) ?? []), e]);
    for (const [, values] of byThread) {
      // 700 ms of work: several ticks of 100 ms.
      expect(values.length).toBeGreaterThanOrEqual(3);
      for (const v of values) {
        expect(v.args.busy).toBeGreaterThanOrEqual(0);
        expect(v.args.runq).toBeGreaterThanOrEqual(0);
        expect(v.args.busy + v.args.runq).toBeLessThanOrEqual(1.0001);
      }
    }
    const pool = events.filter((e) => e.ph === 'C' && e.name === POOL_COUNTER_NAME);
    expect(pool.length).toBeGreaterThanOrEqual(3);
  });

  test('over the run the two threads ran pbkdf2 or waited for a CPU to run it most of their lives; the summary says so', () => {
    const pool = file.uvscope.processes[0].poolThreads;
    expect(pool.expectedThreads).toBe(2);
    expect(pool.threads).toHaveLength(2);
    // Two jobs always in flight: each thread runnable nearly all the time, on a CPU or waiting for one.
    expect(pool.busyRatio + pool.runQueueRatio).toBeGreaterThan(0.5);
    // At most 1, give or take the kernel's accounting (a running thread's time is added at its scheduler ticks).
    expect(pool.busyRatio + pool.runQueueRatio).toBeLessThanOrEqual(1.01);
    const line = new RegExp(`pool threads \\(2\\): busy ${(pool.busyRatio * 100).toFixed(1)}%, waiting for a CPU ${(pool.runQueueRatio * 100).toFixed(1)}% of their time over \\d+\\.\\d\\d s`);
    expect(stderr).toMatch(line);
  });

  test("DevTools' trace engine parses the trace and holds the counters, in the traced process", () => {
    expect(engine.processes.map((p) => p.pid)).toContain(own.pid);
    const counters = engine.counters[String(own.pid)];
    for (const e of perThread()) expect(counters[e.name]).toBeGreaterThan(0);
    expect(counters[POOL_COUNTER_NAME]).toBe(events.filter((e) => e.name === POOL_COUNTER_NAME).length);
  });

  const chromium = fs.existsSync(CHROMIUM) ? test : test.skip;
  chromium('the HTML report draws the pool threads: busy and waiting for a CPU over time', async () => {
    const { result: lines, problems } = await inChromium<{ label: string; points: number }[]>(path.join(dir, 'pool.html'), (page) =>
      page.$$eval('svg.pool-threads polyline', (all: any[]) => all.map((p) => ({ label: p.textContent, points: (p.getAttribute('points') ?? '').split(' ').length }))),
    );
    expect(lines.map((l) => l.label)).toEqual([`pid ${own.pid}: pool threads busy`, `pid ${own.pid}: waiting for a CPU`]);
    for (const line of lines) expect(line.points).toBeGreaterThan(4);
    expect(problems).toEqual([]);
  }, 60_000);
});

/** A sample of two threads at `ms` ms with [cpu, wait] in ms each; threads started at 0 ms. */
function sample(ms: number, figures: [number, number][], tids = [11, 12], startsMs: (number | undefined)[] = [0, 0]): PoolThreadSample {
  return {
    timeNs: BigInt(ms * 1e6),
    expectedThreads: 2,
    tids: Int32Array.from(tids),
    figures: Float64Array.from(figures.flatMap(([cpu, wait]) => [cpu * 1e6, wait * 1e6])),
    startsNs: BigInt64Array.from(startsMs.map((s) => (s === undefined ? -1n : BigInt(s * 1e6)))),
  };
}

describe('poolThreadEvents (trace/format.ts)', () => {
  const values = (events: any[], name: string) => events.filter((e) => e.name === name).map((e) => [e.ts / 1000, e.args.busy, e.args.runq]);

  test('per thread: its busy and run-queue share of each interval, at the interval start; first its life until found', () => {
    const events = poolThreadEvents(1, 0, 0n, [sample(200, [[50, 10], [100, 0]]), sample(300, [[100, 40], [100, 0]])]);
    // Thread 11: 50 ms on a CPU and 10 waiting in its first 200 ms; then 50 and 30 of 100.
    expect(values(events, 'pool thread 11')).toEqual([
      [0, 0.25, 0.05],
      [200, 0.5, 0.3],
    ]);
    expect(values(events, 'pool thread 12')).toEqual([
      [0, 0.5, 0],
      [200, 0, 0],
    ]);
    // The pool: the mean of the threads' values.
    expect(values(events, POOL_COUNTER_NAME)).toEqual([
      [0, 0.375, 0.025],
      [200, 0.25, 0.15],
    ]);
    for (const e of events) expect(e).toMatchObject({ ph: 'C', pid: 1, tid: 0, cat: 'pool-thread' });
  });

  test('a thread found later has its first value from its start; the pool counter averages the threads that have a value', () => {
    const events = poolThreadEvents(1, 0, 0n, [sample(100, [[50, 0]], [11], [0]), sample(200, [[100, 0], [20, 20]], [11, 12], [0, 100]), sample(300, [[150, 0], [30, 20]], [11, 12], [0, 100])]);
    expect(values(events, 'pool thread 12')).toEqual([
      [100, 0.2, 0.2],
      [200, 0.1, 0],
    ]);
    expect(values(events, POOL_COUNTER_NAME)).toEqual([
      [0, 0.5, 0],
      [100, 0.35, 0.1],
      [200, 0.3, 0],
    ]);
  });

  test('no start known, or the oldest samples dropped (backfill false): nothing before the first interval; no run-queue figure: no runq', () => {
    const unknown = poolThreadEvents(1, 0, 0n, [sample(200, [[50, 10], [100, 0]], [11, 12], [undefined, undefined]), sample(300, [[100, 40], [100, 0]], [11, 12], [undefined, undefined])]);
    expect(values(unknown, 'pool thread 11')).toEqual([[200, 0.5, 0.3]]);
    const dropped = poolThreadEvents(1, 0, 0n, [sample(200, [[50, 10], [100, 0]]), sample(300, [[100, 40], [100, 0]])], false);
    expect(values(dropped, 'pool thread 11')).toEqual([[200, 0.5, 0.3]]);
    const noWait = poolThreadEvents(1, 0, 0n, [sample(200, [[50, NaN], [100, NaN]]), sample(300, [[100, NaN], [100, NaN]])]);
    for (const e of noWait) expect(e.args).not.toHaveProperty('runq');
  });
});

describe('ProcessCollector: the pool threads over the run', () => {
  test('each thread from its start to its last sample, the oldest samples dropped or not; the summary line', () => {
    const collector = new ProcessCollector({ maxMarkers: 100, maxRecords: 2 });
    collector.addPoolSample(sample(200, [[50, 10], [100, 0]]));
    collector.addPoolSample(sample(300, [[100, 40], [100, 0]]));
    collector.addPoolSample(sample(400, [[150, 40], [100, 100]]));
    const { info, events } = collector.build(1, 'app (pid 1)', 0n, 20e6, BigInt(500e6));
    expect(info.poolThreads).toMatchObject({ expectedThreads: 2, windowMs: 400, busyRatio: 250 / 800, runQueueRatio: 140 / 800, samples: 2, droppedSamples: 1 });
    expect(info.poolThreads!.threads).toEqual([
      { tid: 11, windowMs: 400, busyRatio: 150 / 400, runQueueRatio: 40 / 400 },
      { tid: 12, windowMs: 400, busyRatio: 100 / 400, runQueueRatio: 100 / 400 },
    ]);
    // The counters of the samples kept: the first kept sample's threads are not new.
    expect(events.filter((e) => e.name === 'pool thread 11').map((e) => e.ts)).toEqual([300_000]);
    const summary = formatSummary({ traceEvents: events, uvscope: { blockMs: 20, processes: [info] } });
    expect(summary).toMatch(/app \(pid 1\), pool threads \(2\): busy 31\.3%, waiting for a CPU 17\.5% of their time over 0\.40 s/);
  });

  test('a platform without schedstat: the summary says why there are no figures', () => {
    const collector = new ProcessCollector({ maxMarkers: 100, maxRecords: 10 });
    collector.poolThreadsUnavailable = 'Linux only, this is darwin';
    const { info, events } = collector.build(1, 'app (pid 1)', 0n, 20e6, 0n);
    expect(info.poolThreads).toBeUndefined();
    expect(formatSummary({ traceEvents: events, uvscope: { blockMs: 20, processes: [info] } })).toMatch(/app \(pid 1\), pool threads: not measured \(Linux only, this is darwin\)/);
  });
});
