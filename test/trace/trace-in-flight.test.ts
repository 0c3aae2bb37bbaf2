/**
 * HTTP requests still in flight when a trace ends (fixtures/trace-in-flight.js): under
 * `uvscope trace`, a program that exits while its server has not answered a request: the trace
 * has the request's slice flagged in flight with its method and URL, ending at the trace's end;
 * DevTools' trace engine puts it on the HTTP requests track; the summary and the --html report
 * name it with its time so far. A flight recorder's dump taken while a request hangs draws it in
 * flight; the next dump, after it was answered, draws it finished, once.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');
const HANG = 'GET /hang?q=1 (in flight at trace end)';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-in-flight-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const requestSlices = (events: any[]) => events.filter((e) => e.ph === 'b' && e.args?.uvscope === 'http-request');

describe('uvscope trace: the program exits with a request unanswered', () => {
  let events: any[];
  let info: any;
  let stderr: string;
  let engine: { extensionTracks: { group?: string; track: string; entries: { name: string; ts: number; dur: number; color: string }[] }[] };
  const out = () => path.join(dir, 'exit.json');
  const html = () => path.join(dir, 'exit.html');

  beforeAll(() => {
    const result = spawnSync(process.execPath, [cli, 'trace', '--no-cpu', '--out', out(), '--html', html(), '--', process.execPath, path.join(fixtures, 'trace-in-flight.js')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    stderr = result.stderr;
    expect({ code: result.status, stderr }).toMatchObject({ code: 0 });
    const trace = JSON.parse(fs.readFileSync(out(), 'utf8'));
    events = trace.traceEvents;
    info = trace.uvscope.processes[0];
    const parsed = spawnSync(process.execPath, [path.join(fixtures, 'trace-engine.mjs'), out()], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(parsed.stderr).toBe('');
    engine = JSON.parse(parsed.stdout);
  }, 180_000);

  test('the unanswered request is a slice flagged in flight, with its method and URL, ending at the trace end', () => {
    const slices = requestSlices(events);
    expect(slices.map((e) => e.name).sort()).toEqual(['GET /fast?i=1', 'GET /fast?i=2', HANG]);
    const hang = slices.find((e) => e.name === HANG);
    expect(hang.args).toMatchObject({ method: 'GET', url: '/hang?q=1', protocol: 'http', status: 0, completed: false, inFlight: true, note: 'in flight at trace end' });
    for (const done of slices.filter((e) => e !== hang)) expect(done.args.inFlight).toBeUndefined();
    const ends = events.filter((e) => e.ph === 'e' && e.id2?.local === hang.id2.local);
    expect(ends).toHaveLength(1);
    expect(ends[0].ts - hang.ts).toBeCloseTo(hang.args.durationMs * 1000, 0);
    // It began after the answered ones, and ends at the trace's end: where the thread's last window and detail span end.
    expect(hang.ts).toBeGreaterThanOrEqual(Math.max(...slices.filter((e) => e !== hang).map((e) => e.ts)));
    const thread = info.threads[0];
    expect(thread.windows.length).toBeGreaterThan(0);
    expect(ends[0].ts).toBeCloseTo(thread.windows[thread.windows.length - 1].endUs, 3);
    expect(ends[0].ts).toBeCloseTo(Math.max(...thread.spans.map((s: { endUs: number }) => s.endUs)), 3);
  });

  test("DevTools' trace engine puts it on the thread's HTTP requests track, in the warning colour", () => {
    const tracks = engine.extensionTracks.filter((t) => t.group === 'HTTP requests');
    expect(tracks).toHaveLength(1);
    const hang = tracks[0].entries.find((e) => e.name === HANG)!;
    expect(hang).toMatchObject({ color: 'warning' });
    expect(hang.dur).toBeGreaterThanOrEqual(0);
    expect(tracks[0].entries.map((e) => e.name).sort()).toEqual(['GET /fast?i=1', 'GET /fast?i=2', HANG]);
  });

  test('the summary counts the finished ones apart and names it with its time so far; so does the HTML report', () => {
    const lines = stderr.split('\n');
    const head = lines.findIndex((l) => l.startsWith('HTTP requests: 2 finished, p50 '));
    expect(head).toBeGreaterThan(0);
    expect(lines.slice(head + 1, head + 4)).toContainEqual(expect.stringMatching(/^ {2}GET \/hang\?q=1 \(in flight at trace end\): \d+\.\d\d ms so far$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}still in flight when the trace ended: 1 \(drawn to the end, time so far\): GET \/hang\?q=1 \d+\.\d\d ms$/));
    const page = fs.readFileSync(html(), 'utf8');
    expect(page).toContain('<td>GET /hang?q=1 (in flight at trace end)</td>');
    expect(page).toContain('<b>in flight</b><br><span class="muted">when the trace ended</span>');
  });
});

test('a flight dump draws the request hanging at the dump in flight, the next dump (after it was answered) finished, once', () => {
  const out = path.join(dir, 'flight');
  const result = spawnSync(process.execPath, [path.join(fixtures, 'trace-in-flight.js')], {
    cwd: root,
    env: { ...process.env, FLIGHT_DIR: out, UVSCOPE_LIB: path.join(root, 'lib') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ code: result.status, stderr: result.stderr }).toMatchObject({ code: 0, stderr: '' });
  const { first, second } = JSON.parse(result.stdout);
  const slices = (file: string) => requestSlices(JSON.parse(fs.readFileSync(file, 'utf8')).traceEvents);
  // /hang?q=1 began before the recorder: not tracked. /hang?q=2 hangs until the first dump is written.
  const atFirst = slices(first);
  expect(atFirst.map((e) => [e.name, e.args.inFlight])).toEqual([['GET /hang?q=2 (in flight at trace end)', true]]);
  const atSecond = slices(second);
  expect(atSecond.map((e) => [e.name, e.args.status, e.args.completed, e.args.inFlight])).toEqual([['GET /hang?q=2', 200, true, undefined]]);
  expect(atSecond[0].args.id).toBe(atFirst[0].args.id);
}, 90_000);
