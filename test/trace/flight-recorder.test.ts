/**
 * The flight recorder: armed through the preload (UVSCOPE_FLIGHT_SECONDS), it writes the last
 * N seconds when a stall ends (with the stall's reports) and on SIGUSR2, keeps only those
 * seconds, covers worker threads, and lets the process exit by itself; through the API, dumps
 * are rate-limited and counted. Child processes: signals and the preload are process-wide.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const fixtures = path.join(__dirname, 'fixtures');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-flight-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('armed by the preload: UVSCOPE_FLIGHT_SECONDS=2', () => {
  let dumps: { file: string; trace: any; lines: string[] }[];
  let stderr: string;
  let status: number | null;
  beforeAll(() => {
    const out = path.join(dir, 'preload');
    // Through NODE_OPTIONS, as a service would arm it: Node then preloads it in every worker thread.
    const result = spawnSync(process.execPath, [path.join(fixtures, 'flight-app.js')], {
      env: { ...process.env, NODE_OPTIONS: `--require "${path.join(root, 'lib', 'register.js')}"`, UVSCOPE_FLIGHT_SECONDS: '2', UVSCOPE_FLIGHT_DIR: out, UVSCOPE_TRACE_STALL_MS: '200', UVSCOPE_FLIGHT_MIN_INTERVAL_MS: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    stderr = result.stderr;
    status = result.status;
    dumps = fs
      .readdirSync(out)
      .sort()
      .map((name) => {
        const text = fs.readFileSync(path.join(out, name), 'utf8');
        return { file: name, trace: JSON.parse(text), lines: text.split('\n').filter(Boolean) };
      });
  }, 90_000);

  test('the process exits by itself with its own code; no trace at exit; each dump said on stderr', () => {
    expect(status).toBe(0);
    expect(dumps.map((d) => d.file)).toEqual(dumps.map(() => expect.stringMatching(new RegExp(`^uvscope-flight-\\d+-\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z\\.json$`))));
    expect(stderr.match(/^uvscope flight recorder: (stall|signal): wrote .*\.json$/gm)).toHaveLength(dumps.length);
    // The stall's dump first, the signal's last (a loaded machine may stall the app more: more stall dumps between).
    const reasons = dumps.map((d) => d.trace.uvscope.flight.reason);
    expect(reasons[0]).toBe('stall');
    expect(reasons[reasons.length - 1]).toBe('signal');
    expect(reasons.filter((r) => r === 'signal')).toHaveLength(1);
  });

  const ours = (e: any) => e.name === 'stall' && e.args.reports.some((r: any) => (r.stack ?? []).some((f: string) => f.startsWith('stallHere ')));

  test("the stall's dump holds the stall with its reports and stacks, its turns in detail", () => {
    const { trace } = dumps[0];
    const stall = trace.traceEvents.find(ours);
    expect(stall).toBeDefined();
    expect(stall.args.durationMs).toBeGreaterThan(300);
    expect(trace.uvscope.flight.stall).toMatchObject({ threadId: 0, phase: stall.args.phase, durationMs: stall.args.durationMs });
    const main = trace.uvscope.processes[0].threads.find((t: any) => t.tid === 0);
    const long = main.longIterations.find((l: any) => l.iteration === stall.args.iteration);
    expect(main.spans.some((s: any) => s.startUs <= long.endedAtUs - long.durationMs * 1000 && s.endUs >= long.endedAtUs - 1)).toBe(true);
    expect(trace.traceEvents.some((e: any) => e.tid === 0 && e.cat === 'loop' && e.args.iteration === long.iteration)).toBe(true);
  });

  test('the signal dump keeps only the last 2 seconds: the stall 2.6 s before is gone; windows cover them', () => {
    const { trace, lines } = dumps[dumps.length - 1];
    expect(lines[0]).toBe('{"traceEvents":[');
    expect(lines[lines.length - 1].startsWith('],"displayTimeUnit":"ms","uvscope":{')).toBe(true);
    expect(trace.traceEvents.some(ours)).toBe(false);
    const main = trace.uvscope.processes[0].threads.find((t: any) => t.tid === 0);
    const { toUs } = trace.uvscope.flight;
    expect(toUs).toBeGreaterThanOrEqual(2_000_000);
    for (const w of main.windows) expect(w.endUs).toBeGreaterThan(0);
    // Windows end at markers; the dump closed the last one: together they reach the dump.
    expect(main.windows[main.windows.length - 1].endUs).toBeGreaterThan(toUs - 100_000);
    expect(main.windows[0].startUs).toBeLessThan(1_100_000);
  });

  test('the worker thread that runs the preload is in the dumps with its windows', () => {
    // The signal's dump: the worker had closed windows by then (its own, every second).
    const threads = dumps[dumps.length - 1].trace.uvscope.processes[0].threads;
    const worker = threads.find((t: any) => t.tid !== 0);
    expect(worker).toBeDefined();
    // The app's one worker only: the first dump's own worker thread (its writer) ran no preload.
    expect(threads.filter((t: any) => t.tid !== 0)).toHaveLength(1);
    expect(worker.windows.reduce((n: number, w: any) => n + w.iterations, 0)).toBeGreaterThan(100);
  });

  test('uvscope report reads a dump back: its summary names the stall, --html writes the report; a file that is no trace is refused', () => {
    const dump = path.join(dir, 'preload', dumps[0].file);
    const html = path.join(dir, 'dump.html');
    const cli = path.join(root, 'lib', 'cli', 'main.js');
    const report = spawnSync(process.execPath, [cli, 'report', dump, '--html', html], { encoding: 'utf8', timeout: 60_000 });
    expect(report.status).toBe(0);
    expect(report.stderr).toContain(`trace: ${dump} (${dumps[0].lines.length - 2} events)`);
    expect(report.stderr).toMatch(/stalls \(> 200 ms\): [1-9]/);
    expect(fs.readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/i);
    const notATrace = path.join(dir, 'not-a-trace.json');
    fs.writeFileSync(notATrace, '{"hello":1}\n');
    const refused = spawnSync(process.execPath, [cli, 'report', notATrace], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: refused.status, stderr: refused.stderr }).toEqual({ status: 1, stderr: expect.stringMatching(/^uvscope: .*not-a-trace\.json/) });
    const usage = spawnSync(process.execPath, [cli, 'report'], { encoding: 'utf8', timeout: 60_000 });
    expect(usage.status).toBe(2);
  });
});

test('the API: dump() writes the file off the loop thread and resolves with it, a second within minIntervalMs is refused and counted; bad options throw coded errors; close() lets the process exit', () => {
  const out = path.join(dir, 'api');
  const result = spawnSync(process.execPath, [path.join(fixtures, 'flight-api.js'), out], {
    env: { ...process.env, UVSCOPE_LIB: path.join(root, 'lib') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  const answer = JSON.parse(result.stdout);
  expect(answer.first).toBe(path.join(out, path.basename(answer.first)));
  expect(fs.existsSync(answer.first)).toBe(true);
  expect(answer.again).toBeNull();
  expect(answer.stats).toMatchObject({ dumps: 1, skipped: 1, failed: 0, lastFile: answer.first });
  expect(answer.stats.lastDumpMs).toBeGreaterThan(0);
  // The loop thread only took the snapshot; a worker thread wrote the file.
  expect(answer.stats.lastDumpLoopMs).toBeGreaterThan(0);
  expect(answer.stats.lastDumpLoopMs).toBeLessThanOrEqual(answer.stats.lastDumpMs);
  expect(answer.failed).toMatchObject({ code: 'ENOTDIR', message: expect.stringMatching(/^flight recorder: cannot write .*not-a-directory/), stats: { dumps: 0, failed: 1 } });
  expect(answer.errors).toEqual(['RangeError:ERR_OUT_OF_RANGE', 'TypeError:ERR_INVALID_ARG_VALUE', 'TypeError:ERR_INVALID_ARG_VALUE', 'TypeError:ERR_INVALID_ARG_TYPE', 'RangeError:ERR_OUT_OF_RANGE']);
  expect(answer.second).toBe('ERR_INVALID_STATE');
  const trace = JSON.parse(fs.readFileSync(answer.first, 'utf8'));
  expect(trace.uvscope.flight.reason).toBe('api');
  expect(trace.uvscope.processes[0].threads[0].windows.length).toBeGreaterThanOrEqual(0);
}, 60_000);
