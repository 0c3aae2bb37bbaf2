/**
 * A process's trace made as it is written (ProcessCollector.stream(), TraceSession.stream(),
 * writeProcessTrace over an iterable): the events of a thread are made only when read, so the
 * writer holds one at a time instead of the whole trace (which grew with the run: 2 to 2.7
 * times the file, the traced process's peak at exit); read twice, they are made twice and equal;
 * the file is the one the array gives, byte for byte.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { HttpRequestRecord } from '../../src/channels';
import { ProcessCollector } from '../../src/trace/process-collector';
import { writeProcessTrace } from '../../src/trace/session';
import type { ThreadBatch } from '../../src/trace/thread-recorder';

const MS = 1_000_000n;
const columns = () => ({ timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) });

/** A record whose status is counted when read: only the request's trace events read it (a few times each). */
function countedRecord(id: number, reads: { n: number }): HttpRequestRecord {
  const r = { id, method: 'GET', url: `/r/${id}`, protocol: 'http' as const, completed: true, startedAtNs: BigInt(id) * MS, endedAtNs: BigInt(id) * MS + 500_000n } as HttpRequestRecord;
  Object.defineProperty(r, 'statusCode', { enumerable: true, get: () => (reads.n++, 200) });
  return r;
}

function collectorWith(records: HttpRequestRecord[]): ProcessCollector {
  const collector = new ProcessCollector({ maxMarkers: 1000, maxRecords: 10_000 });
  const batch: ThreadBatch = { threadId: 0, startNs: 0n, markers: columns(), droppedMarkers: 0, longIterations: [], utilization: [{ timeNs: 10n * MS, utilization: 0.5 }], jobs: [], requests: [], httpRequests: records, stalls: [] };
  collector.add(batch);
  return collector;
}

test('stream: a thread\'s events are made when read, made anew on each read, equal to build()\'s', () => {
  const reads = { n: 0 };
  const records = Array.from({ length: 1000 }, (_, i) => countedRecord(i + 1, reads));
  const collector = collectorWith(records);
  const { events, info } = collector.stream(1, 'app (pid 1)', 0n, 20e6, 2000n * MS);
  expect(info.threads[0].httpRequests).toBe(1000);
  expect(reads.n).toBe(0);
  const it = events[Symbol.iterator]();
  expect(it.next().value).toMatchObject({ name: 'process_name' });
  // The process's name is out; the thread's request events (a status read each) are not made yet.
  expect(reads.n).toBe(0);
  const first = [...events];
  const perRead = reads.n;
  expect(perRead).toBeGreaterThanOrEqual(1000);
  const second = [...events];
  expect(reads.n).toBe(2 * perRead);
  expect(second).toEqual(first);
  const begin = (list: typeof first) => list.find((e) => e.ph === 'b')!;
  expect(begin(second)).not.toBe(begin(first));
  expect(first.filter((e) => e.ph === 'b')).toHaveLength(1000);
  expect(collector.build(1, 'app (pid 1)', 0n, 20e6, 2000n * MS).events).toEqual(first);
});

test('writeProcessTrace: the file from a stream is the file from the array; the events are counted', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-stream-'));
  try {
    const reads = { n: 0 };
    const collector = collectorWith(Array.from({ length: 50 }, (_, i) => countedRecord(i + 1, reads)));
    const { events, info } = collector.stream(1, 'app (pid 1)', 0n, 20e6, 2000n * MS);
    const uvscope = { blockMs: 20, stallMs: 200, processes: [info] };
    const array = [...events];
    const fromStream = path.join(dir, 'stream.json');
    const fromArray = path.join(dir, 'array.json');
    expect(writeProcessTrace(fromStream, { traceEvents: events, uvscope })).toBe(array.length);
    expect(writeProcessTrace(fromArray, { traceEvents: array, uvscope })).toBe(array.length);
    const text = fs.readFileSync(fromStream, 'utf8');
    expect(text).toBe(fs.readFileSync(fromArray, 'utf8'));
    expect(JSON.parse(text).traceEvents).toHaveLength(array.length);
    // No event: still a valid document.
    const empty = path.join(dir, 'empty.json');
    expect(writeProcessTrace(empty, { traceEvents: [][Symbol.iterator]() as unknown as Iterable<never>, uvscope })).toBe(0);
    expect(JSON.parse(fs.readFileSync(empty, 'utf8')).traceEvents).toEqual([]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
