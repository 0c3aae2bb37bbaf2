/**
 * Bounded recording (the default of `uvscope trace` and the preload): a busy run is kept as
 * windows that cover every second, with full detail (loop slices, CPU samples with their times)
 * only around a long iteration; what was left out is counted; the file is valid JSON with one
 * event per line (the layout the CLI streams). Run in child processes through the preload.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const fixture = path.join(__dirname, 'fixtures', 'bounded-spin.js');
const register = path.join(root, 'lib', 'register.js');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bounded-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function trace(name: string, env: NodeJS.ProcessEnv) {
  const out = path.join(dir, `${name}.json`);
  const result = spawnSync(process.execPath, ['--require', register, fixture], {
    // Origin 0: the trace's µs are the monotonic clock's, as the fixture reports its block.
    env: { ...process.env, UVSCOPE_TRACE_OUT: out, UVSCOPE_TRACE_QUIET: '1', UVSCOPE_TRACE_STALL_MS: '0', UVSCOPE_TRACE_ORIGIN_NS: '0', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  const text = fs.readFileSync(out, 'utf8');
  return { text, file: JSON.parse(text), injected: JSON.parse(result.stdout.trim().split('\n').pop()!) as { startNs: string; endNs: string } };
}

describe('a busy run of 3.5 s with a long iteration injected at 2 s', () => {
  let run: ReturnType<typeof trace>;
  let main: any;
  let events: any[];
  beforeAll(() => {
    run = trace('busy', {});
    events = run.file.traceEvents;
    main = run.file.uvscope.processes[0].threads.find((t: any) => t.tid === 0);
  }, 150_000);

  test('the file is one JSON document with one event per line (first and last lines fixed)', () => {
    const lines = run.text.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe('{"traceEvents":[');
    expect(lines[lines.length - 1]).toMatch(/^\],"displayTimeUnit":"ms","uvscope":\{.*\}\}$/);
    const middle = lines.slice(1, -1);
    expect(middle).toHaveLength(events.length);
    middle.forEach((line, i) => {
      expect(line.endsWith(',')).toBe(i < middle.length - 1);
      expect(JSON.parse(line.replace(/,$/, ''))).toEqual(events[i]);
    });
  });

  test("the main thread's windows touch one another and cover its run from the first iteration to the end", () => {
    expect(main.detail).toBe('bounded');
    const windows = main.windows as any[];
    expect(windows.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < windows.length; i++) expect(windows[i].startUs).toBe(windows[i - 1].endUs);
    const startup = events.find((e) => e.tid === 0 && e.name === 'startup');
    expect(windows[0].startUs).toBeCloseTo(startup.ts + startup.dur, 0);
    const covered = windows[windows.length - 1].endUs - windows[0].startUs;
    expect(covered).toBeGreaterThan(3_400_000);
    // A busy loop: no window much longer than a second, each with its iterations and phase split.
    for (const w of windows.slice(0, -1)) {
      expect(w.endUs - w.startUs).toBeLessThan(1_500_000);
      expect(w.iterations).toBeGreaterThan(100);
      const phases = w.phasesMs.poll + w.phasesMs.check + w.phasesMs.timers + w.phasesMs.pending;
      expect(phases).toBeGreaterThan(0.9 * ((w.endUs - w.startUs) / 1000));
      expect(w.requests['fs.stat'].count).toBeGreaterThan(0);
    }
    const slices = events.filter((e) => e.tid === 0 && e.name === 'loop window');
    expect(slices.map((e) => e.ts)).toEqual(windows.map((w) => w.startUs));
    expect(slices[0].args).toMatchObject({ iterations: windows[0].iterations, phasesMs: windows[0].phasesMs });
  });

  test('full detail around the long iteration: its span holds its loop slices and CPU samples of the injected function', () => {
    const blockStartUs = Number(BigInt(run.injected.startNs) / 1000n);
    const blockEndUs = Number(BigInt(run.injected.endNs) / 1000n);
    const long = (main.longIterations as any[]).find((l) => l.endedAtUs - l.durationMs * 1000 <= blockStartUs && l.endedAtUs >= blockEndUs);
    expect(long).toBeDefined();
    const startUs = long.endedAtUs - long.durationMs * 1000;
    const span = (main.spans as any[]).find((s) => s.startUs <= startUs && s.endUs >= long.endedAtUs - 1);
    expect(span).toBeDefined();
    const loop = events.filter((e) => e.tid === 0 && e.cat === 'loop' && e.name !== 'startup');
    const inSpan = loop.filter((e) => e.ts >= span.startUs - 1 && e.ts + e.dur <= span.endUs + 1);
    expect(inSpan.some((e) => e.args.iteration === long.iteration && e.dur >= 80_000)).toBe(true);
    // The 50 turns before it and the 50 after, each with its slices (in this span, or partly in
    // the span of another long iteration just before: detail-spans.test.ts).
    const turns = new Set(loop.map((e) => e.args.iteration));
    const missing = [];
    for (let i = long.iteration - 50; i <= long.iteration + 50; i++) if (!turns.has(i)) missing.push(i - long.iteration);
    expect(missing).toEqual([]);
    // Every loop slice lies in a span: nothing is drawn across the time left out.
    for (const e of loop) expect(main.spans.some((s: any) => e.ts >= s.startUs - 1 && e.ts + e.dur <= s.endUs + 1)).toBe(true);
    // The samples with their times: the profile's, inside the long iteration, name the function.
    const chunks = events.filter((e) => e.tid === 0 && e.name === 'ProfileChunk');
    const nodes = new Map<number, string>(chunks.flatMap((c) => (c.args.data.cpuProfile.nodes ?? []).map((n: any) => [n.id, n.callFrame.functionName])));
    const profile = events.find((e) => e.tid === 0 && e.name === 'Profile');
    let t = profile.args.data.startTime;
    const inLong: string[] = [];
    for (const c of chunks) {
      c.args.data.cpuProfile.samples.forEach((id: number, i: number) => {
        t += c.args.data.timeDeltas[i];
        if (t >= startUs && t <= long.endedAtUs) inLong.push(nodes.get(id)!);
      });
    }
    expect(inLong).toContain('injectedBlock');
  });

  test('what was left out is counted; every sample of the run is in the call tree', () => {
    expect(main.leftOut.markers).toBeGreaterThan(10_000);
    expect(main.leftOut.requests).toBeGreaterThan(0);
    expect(main.dropped).toMatchObject({ markers: 0, requests: 0, windows: 0 });
    expect(main.cpuSamplesOmitted).toBeGreaterThan(0);
    expect(main.cpuTree.samples).toBeGreaterThan(main.cpuSamplesOmitted);
    expect(main.cpuTree.nodes.some((n: any) => n.functionName === 'injectedBlock' && n.selfSamples > 0)).toBe(true);
    expect(main.cpuTree.nodes.some((n: any) => n.functionName === 'turn')).toBe(true);
  });

  test('the worker thread is recorded the same way: windows, its call tree, complete', () => {
    const worker = run.file.uvscope.processes[0].threads.find((t: any) => t.tid !== 0);
    expect(worker).toMatchObject({ detail: 'bounded', complete: true });
    expect(worker.windows.length).toBeGreaterThanOrEqual(1);
    expect(worker.windows.reduce((n: number, w: any) => n + w.iterations, 0)).toBeGreaterThan(1000);
    expect(worker.cpuTree.samples).toBeGreaterThan(0);
    expect(events.some((e) => e.tid === worker.tid && e.name === 'loop window')).toBe(true);
  });
});

test('UVSCOPE_TRACE_DETAIL=full keeps every marker: loop slices through the whole run, nothing left out', () => {
  // Short: every marker of a fast loop is 4 a turn (a 600 ms run on Node 24 wrote more than 512 MB).
  const { file } = trace('full', { UVSCOPE_TRACE_DETAIL: 'full', RUN_MS: '150', INJECT_AT_MS: '75', UVSCOPE_TRACE_MAX_MARKERS: '4000000' });
  const main = file.uvscope.processes[0].threads.find((t: any) => t.tid === 0);
  expect(main.detail).toBe('full');
  expect(main.spans).toBeUndefined();
  expect(main.leftOut).toBeUndefined();
  const checks = file.traceEvents.filter((e: any) => e.tid === 0 && e.name === 'check').length;
  expect(checks).toBeGreaterThan(main.iterations - 10);
}, 60_000);
