/**
 * The HTTP requests in the trace, from records (pure functions, no process): a stall's report
 * matched to the request's record (method, URL, nearest start), long iterations linked to the
 * requests a stall in them named and to those in flight, the async slice pairs (unique ids
 * across processes, DevTools' track detail), the stall slice's links, the collector's bound on
 * records, and the slowest requests the summary lists (their own stalls apart from those they
 * waited for; pool work linked by the request id its record names, else by time).
 */
import type { HttpRequestRecord } from '../../src/channels';
import type { StallEvent } from '../../src/loop/stall-watchdog';
import { analyzeTrace } from '../../src/trace/analysis';
import { threadEvents, TraceEvent } from '../../src/trace/format';
import { linkIterations, requestName, RequestIndex, requestSliceId } from '../../src/trace/http-track';
import { slowestRequests } from '../../src/trace/model-queries';
import { ProcessCollector } from '../../src/trace/process-collector';
import { formatSummary, slowRequestLines } from '../../src/trace/summary';
import { httpBatch, httpRecord } from '../helpers';

const MS = 1_000_000n;
const record = httpRecord;
const stall = (startMs: number, durationMs: number, request?: { url: string; startMs: number; id?: number }, extra: Partial<StallEvent> = {}): StallEvent => {
  const named = request && { id: request.id ?? 0, method: 'GET', url: request.url, startedAtNs: BigInt(request.startMs) * MS - 5000n };
  return {
    threadId: 0,
    stall: 1,
    startedAtNs: BigInt(startMs) * MS,
    durationNs: durationMs * 1e6,
    phase: 'poll',
    iteration: 3,
    reports: [{ atNs: BigInt(startMs + 100) * MS, elapsedNs: 100e6, phase: 'poll', iteration: 3, cpuNs: 97e6, ...(named ? { request: named } : {}) }],
    reportCount: 1,
    ...(named ? { request: named } : {}),
    thresholdNs: 100e6,
    recovered: true,
    ...extra,
  };
};

describe('RequestIndex: the record of the request a stall report named', () => {
  const records = [record(1, '/a', 100, 200), record(2, '/a', 150, 400), record(3, '/b', 150, 300), record(4, `/long?${'q'.repeat(3000)}`, 10, 20)];
  const index = new RequestIndex(records);
  test('same method and URL, the nearest start (the table and the record read the clock µs apart)', () => {
    expect(index.find({ id: 0, method: 'GET', url: '/a', startedAtNs: 150n * MS - 3000n })?.id).toBe(2);
    expect(index.find({ id: 0, method: 'GET', url: '/a', startedAtNs: 100n * MS })?.id).toBe(1);
    expect(index.find({ id: 0, method: 'POST', url: '/a', startedAtNs: 100n * MS })).toBeUndefined();
    // Too far from any: a request that never finished while recorded.
    expect(index.find({ id: 0, method: 'GET', url: '/b', startedAtNs: 900n * MS })).toBeUndefined();
    expect(index.ref({ id: 0, method: 'GET', url: '/b', startedAtNs: 900n * MS })).toEqual({ name: 'GET /b' });
  });
  test("the report's request id finds its record exactly, whatever the start times say", () => {
    expect(index.find({ id: 1, method: 'GET', url: '/a', startedAtNs: 150n * MS })?.id).toBe(1);
    // An id whose record is another request's (another thread's numbering): the fallback.
    expect(index.find({ id: 3, method: 'GET', url: '/a', startedAtNs: 150n * MS })?.id).toBe(2);
  });
  test('a URL the report cut at 2,048 bytes matches the whole one', () => {
    expect(index.find({ id: 0, method: 'GET', url: records[3].url.slice(0, 2048), startedAtNs: 10n * MS })?.id).toBe(4);
  });
  test('names are one line, cut at 200 characters', () => {
    expect(requestName('GET', '/x\ny')).toBe('GET /x\\x0ay');
    expect(requestName('GET', `/${'x'.repeat(300)}`)).toHaveLength(200);
  });
});

test('linkIterations: the requests a stall inside named, and those in flight (one sweep, any input order)', () => {
  const records = [record(1, '/block', 100, 700), record(2, '/slow', 90, 800), record(3, '/early', 10, 50), record(4, '/late', 750, 760)];
  const stalls = [stall(110, 580, { url: '/block', startMs: 100 })];
  const links = linkIterations(
    [
      { startNs: 700n * MS, endNs: 755n * MS },
      { startNs: 105n * MS, endNs: 695n * MS },
      { startNs: 0n, endNs: 5n * MS },
    ],
    stalls,
    records,
  );
  expect(links[1]).toEqual({ stalled: [{ name: 'GET /block', id: 1 }], inFlight: 2, inFlightSample: [{ name: 'GET /slow', id: 2 }, { name: 'GET /block', id: 1 }] });
  expect(links[0]).toEqual({ stalled: [], inFlight: 2, inFlightSample: [{ name: 'GET /slow', id: 2 }, { name: 'GET /late', id: 4 }] });
  expect(links[2]).toEqual({ stalled: [], inFlight: 0, inFlightSample: [] });
});

const columns = () => ({ timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) });

function traceOf(pid: number, records: HttpRequestRecord[], stalls: StallEvent[], extra: Partial<Parameters<typeof threadEvents>[0]> = {}): TraceEvent[] {
  return threadEvents({
    pid,
    tid: 0,
    threadName: 'main thread',
    originNs: 0n,
    startNs: 0n,
    endNs: 1000n * MS,
    markers: columns(),
    longIterationNs: 20e6,
    jobs: [],
    requests: [],
    stalls,
    httpRequests: records,
    utilization: [],
    ...extra,
  });
}

test('threadEvents: a b/e pair per request (ids unique across processes), the stall linked to its request', () => {
  const records = [record(7, '/block', 100, 700), record(8, '/slow', 90, 800, { completed: false, statusCode: 0 })];
  const events = [...traceOf(11, records, [stall(110, 580, { url: '/block', startMs: 100 })]), ...traceOf(12, records, [])];
  const begins = events.filter((e) => e.ph === 'b');
  expect(begins).toHaveLength(4);
  expect(new Set(begins.map((e) => e.id2!.local)).size).toBe(4);
  expect(begins[0].id2!.local).toBe(requestSliceId(11, 0, 7));
  for (const b of begins) expect(events.filter((e) => e.ph === 'e' && e.id2?.local === b.id2!.local && e.name === b.name && e.cat === b.cat)).toHaveLength(1);
  const block = begins.find((e) => e.pid === 11 && e.name === 'GET /block')!;
  expect(block).toMatchObject({ ts: 100_000, cat: 'blink.user_timing', args: { id: 7, status: 200, completed: true, durationMs: 600, stalls: 1 } });
  const detail = JSON.parse(String(block.args!.detail)).devtools;
  expect(detail).toMatchObject({ dataType: 'track-entry', trackGroup: 'HTTP requests', track: 'main thread (pid 11)', color: 'error' });
  expect(JSON.parse(String(begins.find((e) => e.pid === 11 && e.name === 'GET /slow')!.args!.detail)).devtools.color).toBe('warning');
  const s = events.find((e) => e.cat === 'stall')!;
  expect(s.args).toMatchObject({ request: 'GET /block', requestId: 7, onCpu: 0.97, cpuMs: 97 });
  expect((s.args!.reports as { request?: string }[])[0].request).toBe('GET /block');
});

test('ProcessCollector: the newest HTTP requests are kept, the dropped counted; long iterations carry their links', () => {
  const collector = new ProcessCollector({ maxMarkers: 100, maxRecords: 2 });
  collector.add({ ...httpBatch([record(1, '/1', 10, 20), record(2, '/2', 30, 40)]), startNs: 0n });
  collector.add(
    httpBatch([record(3, '/block', 100, 700)], {
      stalls: [stall(110, 580, { url: '/block', startMs: 100 })],
      longIterations: [{ iteration: 3, durationNs: 600e6, pollWaitNs: 0, pollWorkNs: 590e6, outsidePollNs: 10e6, thresholdNs: 20e6, endedAtNs: 705n * MS, threadId: 0 }],
    }),
  );
  const { events, info } = collector.build(1, 'app', 0n, 20e6, 1000n * MS);
  expect(events.filter((e) => e.ph === 'b').map((e) => e.name)).toEqual(['GET /2', 'GET /block']);
  const thread = info.threads[0];
  expect(thread.httpRequests).toBe(3);
  expect(thread.dropped.httpRequests).toBe(1);
  expect(thread.longIterations[0]).toMatchObject({ stallRequests: [{ name: 'GET /block', id: 3 }], requestsInFlight: 1, inFlight: [{ name: 'GET /block', id: 3 }] });
  const summary = formatSummary({ traceEvents: events, uvscope: { blockMs: 20, processes: [info] } });
  expect(summary).toMatch(/^HTTP requests: 3 finished \(the newest 2 kept\), p50 /m);
  expect(summary).toMatch(/dropped to bound memory \(the oldest\): .*, 1 HTTP requests$/m);
  const long = events.find((e) => e.name === 'long iteration')!;
  expect(long).toMatchObject({ ph: 'I', ts: 105_000, args: { iteration: 3, request: 'GET /block', requestId: 3, requestsInFlight: 1 } });
});

test('slowestRequests: its own stall apart from those it waited for; long iterations; pool requests and jobs without a request id linked by time', () => {
  const records = [record(1, '/block', 100, 700), record(2, '/slow', 90, 800), record(3, '/fast', 900, 901)];
  const events = traceOf(5, records, [stall(110, 580, { url: '/block', startMs: 100 }, { context: { tenant: 'acme' } })], {
    requests: [
      { kind: 'fs.read', outcome: 'completed', submittedAtNs: 120e6, latencyNs: 30e6 },
      { kind: 'crypto.pbkdf2', outcome: 'completed', submittedAtNs: 750e6, latencyNs: 40e6 },
      { kind: 'fs.stat', outcome: 'completed', submittedAtNs: 50e6, latencyNs: 1e6 },
    ],
    jobs: [
      { kernel: 'hash', outcome: 'completed', queuedAt: 760n * MS, startedAt: 770n * MS, finishedAt: 771n * MS, settledAt: 772n * MS, queueWaitNs: 10e6, runNs: 1e6, returnDelayNs: 1e6, thread: 0, bytes: 10 },
    ],
  });
  const file = {
    traceEvents: events,
    uvscope: {
      blockMs: 20,
      processes: [{ pid: 5, title: 'app', threads: [{ tid: 0, name: 'main thread', complete: true, cpuSamples: 0, dropped: { markers: 0, jobs: 0, requests: 0, utilization: 0, longIterations: 0 }, longIterations: [{ iteration: 3, endedAtUs: 705_000, durationMs: 600, pollWaitMs: 0, pollWorkMs: 590, outsidePollMs: 10, stallRequests: [{ name: 'GET /block', id: 1 }] }] }] }],
    },
  };
  const model = analyzeTrace(file);
  const [slow, block, fast] = slowestRequests(model, 3);
  expect(slow.request.name).toBe('GET /slow');
  expect(slow.stalls).toEqual([expect.objectContaining({ own: false, request: 'GET /block', durationMs: 580, onCpu: 0.97 })]);
  expect(slow.long).toEqual([expect.objectContaining({ iteration: 3, own: false })]);
  expect(slow.pool).toEqual({ count: 2, byTime: 2, latencyMs: 70, longest: { kind: 'crypto.pbkdf2', latencyMs: 40 } });
  expect(slow.jobs).toEqual({ count: 1, byTime: 1, queueWaitMs: 10 });
  expect(block.request.name).toBe('GET /block');
  expect(block.stalls).toEqual([expect.objectContaining({ own: true, context: { tenant: 'acme' } })]);
  expect(block.long).toEqual([expect.objectContaining({ own: true })]);
  expect(block.pool).toMatchObject({ count: 1, longest: { kind: 'fs.read' } });
  expect(fast).toMatchObject({ stalls: [], long: [], pool: { count: 0 }, jobs: { count: 0 } });
  const summary = formatSummary(file, model).split('\n');
  const at = summary.indexOf('  GET /block: 600.00 ms, 200');
  expect(summary.slice(at, at + 4)).toEqual([
    '  GET /block: 600.00 ms, 200',
    '    its stall: 580.00 ms in poll, 97% on CPU, tenant=acme',
    '    long iterations while in flight: 3 (600.00 ms, its stall ran in it)',
    '    Node pool requests it submitted: 1 (1 linked by time only), latency 30.00 ms in all, longest fs.read 30.00 ms',
  ]);
  expect(summary).toContain('HTTP requests: 3 finished, p50 600.00 ms p99 710.00 ms; the slowest:');
});

test("slowestRequests: pool records that name their HTTP request count for it only, not for another in flight; those without, by time", () => {
  // Two requests in flight at once (100-600 ms and 150-500 ms) on the main thread.
  const records = [record(1, '/a', 100, 600), record(2, '/b', 150, 500)];
  const job = (queuedMs: number, httpRequestId?: number) => ({
    kernel: 'hash' as const,
    outcome: 'completed' as const,
    queuedAt: BigInt(queuedMs) * MS,
    startedAt: BigInt(queuedMs + 2) * MS,
    finishedAt: BigInt(queuedMs + 3) * MS,
    settledAt: BigInt(queuedMs + 4) * MS,
    queueWaitNs: 2e6,
    runNs: 1e6,
    returnDelayNs: 1e6,
    thread: 0,
    bytes: 10,
    ...(httpRequestId !== undefined ? { httpRequestId } : {}),
  });
  const events = traceOf(5, records, [], {
    requests: [
      { kind: 'fs.open', outcome: 'completed', submittedAtNs: 200e6, latencyNs: 10e6, httpRequestId: 1 },
      { kind: 'fs.read', outcome: 'completed', submittedAtNs: 210e6, latencyNs: 20e6, httpRequestId: 1 },
      { kind: 'fs.stat', outcome: 'completed', submittedAtNs: 220e6, latencyNs: 5e6, httpRequestId: 2 },
      // After both ended, but submitted for /a's (a callback of its work): still /a's.
      { kind: 'fs.close', outcome: 'completed', submittedAtNs: 700e6, latencyNs: 1e6, httpRequestId: 1 },
      // No request named (submitted before tracking, or where it could not tell): both in flight.
      { kind: 'dns.lookup', outcome: 'completed', submittedAtNs: 300e6, latencyNs: 7e6 },
    ],
    jobs: [job(250, 2), job(260, 2), job(270)],
  });
  const model = analyzeTrace({ traceEvents: events });
  expect(model.threads[0].requests.find((r) => r.kind === 'fs.stat')).toMatchObject({ httpRequestId: 2 });
  const [a, b] = slowestRequests(model, 2);
  expect(a.request.name).toBe('GET /a');
  expect(a.pool).toEqual({ count: 4, byTime: 1, latencyMs: 38, longest: { kind: 'fs.read', latencyMs: 20 } });
  expect(a.jobs).toEqual({ count: 1, byTime: 1, queueWaitMs: 2 });
  expect(b.request.name).toBe('GET /b');
  expect(b.pool).toEqual({ count: 2, byTime: 1, latencyMs: 12, longest: { kind: 'dns.lookup', latencyMs: 7 } });
  expect(b.jobs).toEqual({ count: 3, byTime: 1, queueWaitMs: 6 });
  const lines = slowRequestLines(b, 1);
  expect(lines).toContain('    Node pool requests it submitted: 2 (1 linked by time only), latency 12.00 ms in all, longest dns.lookup 7.00 ms');
  expect(lines).toContain('    uvscope jobs it submitted: 3 (1 linked by time only), queue wait 6.00 ms in all');
  // All linked by id: no "by time" note.
  const exact = slowestRequests(analyzeTrace({ traceEvents: traceOf(5, records, [], { requests: [{ kind: 'fs.stat', outcome: 'completed', submittedAtNs: 220e6, latencyNs: 5e6, httpRequestId: 2 }] }) }), 2);
  expect(slowRequestLines(exact[1], 1)).toContain('    Node pool requests it submitted: 1, latency 5.00 ms in all, longest fs.stat 5.00 ms');
  expect(exact[0].pool.count).toBe(0);
});
