/**
 * `uvscope trace` on a node:http server (fixtures/trace-http.js: requests in flight at once, one
 * whose handler blocks the loop in its synchronous part, so every Node names it): the requests
 * as async slices that DevTools' own trace engine puts on a track of the `HTTP requests` group,
 * the stall and the long iteration linked to the request, the summary's slowest requests with
 * the stall and the pool request it submitted (by id, not to the request in flight beside it), the
 * live stderr line with the CPU share, the request and (Node 24 and later) the user's context, and
 * the HTML report's slowest-requests table in headless Chromium.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inChromium } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');
/** Async context frames (Node 24 and later) let the watchdog read the user's context. */
const contextReadable = Number(process.versions.node.split('.')[0]) >= 24;
const BLOCK = 'GET /block?ms=1300';

let dir: string;
let events: any[];
let stderr: string;
let engine: {
  processes: { pid: number; threads: { tid: number; name: string; counts: Record<string, number> }[] }[];
  extensionTracks: { group?: string; track: string; entries: { name: string; ts: number; dur: number; color: string }[] }[];
};
const out = () => path.join(dir, 'http.json');
const html = () => path.join(dir, 'http.html');

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-http-'));
  // Two reports (at 100 ms and 1100 ms): the live line names the request even if one report's
  // interrupt came too late (a loaded machine) to read it.
  const result = spawnSync(process.execPath, [cli, 'trace', '--stall-ms', '100', '--out', out(), '--html', html(), '--', process.execPath, path.join(fixtures, 'trace-http.js')], {
    cwd: root,
    env: { ...process.env, BLOCK_MS: '1300', UVSCOPE_LIB: path.join(root, 'lib') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  stderr = result.stderr;
  expect({ code: result.status, stderr }).toMatchObject({ code: 0 });
  events = JSON.parse(fs.readFileSync(out(), 'utf8')).traceEvents;
  const parsed = spawnSync(process.execPath, [path.join(fixtures, 'trace-engine.mjs'), out()], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(parsed.stderr).toBe('');
  engine = JSON.parse(parsed.stdout);
}, 180_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const begins = () => events.filter((e) => e.ph === 'b' && e.args?.uvscope === 'http-request');

test('each finished request is an async slice pair with its method, URL, status and duration; those in flight at once overlap', () => {
  const requests = begins();
  expect(requests.map((e) => e.name).sort()).toEqual(
    ['GET /fast?i=1', 'GET /fast?i=2', 'GET /missing', 'GET /slow?ms=150', 'GET /pool', BLOCK, 'GET /fast?i=3', 'GET /fast?i=4'].sort(),
  );
  for (const b of requests) {
    const ends = events.filter((e) => e.ph === 'e' && e.id2?.local === b.id2.local);
    expect(ends).toHaveLength(1);
    expect(ends[0].name).toBe(b.name);
    expect(ends[0].ts - b.ts).toBeCloseTo(b.args.durationMs * 1000, 0);
    expect(b.args).toMatchObject({ method: 'GET', url: b.name.slice(4), protocol: 'http', completed: true, thread: 'main thread' });
  }
  expect(new Set(requests.map((b) => b.id2.local)).size).toBe(requests.length);
  expect(requests.find((b) => b.name === 'GET /missing').args.status).toBe(404);
  expect(requests.find((b) => b.name === BLOCK).args.status).toBe(200);
  // The block, the slow one and the pool one were in flight together.
  const block = requests.find((b) => b.name === BLOCK);
  const overlapping = requests.filter((b) => b !== block && b.ts < block.ts + block.args.durationMs * 1000 && b.ts + b.args.durationMs * 1000 > block.ts);
  expect(overlapping.map((b) => b.name).sort()).toEqual(['GET /pool', 'GET /slow?ms=150']);
});

test('the stall names its request (id too), its share on a CPU; the long iteration is linked to it and to the requests in flight', () => {
  const block = begins().find((b) => b.name === BLOCK);
  // A loaded machine (the ASan run beside another jest worker) can make the startup or the first
  // turns (modules compiled on first use, the trace's first pool-thread sample) a stall too: it
  // names no request and ends before the block began.
  const all = events.filter((e) => e.cat === 'stall');
  const stalls = all.filter((e) => e.args.request !== undefined);
  for (const other of all.filter((e) => e.args.request === undefined)) expect(other.ts + other.dur).toBeLessThanOrEqual(block.ts);
  expect(stalls).toHaveLength(1);
  expect(stalls[0].args).toMatchObject({ request: BLOCK, requestId: block.args.id });
  expect(stalls[0].args.onCpu).toBeGreaterThan(0);
  expect(stalls[0].args.onCpu).toBeLessThanOrEqual(1);
  expect(block.args.stalls).toBe(1);
  if (contextReadable) expect(stalls[0].args.context).toEqual({ tenant: 'acme' });
  else expect(stalls[0].args.context).toBeUndefined();
  const long = events.filter((e) => e.name === 'long iteration' && e.args.request === BLOCK);
  expect(long).toHaveLength(1);
  expect(long[0].args.requestId).toBe(block.args.id);
  expect(long[0].args.inFlight.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining([BLOCK, 'GET /slow?ms=150', 'GET /pool']));
  expect(long[0].args.requestsInFlight).toBe(long[0].args.inFlight.length);
});

test("DevTools' trace engine puts the requests on the thread's track of the HTTP requests group, the stalled one in the error colour", () => {
  const pid = begins()[0].pid;
  const tracks = engine.extensionTracks.filter((t) => t.group === 'HTTP requests');
  expect(tracks.map((t) => t.track)).toEqual([`main thread (pid ${pid})`]);
  const entries = tracks[0].entries;
  expect(entries).toHaveLength(8);
  const block = entries.find((e) => e.name === BLOCK)!;
  expect(block.color).toBe('error');
  expect(block.dur).toBeGreaterThan(1_000_000);
  expect(entries.filter((e) => e.name !== BLOCK).every((e) => e.color === 'primary')).toBe(true);
  const main = engine.processes.find((p) => p.pid === pid)!.threads.find((t) => t.name === 'main thread')!;
  expect(main.counts.stall).toBeGreaterThanOrEqual(1);
  expect(main.counts['long iteration']).toBeGreaterThanOrEqual(1);
});

test('the stderr line of the stall says on a CPU, the request and the context (or, once, why there is none)', () => {
  // (Stalls before the first request, on a loaded machine, name none: see above.)
  const lines = stderr.split('\n').filter((l) => l.startsWith('stall: ') && / in poll, /.test(l));
  expect(lines.length).toBeGreaterThanOrEqual(1);
  for (const line of lines) expect(line).toMatch(/^stall: main thread blocked \d+(\.\d\d)? m?s in poll, \d+% on CPU(, GET \/block\?ms=1300(, tenant=acme)?)?$/);
  const named = lines.filter((l) => l.includes(BLOCK));
  expect(named.length).toBeGreaterThanOrEqual(1);
  if (contextReadable) expect(named.every((l) => l.endsWith(', tenant=acme'))).toBe(true);
  else expect(stderr.match(/^ {4}\(no context fields: .*async_hooks.*\)$/gm)).toHaveLength(1);
});

test('the summary lists the slowest requests, the blocked one with its own stall and its long iteration', () => {
  const lines = stderr.split('\n');
  const head = lines.findIndex((l) => l.startsWith('HTTP requests: 8 finished, p50 '));
  expect(head).toBeGreaterThan(0);
  const at = lines.findIndex((l, i) => i > head && l.startsWith(`  ${BLOCK}: `));
  expect(at).toBeGreaterThan(head);
  expect(lines[at]).toMatch(/: \d+\.\d\d ms, 200$/);
  expect(lines[at + 1]).toMatch(new RegExp(`^ {4}its stall: \\d+\\.\\d\\d ms in poll, \\d+% on CPU${contextReadable ? ', tenant=acme' : ''}$`));
  expect(lines[at + 2]).toMatch(/^ {4}long iterations while in flight: \d+ \(\d+\.\d\d ms, its stall ran in it\)/);
  // The requests in flight beside it waited for its stall. The pool one's pbkdf2, submitted by its
  // handler's synchronous part, is linked to it by id (every Node), not to /slow, in flight then too.
  const pool = lines.findIndex((l, i) => i > head && l.startsWith('  GET /pool: '));
  expect(pool).toBeGreaterThan(head);
  expect(lines[pool + 1]).toMatch(new RegExp(`^ {4}waited for stalls: \\d+\\.\\d\\d ms in poll, \\d+% on CPU \\(GET /block\\?ms=1300${contextReadable ? ', tenant=acme' : ''}\\)$`));
  expect(lines.slice(pool + 1, pool + 4).some((l) => /^ {4}Node pool requests it submitted: 1, .* longest crypto\.pbkdf2 /.test(l))).toBe(true);
  const slow = lines.findIndex((l, i) => i > head && l.startsWith('  GET /slow?ms=150: '));
  expect(slow).toBeGreaterThan(head);
  const slowEnd = lines.findIndex((l, i) => i > slow && !l.startsWith('    '));
  expect(lines.slice(slow + 1, slowEnd).filter((l) => l.includes('pool requests'))).toEqual([]);
});

test('--html: the slowest-requests table and the requests row render in headless Chromium', async () => {
  const { result: seen, problems } = await inChromium(html(), async (tab) => {
    const rows = await tab.evaluate(() => {
      const document = (globalThis as any).document;
      return [...document.querySelectorAll('#http-requests tr.http')].map((tr: any) => [...tr.querySelectorAll('td')].map((td: any) => td.textContent));
    });
    const drawn = await tab.evaluate(() => {
      const document = (globalThis as any).document;
      const canvas = document.getElementById('timeline');
      const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const colors = new Set<string>();
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3]) colors.add(`${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`);
      return [...colors];
    });
    // A click on a row zooms the timeline without an error.
    await tab.click('#http-requests tr.http');
    return { rows, drawn };
  });
  expect(problems).toEqual([]);
  expect(seen.rows).toHaveLength(8);
  // Pool work: the pbkdf2 in /pool's row only.
  expect(seen.rows.find((r: string[]) => r[0] === 'GET /pool')![6]).toMatch(/^1 Node pool request, latency \d+\.\d\d ms in all, longest crypto\.pbkdf2 /);
  expect(seen.rows.find((r: string[]) => r[0] === 'GET /slow?ms=150')![6]).toBe('none');
  const block = seen.rows.find((r: string[]) => r[0] === BLOCK)!;
  expect(block[4]).toMatch(/^its own: \d+\.\d\d ms in poll, \d+% on CPU/);
  expect(block[5]).toMatch(/\(its stall\)/);
  // Durations in descending order.
  const ms = seen.rows.map((r: string[]) => Number(r[2]));
  expect([...ms].sort((a, b) => b - a)).toEqual(ms);
  // The requests row: plain requests and the one with its own stall.
  expect(seen.drawn).toEqual(expect.arrayContaining(['91,143,217', '192,57,43']));
}, 60_000);

test('--stall-ms 0: no watchdog, the requests are drawn all the same', () => {
  const file = path.join(dir, 'no-watchdog.json');
  const result = spawnSync(process.execPath, [cli, 'trace', '--stall-ms', '0', '--no-cpu', '--out', file, '--', process.execPath, path.join(fixtures, 'trace-http.js')], {
    cwd: root,
    env: { ...process.env, BLOCK_MS: '50' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect({ code: result.status, stderr: result.stderr }).toMatchObject({ code: 0 });
  const traced: any[] = JSON.parse(fs.readFileSync(file, 'utf8')).traceEvents;
  expect(traced.filter((e) => e.cat === 'stall')).toEqual([]);
  expect(traced.filter((e) => e.ph === 'b' && e.args?.uvscope === 'http-request').map((e) => e.name)).toContain('GET /block?ms=50');
  expect(traced.filter((e) => e.ph === 'b' && e.args?.uvscope === 'http-request')).toHaveLength(8);
  expect(result.stderr).toMatch(/^HTTP requests: 8 finished, p50 /m);
}, 120_000);
