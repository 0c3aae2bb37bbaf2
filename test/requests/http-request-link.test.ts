/**
 * Pool work linked to the HTTP request that submitted it (issue #25 item 6): a node:http server
 * in a child process (fixtures/serve-two.js: fresh, so no earlier test file's copy of uvscope has
 * patched Node's fs binding or prototypes there) with two requests in flight at once, each reading a file (fs.readFile: open,
 * fstat, read and close, one fs.readFile request on Node 26) and hashing on uvscope's pool from
 * its handler's synchronous part, hashing again in the read's callback, then, after an `await`,
 * a crypto.pbkdf2 and an HMAC on uvscope's pool. The records on `uvscope:threadpool:request` and `uvscope:threadpool:job`
 * name their request (`httpRequestId`): everywhere on Node 24 and later (async context frames);
 * on Node 20 and 22 all but the work after the `await`, which names none (never the other
 * request). The trace model made from the records (slowestRequests) counts each request's work
 * for it and not for the other overlapping one; with the tracker off no record names a request.
 * The overlap is made, not hoped for: each handler waits, before its `await` work, until both
 * requests have started, and answers only once the work of both has settled.
 */
import { fork } from 'node:child_process';
import path from 'node:path';

import type { HttpRequestRecord, JobRecord, PoolRequestRecord } from '../../src/channels';
import { asyncContextFramesInUse } from '../../src/loop/http-requests';
import { analyzeTrace } from '../../src/trace/analysis';
import { threadEvents } from '../../src/trace/format';
import { slowestRequests } from '../../src/trace/model-queries';
import { slowRequestLines } from '../../src/trace/summary';

const frames = asyncContextFramesInUse();
const ONE_READ_FILE_REQUEST = Number(process.versions.node.split('.')[0]) >= 26;
/** Pool requests of one fs.readFile (one ReadFileJob on Node 26). */
const READ_FILE_REQUESTS = ONE_READ_FILE_REQUEST ? 1 : 4;

interface Seen {
  requests: PoolRequestRecord[];
  jobs: JobRecord[];
  http: HttpRequestRecord[];
}

const LIB = path.resolve(__dirname, '..', '..', 'lib');
const SERVE_TWO = path.join(__dirname, 'fixtures', 'serve-two.js');

/** Serves GET /a and GET /b at once in a child (both in flight before either ends), the HTTP tracker on or off; returns what the channels published meanwhile. */
function serveTwo(tracker: 'on' | 'off'): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const child = fork(SERVE_TWO, [LIB, tracker], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let seen: (Seen & { answers: string[] }) | undefined;
    child.on('message', (message) => (seen = message as Seen & { answers: string[] }));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 || seen === undefined) return reject(new Error(`serve-two.js exited with ${code}${seen ? '' : ', nothing sent'}`));
      expect(seen.answers).toEqual(['200 a', '200 b']);
      resolve(seen);
    });
  });
}

describe('with the HTTP tracker on', () => {
  let seen: Seen;
  let ids: { a: number; b: number };
  beforeAll(async () => {
    seen = await serveTwo('on');
    const byUrl = new Map(seen.http.map((r) => [r.url, r]));
    ids = { a: byUrl.get('/a')!.id, b: byUrl.get('/b')!.id };
  });

  test('both requests were in flight at once', () => {
    const [a, b] = ['/a', '/b'].map((url) => seen.http.find((r) => r.url === url)!);
    expect(a.startedAtNs < b.endedAtNs && b.startedAtNs < a.endedAtNs).toBe(true);
  });

  test("each request's file read and jobs of its synchronous part and callbacks name it (every Node)", () => {
    for (const id of [ids.a, ids.b]) {
        const own = seen.requests.filter((r) => r.httpRequestId === id && r.kind.startsWith('fs'));
      expect(own).toHaveLength(READ_FILE_REQUESTS);
      expect(seen.jobs.filter((j) => j.httpRequestId === id && j.kernel === 'hash')).toHaveLength(2);
    }
    // Nothing names a request that is neither.
    expect(seen.requests.every((r) => r.httpRequestId === undefined || r.httpRequestId === ids.a || r.httpRequestId === ids.b)).toBe(true);
    expect(seen.jobs.every((j) => j.httpRequestId === undefined || j.httpRequestId === ids.a || j.httpRequestId === ids.b)).toBe(true);
  });

  test(`the work after an await ${frames ? 'names its request (async context frames)' : 'names no request (no async context frames here)'}`, () => {
    const pbkdf2s = seen.requests.filter((r) => r.kind === 'crypto.pbkdf2');
    const hmacs = seen.jobs.filter((j) => j.kernel === 'hmac');
    expect(pbkdf2s).toHaveLength(2);
    expect(hmacs).toHaveLength(2);
    const named = [...pbkdf2s, ...hmacs].map((r) => r.httpRequestId).sort();
    expect(named).toEqual(frames ? [ids.a, ids.a, ids.b, ids.b].sort() : [undefined, undefined, undefined, undefined]);
  });

  test("slowestRequests counts each request's work for it, not for the other in flight beside it", () => {
    const times = seen.http.flatMap((r) => [r.startedAtNs, r.endedAtNs]);
    const startNs = times.reduce((a, b) => (a < b ? a : b)) - 1_000_000n;
    const endNs = times.reduce((a, b) => (a > b ? a : b)) + 1_000_000n;
    const traceEvents = threadEvents({
      pid: 1,
      tid: 0,
      threadName: 'main thread',
      originNs: startNs,
      startNs,
      endNs,
      markers: { timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) },
      longIterationNs: 20e6,
      jobs: seen.jobs,
      requests: seen.requests,
      stalls: [],
      httpRequests: seen.http,
      utilization: [],
    });
    const slow = slowestRequests(analyzeTrace({ traceEvents }), 2);
    expect(slow.map((r) => r.request.name).sort()).toEqual(['GET /a', 'GET /b']);
    const ownRequests = READ_FILE_REQUESTS + 1; // and the pbkdf2
    for (const r of slow) {
      // Without frames the pbkdf2 and the HMAC after the await name no request: linked by time,
      // they count for both (each was submitted while both were in flight).
      const byTime = frames ? 0 : 2;
      expect(r.pool).toMatchObject({ count: ownRequests + (frames ? 0 : 1), byTime });
      expect(r.jobs).toMatchObject({ count: 2 + (frames ? 1 : 2), byTime });
      expect(slowRequestLines(r, 1)).toContain(
        `    uvscope jobs it submitted: ${r.jobs.count}${byTime ? ` (${byTime} linked by time only)` : ''}, queue wait ${r.jobs.queueWaitMs.toFixed(2)} ms in all`,
      );
    }
  });
});

test('with the HTTP tracker off, no record names a request', async () => {
  const seen = await serveTwo('off');
  expect(seen.http).toEqual([]);
  expect(seen.requests.length).toBeGreaterThanOrEqual(2 * READ_FILE_REQUESTS + 2);
  expect(seen.jobs.length).toBe(6);
  expect(seen.requests.filter((r) => 'httpRequestId' in r)).toEqual([]);
  expect(seen.jobs.filter((j) => 'httpRequestId' in j)).toEqual([]);
});
