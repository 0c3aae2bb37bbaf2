/**
 * HTTP requests still in flight when a trace ends, in process: the tracker's list of requests
 * in flight (a real node:http server, the request held unanswered, then answered: an awaited
 * event each), the records a recording's end makes of them (capped, the longest so far kept),
 * their slices (flagged, named, ending at the trace's end) and the summary, which counts them
 * apart from the finished ones and names them with their time so far.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { HTTP_REQUEST_CHANNEL, HttpRequestRecord } from '../../src/channels';
import { acquireHttpRequests, httpRequestsInFlight, InFlightRequest, releaseHttpRequests } from '../../src/loop/http-requests';
import { inFlightRecords, IN_FLIGHT_NOTE } from '../../src/trace/in-flight-requests';
import { ProcessCollector } from '../../src/trace/process-collector';
import { formatSummary } from '../../src/trace/summary';
import { httpBatch, httpRecord } from '../helpers';

const MS = 1_000_000n;
const listed = (id: number, url: string, startMs: number): InFlightRequest => ({ id, method: 'POST', url, protocol: 'http', startedAtNs: BigInt(startMs) * MS });

test('the tracker lists a request while its server has not answered it, and not after', async () => {
  const onRecord = () => {};
  // A subscriber, as a recording has: the tracker times the start only then.
  diagnosticsChannel.subscribe(HTTP_REQUEST_CHANNEL, onRecord);
  acquireHttpRequests();
  let answer!: (res: http.ServerResponse) => void;
  const held = new Promise<http.ServerResponse>((resolve) => (answer = resolve));
  const server = http.createServer((_req, res) => answer(res));
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const before = process.hrtime.bigint();
    const response = new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path: '/hang?x=1', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      }).on('error', reject);
    });
    const res = await held;
    const now = httpRequestsInFlight();
    expect(now).toEqual([{ id: expect.any(Number), method: 'GET', url: '/hang?x=1', protocol: 'http', startedAtNs: expect.any(BigInt) }]);
    expect(now[0].startedAtNs).toBeGreaterThanOrEqual(before);
    // Listing does not disturb it: it is answered as usual, and then no longer listed.
    const closed = new Promise((resolve) => res.on('close', resolve));
    res.end('late\n');
    expect(await response).toBe(200);
    await closed;
    expect(httpRequestsInFlight()).toEqual([]);
  } finally {
    server.close();
    releaseHttpRequests();
    diagnosticsChannel.unsubscribe(HTTP_REQUEST_CHANNEL, onRecord);
  }
});

test('records at the end: timed starts only, ending at the end, the longest so far kept, the rest counted', () => {
  const listing = [listed(3, '/c', 30), listed(1, '/a', 10), { ...listed(9, '/untimed', 0), startedAtNs: 0n }, listed(2, '/b', 20), listed(4, '/later', 2000)];
  const { records, leftOut } = inFlightRecords(listing, 1000n * MS, 2);
  expect(records).toEqual([
    { id: 1, method: 'POST', url: '/a', protocol: 'http', statusCode: 0, completed: false, startedAtNs: 10n * MS, endedAtNs: 1000n * MS, inFlight: true },
    { id: 2, method: 'POST', url: '/b', protocol: 'http', statusCode: 0, completed: false, startedAtNs: 20n * MS, endedAtNs: 1000n * MS, inFlight: true },
  ]);
  // /c is left out; /untimed (no trace timed it) and /later (after the end) are not requests of this trace.
  expect(leftOut).toBe(1);
  expect(inFlightRecords([], 1n)).toEqual({ records: [], leftOut: 0 });
});

const finished = httpRecord;

test('slices: flagged and named in flight, ending at the end; the summary counts them apart and names them', () => {
  const collector = new ProcessCollector({ maxMarkers: 100, maxRecords: 100 });
  collector.add({ ...httpBatch([finished(1, '/fast', 10, 12), finished(2, '/slow', 20, 50)]), startNs: 0n });
  const { records } = inFlightRecords([listed(7, '/hang', 100)], 1000n * MS);
  collector.add({ ...httpBatch(records), endNs: 1000n * MS });
  const { events, info } = collector.build(1, 'app', 0n, 20e6, 1000n * MS);
  const hang = events.filter((e) => e.name.startsWith('POST /hang'));
  expect(hang.map((e) => [e.ph, e.name, e.ts])).toEqual([
    ['b', `POST /hang (${IN_FLIGHT_NOTE})`, 100_000],
    ['e', `POST /hang (${IN_FLIGHT_NOTE})`, 1_000_000],
  ]);
  expect(hang[0].args).toMatchObject({ id: 7, method: 'POST', url: '/hang', status: 0, completed: false, durationMs: 900, inFlight: true, note: IN_FLIGHT_NOTE });
  expect(JSON.parse(hang[0].args!.detail as string).devtools).toMatchObject({ color: 'warning', tooltipText: `POST /hang (${IN_FLIGHT_NOTE}): 900.00 ms so far` });
  const summary = formatSummary({ traceEvents: events, uvscope: { blockMs: 20, processes: [info] } }).split('\n');
  // The finished ones' count and quantiles leave it out; the slowest list has it first, with its time so far.
  const head = summary.findIndex((l) => l.startsWith('HTTP requests: 2 finished, p50 2.00 ms p99 30.00 ms; the slowest:'));
  expect(head).toBeGreaterThan(0);
  expect(summary[head + 1]).toBe(`  POST /hang (${IN_FLIGHT_NOTE}): 900.00 ms so far`);
  expect(summary).toContain('  still in flight when the trace ended: 1 (drawn to the end, time so far): POST /hang 900.00 ms');
});

test('summary: only requests in flight, none finished', () => {
  const collector = new ProcessCollector({ maxMarkers: 100, maxRecords: 100 });
  const { records } = inFlightRecords([listed(1, '/hang', 100), listed(2, '/other', 400)], 500n * MS);
  collector.add({ ...httpBatch(records), startNs: 0n, endNs: 500n * MS });
  const { events, info } = collector.build(1, 'app', 0n, 20e6, 500n * MS);
  const summary = formatSummary({ traceEvents: events, uvscope: { blockMs: 20, processes: [info] } }).split('\n');
  const head = summary.indexOf('HTTP requests: none finished; the slowest:');
  expect(head).toBeGreaterThan(0);
  expect(summary.slice(head + 1, head + 4)).toEqual([
    `  POST /hang (${IN_FLIGHT_NOTE}): 400.00 ms so far`,
    `  POST /other (${IN_FLIGHT_NOTE}): 100.00 ms so far`,
    '  still in flight when the trace ended: 2 (drawn to the end, time so far): POST /hang 400.00 ms, POST /other 100.00 ms',
  ]);
});
