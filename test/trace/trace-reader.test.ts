/**
 * Trace files read back as streams (src/trace/trace-reader.ts), the CLI's streamed merge of the
 * processes' parts (mergeParts in src/cli/trace/trace.ts), and the analysis as an incremental
 * fold (src/trace/analysis.ts): the line layout line by line (long lines, multibyte characters
 * across read chunks), the JSON.parse fallback for any other JSON trace, a part cut short by a
 * kill left out and counted, a merged file that DevTools' trace engine parses and the reader
 * reads back, and the fold giving the same model as the whole-file analysis it replaced on
 * traces `uvscope trace` writes (and counting what its caps leave out).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { mergeParts } from '../../src/cli/trace/trace';
import { analyzeTrace, TraceAnalysis } from '../../src/trace/analysis';
import type { TraceEvent } from '../../src/trace/format';
import { HTTP_REQUEST_CATEGORY, HTTP_REQUEST_MARK } from '../../src/trace/http-track';
import { requestDurationQuantile } from '../../src/trace/model-queries';
import { formatSummary } from '../../src/trace/summary';
import type { TraceModel } from '../../src/trace/trace-model';
import { openTrace, readTraceFile, TRACE_FIRST_LINE, traceLastLine, TraceReadError } from '../../src/trace/trace-reader';
import { wholeFileAnalysis } from './fixtures/whole-file-analysis';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-reader-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A file in the line layout (contract 1). */
function writeLines(file: string, events: readonly TraceEvent[], section: unknown): void {
  const lines = [TRACE_FIRST_LINE, ...events.map((e, i) => JSON.stringify(e) + (i + 1 < events.length ? ',' : '')), traceLastLine(section)];
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

function slice(pid: number, i: number, extra: Record<string, unknown> = {}): TraceEvent {
  return { name: 'poll', cat: 'loop', ph: 'X', pid, tid: 0, ts: i * 10, dur: 5, args: { iteration: i, waitMs: 0.001, ...extra } };
}

const section = (pid: number) => ({ blockMs: 20, processes: [{ pid, title: `app (pid ${pid})`, threads: [] }] });

describe('openTrace', () => {
  test('the line layout is streamed: every event in order, the section from the last line, lines longer than a read chunk and multibyte characters across chunks', () => {
    // 'µ' is two bytes in UTF-8: a run of them puts one across the 1 MiB read boundary.
    const events = [slice(1, 1), slice(1, 2, { note: 'µ'.repeat(700_000) }), slice(1, 3, { big: 'x'.repeat(3_000_000) }), slice(1, 4)];
    const file = path.join(dir, 'lines.json');
    writeLines(file, events, section(1));
    const source = openTrace(file);
    expect(source.layout).toBe('lines');
    expect(source.uvscope).toEqual(section(1));
    expect(source.displayTimeUnit).toBe('ms');
    expect([...source.events()]).toEqual(events);
    // A second pass reads the file again.
    expect([...source.eventLines()].map((l) => JSON.parse(l))).toEqual(events);
    // It is valid JSON too.
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).traceEvents).toEqual(events);
  });

  test('no events, and no trailing newline', () => {
    const file = path.join(dir, 'empty.json');
    fs.writeFileSync(file, `${TRACE_FIRST_LINE}\n${traceLastLine(section(2))}`);
    const source = openTrace(file);
    expect(source.layout).toBe('lines');
    expect([...source.events()]).toEqual([]);
    expect(source.uvscope).toEqual(section(2));
  });

  test('any other JSON trace falls back to JSON.parse: one line (older uvscope files), pretty-printed, a bare array of events', () => {
    const events = [slice(3, 1), slice(3, 2)];
    const cases: [string, string, unknown][] = [
      ['one-line.json', JSON.stringify({ traceEvents: events, displayTimeUnit: 'ms', uvscope: section(3) }), section(3)],
      ['pretty.json', JSON.stringify({ traceEvents: events }, null, 2), undefined],
      ['array.json', JSON.stringify(events), undefined],
    ];
    for (const [name, text, uvscope] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      const source = openTrace(file);
      expect({ name, layout: source.layout }).toEqual({ name, layout: 'json' });
      expect([...source.events()]).toEqual(events);
      expect(source.uvscope).toEqual(uvscope);
      expect(readTraceFile(file).traceEvents).toEqual(events);
    }
  });

  test('a line-layout file cut short (a process killed while writing it) is ERR_TRACE_TRUNCATED; what is not a trace is ERR_TRACE_FORMAT', () => {
    const file = path.join(dir, 'cut.json');
    writeLines(file, [slice(4, 1), slice(4, 2), slice(4, 3)], section(4));
    const whole = fs.readFileSync(file);
    const errorOf = (text: string | Buffer) => {
      fs.writeFileSync(file, text);
      try {
        openTrace(file);
      } catch (error) {
        expect(error).toBeInstanceOf(TraceReadError);
        return (error as TraceReadError).code;
      }
      return 'read';
    };
    // Cut inside an event line, at the end of one, inside the last line.
    for (const at of [TRACE_FIRST_LINE.length + 30, whole.indexOf('\n', TRACE_FIRST_LINE.length + 1) + 1, whole.length - 10]) {
      expect({ at, code: errorOf(whole.subarray(0, at)) }).toEqual({ at, code: 'ERR_TRACE_TRUNCATED' });
    }
    expect(errorOf('')).toBe('ERR_TRACE_FORMAT');
    expect(errorOf('{"traceEvents":[{"name":"x"')).toBe('ERR_TRACE_FORMAT');
    expect(errorOf('{"something":"else"}')).toBe('ERR_TRACE_FORMAT');
    // A broken event line is found when read.
    fs.writeFileSync(file, `${TRACE_FIRST_LINE}\n{"name":,\n${traceLastLine(section(4))}\n`);
    const source = openTrace(file);
    expect(() => [...source.events()]).toThrow(expect.objectContaining({ code: 'ERR_TRACE_FORMAT' }));
  });
});

describe('mergeParts: the processes traces streamed into one file', () => {
  test('line-layout and older one-line parts merged in the line layout; a part cut short is left out and counted; DevTools parses the result and the reader reads it back', () => {
    const parts = path.join(dir, 'parts');
    fs.mkdirSync(parts);
    const a = [{ name: 'process_name', ph: 'M', pid: 10, args: { name: 'a (pid 10)' } } as TraceEvent, { name: 'thread_name', ph: 'M', pid: 10, tid: 0, args: { name: 'main thread' } } as TraceEvent];
    for (let i = 1; i <= 50; i++) a.push(slice(10, i));
    const b = [{ name: 'process_name', ph: 'M', pid: 11, args: { name: 'b (pid 11)' } } as TraceEvent];
    for (let i = 1; i <= 30; i++) b.push(slice(11, i));
    writeLines(path.join(parts, '10.json'), a, section(10));
    fs.writeFileSync(path.join(parts, '11.json'), JSON.stringify({ traceEvents: b, displayTimeUnit: 'ms', uvscope: section(11) }));
    writeLines(path.join(parts, '12.json'), [slice(12, 1), slice(12, 2)], section(12));
    const cut = fs.readFileSync(path.join(parts, '12.json'));
    fs.writeFileSync(path.join(parts, '12.json'), cut.subarray(0, cut.length - 20));
    fs.writeFileSync(path.join(parts, 'stalls.fifo.txt'), 'not a part');
    // A part being written goes to a temporary name first (renamed when complete).
    fs.writeFileSync(path.join(parts, '13.json.tmp-13'), cut.subarray(0, 40));

    const out = path.join(dir, 'merged.json');
    const merged = mergeParts(parts, out, { blockMs: 20, stallMs: 200, command: 'node app.js' });
    expect(merged.events).toBe(a.length + b.length);
    expect(merged.leftOut).toEqual([
      { file: '13.json.tmp-13', reason: expect.stringMatching(/cut short/) },
      { file: '12.json', reason: expect.stringMatching(/cut short/) },
    ]);
    expect(merged.section).toEqual({ blockMs: 20, stallMs: 200, command: 'node app.js', processes: [...section(10).processes, ...section(11).processes], partsLeftOut: 2 });

    const back = openTrace(out);
    expect(back.layout).toBe('lines');
    expect([...back.events()]).toEqual([...a, ...b]);
    expect(back.uvscope).toEqual(merged.section);
    expect(merged.model).toEqual(analyzeTrace({ traceEvents: [...a, ...b], uvscope: merged.section }));

    const parsed = spawnSync(process.execPath, [path.join(fixtures, 'trace-engine.mjs'), out], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(parsed.stderr).toBe('');
    const engine = JSON.parse(parsed.stdout) as { processes: { pid: number; threads: { counts: Record<string, number> }[] }[] };
    expect(engine.processes.map((p) => [p.pid, p.threads.reduce((n, t) => n + (t.counts.poll ?? 0), 0)])).toEqual([
      [10, 50],
      [11, 30],
    ]);
  }, 60_000);
});

/** The fold's model without what the whole-file analysis did not have. */
function comparable(model: TraceModel) {
  return {
    ...model,
    httpDurationsMs: undefined,
    httpDurationsSeen: undefined,
    threads: model.threads.map((t) => ({ ...t, httpRequestsSeen: undefined, stallsSeen: undefined, iterationsSeen: undefined, capped: undefined })),
  };
}

describe('the incremental analysis against the whole-file analysis it replaced', () => {
  const traces: [string, string[], NodeJS.ProcessEnv][] = [
    ['multi', [path.join(fixtures, 'trace-multi.js')], {}],
    ['http', ['--stall-ms', '100', '--', path.join(fixtures, 'trace-http.js')], { BLOCK_MS: '300', UVSCOPE_LIB: path.join(root, 'lib') }],
    ['pool', [path.join(fixtures, 'trace-pool.js')], { UV_THREADPOOL_SIZE: '2', TRACE_POOL_TASKS: '/dev/null' }],
  ];

  test.each(traces)('%s: the same model, from the file in memory and streamed line by line', (name, args, env) => {
    const out = path.join(dir, `${name}.json`);
    const command = args.includes('--') ? args : ['--', ...args];
    const result = spawnSync(process.execPath, [cli, 'trace', '--out', out, ...command], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
    expect({ code: result.status, stderr: result.status === 0 ? '' : result.stderr }).toEqual({ code: 0, stderr: '' });
    const file = JSON.parse(fs.readFileSync(out, 'utf8'));
    const reference = wholeFileAnalysis(file);
    expect(reference.threads.length).toBeGreaterThan(0);
    expect(reference.threads.some((t) => t.loop.length > 0)).toBe(true);

    expect(comparable(analyzeTrace(file))).toEqual(comparable(reference));
    // Streamed: the section first, then each line (the CLI's way).
    const source = openTrace(out);
    expect(source.layout).toBe('lines');
    const fold = new TraceAnalysis(source.uvscope);
    for (const line of source.eventLines()) fold.addLine(line);
    const streamed = fold.finish();
    expect(comparable(streamed)).toEqual(comparable(reference));
    const durations = reference.threads.flatMap((t) => t.httpRequests.map((r) => r.durationMs)).sort((x, y) => x - y);
    for (const q of [0.5, 0.99]) {
      const nearest = durations.length ? durations[Math.min(durations.length - 1, Math.max(0, Math.ceil(q * durations.length) - 1))] : undefined;
      expect(requestDurationQuantile(streamed, q)).toBe(nearest);
    }
    if (name === 'http') expect(durations.length).toBeGreaterThan(0);
    expect(formatSummary(file, streamed)).toBe(formatSummary(file, analyzeTrace(file)));
  }, 120_000);

  test('past its caps the fold keeps the longest slices and the slowest requests, counts the rest, and the summary says so', () => {
    const events: TraceEvent[] = [{ name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'main thread' } }];
    for (let i = 1; i <= 1000; i++) events.push({ ...slice(1, i), dur: (i * 7919) % 1000 });
    for (let i = 0; i < 500; i++) {
      events.push({ name: `GET /${i}`, cat: HTTP_REQUEST_CATEGORY, ph: 'b', pid: 1, tid: 0, ts: i * 100, id2: { local: String(i) }, args: { uvscope: HTTP_REQUEST_MARK, id: i, method: 'GET', url: `/${i}`, status: 200, completed: true, durationMs: (i * 37) % 500 } });
    }
    const file = { traceEvents: events, uvscope: { blockMs: 20, processes: [] } };
    const limits = { maxSlices: 100, maxHttpRequests: 10, maxHttpDurations: 50 };
    const model = analyzeTrace(file, limits);
    const [t] = model.threads;
    const longest = events.filter((e) => e.cat === 'loop').map((e) => e.dur!).sort((x, y) => y - x).slice(0, 100);
    expect(t.loop.map((e) => e.dur).sort((x, y) => y! - x!)).toEqual(longest);
    // Kept in file order.
    expect(t.loop.map((e) => e.ts)).toEqual([...t.loop.map((e) => e.ts!)].sort((x, y) => x - y));
    expect(t.httpRequests.map((r) => r.durationMs).sort((x, y) => y - x)).toEqual([499, 498, 497, 496, 495, 494, 493, 492, 491, 490]);
    expect(t.capped).toEqual({ slices: 900, httpRequests: 490 });
    expect(t.httpRequestsSeen).toBe(500);
    expect(model.httpDurationsSeen).toBe(500);
    expect(model.httpDurationsMs).toHaveLength(50);
    // The same through addLine, and the same again (the sample is deterministic).
    const fold = new TraceAnalysis(file.uvscope, limits);
    for (const e of events) fold.addLine(JSON.stringify(e));
    expect(fold.finish()).toEqual(model);
    const summary = formatSummary(file, model);
    expect(summary).toMatch(/left out of this summary and the report .*: 900 loop slices, 490 HTTP requests/);
    expect(summary).toMatch(/HTTP requests: 500 finished, p50 .* \(of a uniform sample of 50\); the slowest:/);
  });
});

describe('the summary of a bounded recording (contract 2: windows, spans, what was left out of the detail)', () => {
  test('says how the run was kept, and gives HTTP latency over the run from the windows', () => {
    const window = (i: number, http?: { count: number; p50Ms: number; p99Ms: number; maxMs: number }) => ({
      startUs: i * 1e6,
      endUs: (i + 1) * 1e6,
      iterations: 100,
      busyMs: 500,
      pollWaitMs: 500,
      utilization: 0.5,
      phasesMs: { poll: 600, check: 100, timers: 200, pending: 100 },
      longestIterationMs: 3,
      longIterations: 0,
      stalls: 0,
      ...(http ? { http: { ...http, byStatus: { '2xx': http.count }, notCompleted: 0 } } : {}),
    });
    const info = {
      tid: 0,
      name: 'main thread',
      longIterations: [],
      httpRequests: 6000,
      dropped: { markers: 0, jobs: 0, requests: 0, utilization: 0, longIterations: 0, httpRequests: 0, windows: 0, spans: 0 },
      cpuSamples: 10,
      cpuSamplesOmitted: 5000,
      detail: 'bounded',
      windows: [window(0, { count: 2000, p50Ms: 0.1, p99Ms: 0.5, maxMs: 2 }), window(1, { count: 2000, p50Ms: 0.2, p99Ms: 0.7, maxMs: 3 }), window(2, { count: 2000, p50Ms: 0.3, p99Ms: 9, maxMs: 40 })],
      spans: [{ startUs: 2.5e6, endUs: 2.75e6 }],
      leftOut: { markers: 120_000, requests: 0, jobs: 0, httpRequests: 5990 },
      complete: true,
    };
    const events: TraceEvent[] = [{ name: 'thread_name', ph: 'M', pid: 1, tid: 0, args: { name: 'main thread' } }];
    for (let i = 0; i < 10; i++) {
      events.push({ name: `GET /${i}`, cat: HTTP_REQUEST_CATEGORY, ph: 'b', pid: 1, tid: 0, ts: 2.5e6 + i * 1000, id2: { local: String(i) }, args: { uvscope: HTTP_REQUEST_MARK, id: i, method: 'GET', url: `/${i}`, status: 200, completed: true, durationMs: i } });
    }
    const file = { traceEvents: events, uvscope: { blockMs: 20, processes: [{ pid: 1, title: 'app (pid 1)', threads: [info as never] }] } };
    const summary = formatSummary(file).split('\n');
    expect(summary).toContain('  recorded bounded: 3 windows over 3.0 s, full detail in 1 span (0.25 s); summed in the windows, not in detail: 120000 loop markers, 5990 HTTP requests, 5000 CPU sample times (in the call tree)');
    expect(summary).toContain(
      'HTTP requests: 6000 finished (10 in full detail, around long iterations); per window of the run: p50 0.20 ms (median of the windows\'), p99 0.70 ms (median) to 9.00 ms (worst window), longest 40.00 ms; the slowest in detail:',
    );
  });
});
