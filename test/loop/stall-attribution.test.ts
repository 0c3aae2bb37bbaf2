/**
 * For whom the loop was blocked: the HTTP request (and the user's AsyncLocalStorage fields) a
 * stall happened in, read by the stack addon's interrupt without running JavaScript, through
 * real node:http / node:http2 servers in this process. What each Node can do differs, and is
 * checked as such: the request by async id everywhere (the handler's synchronous part, a native
 * call's late stack); through awaits and the user's context only where AsyncLocalStorage lives
 * in async context frames (Node 24+; `contextUnavailable` elsewhere).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

import { HttpRequestRecord, LiveStallReport, StallEvent, StallWatchdog } from '../../src';
import { acquireHttpRequests, asyncContextFramesInUse, httpRequestsInFlight, httpRequestTableStats, releaseHttpRequests, requestStorage } from '../../src/loop/http-requests';
import { requestSlotsFree, requestSlotStats } from '../../src/loop/request-slots';
import { loadStackAddon } from '../../src/stack/load';
import { thrown } from '../helpers';

const frames = asyncContextFramesInUse();
const nodeMajor = Number(process.versions.node.split('.')[0]);

/** When the latest block began: the stall under test is the one that covers it. */
let blockedAt = 0n;

function spin(ms: number): void {
  blockedAt = process.hrtime.bigint();
  const end = blockedAt + BigInt(ms * 1e6);
  while (process.hrtime.bigint() < end);
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A server on this thread; `get(path)` resolves with the body once the response ended. */
async function serve(handler: Handler): Promise<{ get(path: string): Promise<string>; post(path: string, body: string): Promise<string>; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true });
  return {
    get: (path) =>
      new Promise((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      }),
    post: (path, body) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, agent, method: 'POST' }, (res) => {
          let answer = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
          res.on('end', () => resolve(answer));
        });
        req.on('error', reject).end(body);
      }),
    close: () => {
      agent.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The stall of `watchdog` that covers the block `run` makes (`spin`, or a native call marked
 * with `blockedAt`), with its live reports: other stalls are jest's own work on a loaded machine.
 */
function stallDuring(watchdog: StallWatchdog, run: () => Promise<unknown>): Promise<{ stall: StallEvent; live: LiveStallReport[] }> {
  const live: LiveStallReport[] = [];
  const unsubscribe = StallWatchdog.onLiveReport((report) => live.push(report));
  blockedAt = 0n;
  return new Promise((resolve, reject) => {
    const onStall = (stall: StallEvent) => {
      if (blockedAt === 0n || stall.startedAtNs > blockedAt || stall.startedAtNs + BigInt(stall.durationNs) < blockedAt) return;
      watchdog.off('stall', onStall);
      // Live reports arrive through the loop too: give them the turn they need.
      setImmediate(() => {
        unsubscribe();
        resolve({ stall, live: live.filter((r) => r.startedAtNs === stall.startedAtNs) });
      });
    };
    watchdog.on('stall', onStall);
    run().catch(reject);
  });
}

/**
 * The reports taken inside the block (`spin` on their stack). A report whose interrupt did not
 * come within 10 ms (on a machine this busy the blocked thread may wait that long for a CPU)
 * says inNative and names nothing; one taken after the block returned, while the same stall
 * went on in other code, names what that code runs for.
 */
function inBlock(live: LiveStallReport[]): LiveStallReport[] {
  return live.filter((report) => report.stack?.some((frame) => frame.functionName === 'spin'));
}

describe('the HTTP request a stall happened in', () => {
  let watchdog: StallWatchdog | undefined;
  afterEach(() => watchdog?.close());

  beforeAll(() => expect(loadStackAddon()).toMatchObject({ ok: true }));

  test('a block in the handler itself: every report with its stack, and the stall, name the request (every Node)', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const server = await serve((req, res) => {
      if (req.url?.startsWith('/block')) spin(200);
      res.end('done');
    });
    await server.get('/warm'); // the connection exists before the block
    const { stall, live } = await stallDuring(watchdog, () => server.get('/block?n=50000&tenant=a%20b'));
    await server.close();
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const report of answered) {
      expect(report.request).toEqual({ id: expect.any(Number), method: 'GET', url: '/block?n=50000&tenant=a%20b', startedAtNs: expect.any(BigInt) });
      expect(report.request!.startedAtNs).toBeLessThanOrEqual(report.atNs);
    }
    expect(stall.request).toMatchObject({ method: 'GET', url: '/block?n=50000&tenant=a%20b' });
    expect(httpRequestTableStats().inFlight).toBe(0);
  });

  test('with 70 requests in flight (the table grows) the 70th is named, its start on the clock of process.hrtime; a 3,000-character URL is cut', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const waiting: http.ServerResponse[] = [];
    let handlerStartNs = 0n;
    const server = await serve((req, res) => {
      if (req.url?.startsWith('/block')) {
        handlerStartNs = process.hrtime.bigint();
        spin(150);
        res.end('done');
        for (const r of waiting.splice(0)) r.end('later');
        return;
      }
      waiting.push(res);
      if (waiting.length === 69) void server.get(`/block/${'x'.repeat(3000)}`);
    });
    const { stall, live } = await stallDuring(watchdog, () => Promise.all(Array.from({ length: 69 }, (_, i) => server.get(`/hold/${i}`))));
    await server.close();
    const named = inBlock(live);
    expect(named.length).toBeGreaterThanOrEqual(1);
    for (const report of [...named, stall]) {
      expect(report.request!.url.startsWith('/block/xxx')).toBe(true);
      expect(report.request!.url.length).toBeLessThan(1024);
      expect(report.request!.url.length).toBeGreaterThan(900);
      // The request starts before its handler runs, by less than the machine's scheduling noise.
      const leadNs = Number(handlerStartNs - report.request!.startedAtNs);
      expect(leadNs).toBeGreaterThanOrEqual(-1e6);
      expect(leadNs).toBeLessThan(100e6);
    }
    expect(httpRequestTableStats()).toEqual({ inFlight: 0, untracked: 0 });
  });

  test(`after an await: named ${frames ? '(async context frames on this Node)' : 'only where Node keeps AsyncLocalStorage in frames: not here'}`, async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const server = await serve(async (req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      await Promise.resolve();
      spin(150);
      res.end('done');
    });
    const { stall, live } = await stallDuring(watchdog, () => server.get('/after-await'));
    await server.close();
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    if (frames) {
      for (const report of answered) expect(report.request).toMatchObject({ method: 'GET', url: '/after-await' });
      expect(stall.request).toMatchObject({ url: '/after-await' });
    } else {
      for (const report of live) expect(report.request).toBeUndefined();
    }
  });

  test(`in the body's 'end' listener (body parsers run the route there), after an await: named ${frames ? '(async context frames)' : 'only with async context frames: not here'}`, async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const seen: unknown[] = [];
    const server = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', async function (this: unknown, ...args: unknown[]) {
        seen.push(this === req, args.length, body);
        await Promise.resolve();
        spin(150);
        res.end('done');
      });
    });
    const { stall, live } = await stallDuring(watchdog, () => server.post('/body?after=end', '{"a":1}'));
    await server.close();
    // The listener runs as it would without uvscope: on the request, no arguments, after the body.
    expect(seen).toEqual([true, 0, '{"a":1}']);
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    if (frames) {
      for (const report of answered) expect(report.request).toMatchObject({ method: 'POST', url: '/body?after=end' });
      expect(stall.request).toMatchObject({ url: '/body?after=end' });
    } else {
      for (const report of live) expect(report.request).toBeUndefined();
    }
    expect(httpRequestTableStats().inFlight).toBe(0);
  });

  test('a request object started twice (reused) keeps emitting once per call, under its newest id', () => {
    acquireHttpRequests();
    try {
      const start = diagnosticsChannel.channel('http.server.request.start');
      const request = new http.IncomingMessage(null as never);
      request.method = 'POST';
      request.url = '/reused';
      request.rawHeaders = ['Content-Length', '2']; // a body: its events are run in the request
      const ids: (number | undefined)[] = [];
      request.on('end', () => ids.push(requestStorage?.getStore()?.id));
      // Outside any request's context, as a socket's callback would be.
      const outside = (fn: () => unknown) => (requestStorage ? requestStorage.exit(fn) : fn());
      for (let i = 0; i < 2; i++) {
        const response = new http.ServerResponse(request);
        outside(() => start.publish({ request, response, socket: null, server: null }));
        outside(() => request.emit('end'));
        response.destroy(); // unanswered: the count below sweeps it out
      }
      expect(ids.length).toBe(2);
      expect(httpRequestTableStats().inFlight).toBe(0);
      if (frames) expect(ids[1]).toBe(ids[0]! + 1);
      else expect(ids).toEqual([undefined, undefined]);
    } finally {
      releaseHttpRequests();
    }
  });

  test(`a request's events run in it ${frames ? 'when its headers say it has a body, names in any case' : 'only with async context frames: not here'}`, () => {
    acquireHttpRequests();
    try {
      const start = diagnosticsChannel.channel('http.server.request.start');
      const outside = (fn: () => unknown) => (requestStorage ? requestStorage.exit(fn) : fn());
      // Whether a listener of the request's 'end', emitted outside any request as a socket's callback would, ran in it.
      const runsInRequest = (rawHeaders: string[]): boolean => {
        const request = new http.IncomingMessage(null as never);
        request.method = 'POST';
        request.url = '/body';
        request.rawHeaders = rawHeaders;
        let store: unknown;
        request.on('end', () => (store = requestStorage?.getStore()));
        const response = new http.ServerResponse(request);
        outside(() => start.publish({ request, response, socket: null, server: null }));
        outside(() => request.emit('end'));
        response.destroy();
        return store !== undefined;
      };
      const cases: [string[], boolean][] = [
        [['Host', 'a', 'Content-Length', '2'], true],
        [['content-length', '0'], true],
        [['TRANSFER-ENCODING', 'chunked'], true],
        [['Transfer-Encoding', 'chunked', 'Host', 'a'], true],
        [['Host', 'a', 'Accept', '*/*'], false],
        [['X-Content-Length', '2', 'Content-Lengths', '2', 'Content_Length', '2'], false],
        [[], false],
        [[undefined, 'x', 42, 'Content-Length'] as never, false],
        ['Content-Length: 2' as never, false],
      ];
      for (const [rawHeaders, hasBody] of cases) expect([rawHeaders, runsInRequest(rawHeaders)]).toEqual([rawHeaders, frames && hasBody]);
      expect(httpRequestTableStats().inFlight).toBe(0);
    } finally {
      releaseHttpRequests();
    }
  });

  test("in the body's 'end' listener itself: named on every Node", async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const server = await serve((req, res) => {
      req.resume().on('end', () => {
        spin(150);
        res.end('done');
      });
    });
    const { stall, live } = await stallDuring(watchdog, () => server.post('/body?in=end', 'x'.repeat(100)));
    await server.close();
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const report of answered) expect(report.request).toMatchObject({ method: 'POST', url: '/body?in=end' });
    expect(stall.request).toMatchObject({ url: '/body?in=end' });
  });

  test('inside a native call (pbkdf2Sync): the live reports say inNative, the late stack names the request', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    let returnedAt = 0n;
    const server = await serve((req, res) => {
      blockedAt = process.hrtime.bigint();
      crypto.pbkdf2Sync('password', 'salt', 1_600_000, 32, 'sha256'); // ~200 ms here
      returnedAt = process.hrtime.bigint();
      res.end('done');
    });
    const { stall, live } = await stallDuring(watchdog, () => server.get('/native'));
    await server.close();
    // Reports asked for before the call began (the turn can start late on a loaded machine) or
    // in its last 10 ms (answered from JavaScript once it returned) rightly carry a stack.
    const insideCall = live.filter((r) => r.atNs > blockedAt && r.atNs + 10_000_000n < returnedAt);
    expect(insideCall.length).toBeGreaterThanOrEqual(1);
    for (const report of insideCall) {
      expect(report.inNative).toBe(true);
      expect(report.request).toBeUndefined();
    }
    expect(stall.lateStack?.request).toMatchObject({ method: 'GET', url: '/native' });
    expect(stall.request).toMatchObject({ url: '/native' });
  });

  test('a timer the handler set, firing after the response closed, is not charged to the finished request', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 0 }).start();
    let fire: () => void = () => undefined;
    const fired = new Promise<void>((resolve) => (fire = resolve));
    const server = await serve((req, res) => {
      res.end('done');
      res.on('close', () => setTimeout(() => (spin(120), fire()), 5));
    });
    const { stall, live } = await stallDuring(watchdog, async () => {
      await server.get('/finished');
      await fired;
    });
    await server.close();
    expect(live.length).toBeGreaterThanOrEqual(1);
    expect(stall.request).toBeUndefined();
  });

  test('requests: false leaves requests out; the tracker stops with its last watchdog', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, requests: false }).start();
    const server = await serve((req, res) => {
      spin(120);
      res.end('done');
    });
    const { stall, live } = await stallDuring(watchdog, () => server.get('/untracked'));
    await server.close();
    expect(live.length).toBeGreaterThanOrEqual(1);
    for (const report of live) expect(report.request).toBeUndefined();
    expect(stall.request).toBeUndefined();
    expect(diagnosticsChannel.hasSubscribers('http.server.request.start')).toBe(false);
  });

  (nodeMajor >= 22 ? test : test.skip)('an http2 stream (Node 22+: its diagnostics channels)', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 40 }).start();
    const server = http2.createServer();
    server.on('stream', (stream) => {
      spin(150);
      stream.respond({ ':status': 200 });
      stream.end('done');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const { stall } = await stallDuring(watchdog, async () => {
      const stream = client.request({ ':path': '/h2?x=1', ':method': 'POST' });
      stream.end();
      stream.resume();
      await new Promise((resolve) => stream.on('close', resolve));
    });
    client.close();
    await new Promise((resolve) => server.close(resolve));
    expect(stall.request).toMatchObject({ method: 'POST', url: '/h2?x=1' });
  });

  test('finished requests on uvscope:http:request: status, completed or not, times', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 1000 }).start();
    const records: HttpRequestRecord[] = [];
    const onRecord = (message: unknown) => records.push(message as HttpRequestRecord);
    diagnosticsChannel.subscribe('uvscope:http:request', onRecord);
    const server = await serve((req, res) => {
      if (req.url === '/drop') {
        req.socket.destroy();
        return;
      }
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('x');
    });
    await server.get('/ok');
    await server.get('/missing');
    await server.get('/drop').catch(() => undefined);
    await server.close();
    diagnosticsChannel.unsubscribe('uvscope:http:request', onRecord);
    expect(records.map((r) => [r.url, r.statusCode, r.completed])).toEqual([
      ['/ok', 200, true],
      ['/missing', 404, true],
      ['/drop', 200, false],
    ]);
    for (const record of records) {
      expect(record.endedAtNs).toBeGreaterThanOrEqual(record.startedAtNs);
      expect(record).toMatchObject({ method: 'GET', protocol: 'http' });
    }
    expect(httpRequestTableStats().inFlight).toBe(0);
  });

  test("a request whose client went away unanswered leaves the table once swept, with no listener of uvscope's", async () => {
    const ownDetach = Object.hasOwn(http.ServerResponse.prototype, 'detachSocket');
    const detach = http.ServerResponse.prototype.detachSocket;
    watchdog = new StallWatchdog({ thresholdMs: 1000 }).start();
    expect(http.ServerResponse.prototype.detachSocket).toBe(detach); // not before a request
    let dropped: Promise<void> = Promise.resolve();
    let closeListeners = -1;
    const server = await serve((req, res) => {
      closeListeners = res.listenerCount('close');
      if (req.url === '/drop') {
        dropped = new Promise((closed) => res.on('close', () => closed()));
        req.socket.destroy();
        return;
      }
      res.end('x');
    });
    try {
      await server.get('/ok');
      expect(closeListeners).toBe(0);
      expect(http.ServerResponse.prototype.detachSocket).not.toBe(detach);
      expect(requestSlotStats().inFlight).toBe(0); // answered: ended as node:http detached it
      await server.get('/drop').catch(() => undefined);
      await dropped;
      expect(requestSlotStats().inFlight).toBe(1); // not swept yet
      expect(httpRequestTableStats().inFlight).toBe(0);
    } finally {
      await server.close();
      watchdog.close();
      watchdog = undefined;
    }
    // The tracker's detachSocket is gone with it: ServerResponse.prototype is as it was.
    expect(http.ServerResponse.prototype.detachSocket).toBe(detach);
    expect(Object.hasOwn(http.ServerResponse.prototype, 'detachSocket')).toBe(ownDetach);
  });

  test('an unanswered request is swept out before the table would grow for another', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 1000 }).start();
    let dropped: Promise<void> = Promise.resolve();
    const answers: (() => void)[] = [];
    let arrived = () => {};
    let wanted = Infinity;
    const server = await serve((req, res) => {
      if (req.url === '/drop') {
        dropped = new Promise((closed) => res.on('close', () => closed()));
        req.socket.destroy();
        return;
      }
      answers.push(() => res.end('x'));
      if (answers.length === wanted) arrived();
    });
    try {
      await server.get('/drop').catch(() => undefined);
      await dropped;
      expect(requestSlotStats().inFlight).toBe(1);
      // As many requests held in flight as the table has free slots, and one more: that one
      // finds it full, and the sweep frees the dropped request's slot for it.
      wanted = requestSlotsFree() + 1;
      const allArrived = new Promise<void>((resolve) => (arrived = resolve));
      const held = Array.from({ length: wanted }, () => server.get('/held'));
      await allArrived;
      expect(requestSlotStats().inFlight).toBe(wanted);
      expect(requestSlotsFree()).toBe(0); // not grown
      for (const answer of answers) answer();
      await Promise.all(held);
      expect(requestSlotStats().inFlight).toBe(0);
    } finally {
      await server.close();
    }
  });

  test("a detachSocket wrapped over the tracker's stays when the tracker stops; tracking again wraps it and ends requests once", async () => {
    type Detach = (this: unknown, ...args: unknown[]) => void;
    const prototype = http.ServerResponse.prototype as unknown as { detachSocket: Detach };
    const original = prototype.detachSocket;
    acquireHttpRequests();
    const server = await serve((req, res) => res.end('x'));
    // The tracker's detachSocket goes in at the first request it sees.
    await server.get('/first');
    const tracked = prototype.detachSocket;
    expect(tracked).not.toBe(original);
    let calls = 0;
    prototype.detachSocket = function (this: unknown, ...args: unknown[]) {
      calls++;
      return tracked.apply(this, args);
    };
    const wrapper = prototype.detachSocket;
    try {
      await server.get('/a');
      expect(requestSlotStats().inFlight).toBe(0);
      expect(calls).toBe(1);
      releaseHttpRequests();
      expect(prototype.detachSocket).toBe(wrapper);
      // Tracking again installs another over it (at its first request), which it removes again.
      acquireHttpRequests();
      await server.get('/b');
      expect(prototype.detachSocket).not.toBe(wrapper);
      expect(requestSlotStats().inFlight).toBe(0);
      expect(calls).toBe(2); // '/a' and '/b'
      releaseHttpRequests();
      expect(prototype.detachSocket).toBe(wrapper);
      await server.close();
    } finally {
      if (prototype.detachSocket === wrapper) prototype.detachSocket = original;
    }
  });

  test('requests in flight while no trace records are listed, their method and URL as received', async () => {
    acquireHttpRequests();
    let answer = () => {};
    let arrived = () => {};
    const held = new Promise<void>((resolve) => (arrived = resolve));
    const server = await serve((req, res) => {
      answer = () => res.end('x');
      arrived();
    });
    try {
      const response = server.get('/held?q=%C3%A9t%C3%A9');
      await held;
      expect(httpRequestsInFlight()).toEqual([{ id: expect.any(Number), method: 'GET', url: '/held?q=%C3%A9t%C3%A9', protocol: 'http', startedAtNs: 0n }]);
      answer();
      await response;
      expect(httpRequestsInFlight()).toEqual([]);
    } finally {
      releaseHttpRequests();
      await server.close();
    }
  });

  test('one connection, several requests: each ends once answered, also one in flight when the last watchdog closes', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 1000 }).start();
    const records: HttpRequestRecord[] = [];
    const onRecord = (message: unknown) => records.push(message as HttpRequestRecord);
    diagnosticsChannel.subscribe('uvscope:http:request', onRecord);
    const sockets = new Set<unknown>();
    let answerHeld = () => {};
    const heldArrived = new Promise<void>((arrived) => (answerHeld = arrived));
    let sendHeld = () => {};
    const server = await serve((req, res) => {
      sockets.add(req.socket);
      if (req.url !== '/held') return res.end('x');
      sendHeld = () => res.end('late');
      answerHeld();
    });
    try {
      await server.get('/a');
      await server.get('/b');
      expect(records.map((r) => [r.url, r.completed])).toEqual([
        ['/a', true],
        ['/b', true],
      ]);
      const held = server.get('/held');
      await heldArrived;
      watchdog.close();
      watchdog = undefined;
      expect(httpRequestTableStats().inFlight).toBe(1);
      expect(diagnosticsChannel.hasSubscribers('http.server.request.start')).toBe(false);
      sendHeld();
      expect(await held).toBe('late');
      expect(httpRequestTableStats().inFlight).toBe(0);
      expect(records.map((r) => r.url)).toEqual(['/a', '/b', '/held']);
      expect(sockets.size).toBe(1);
    } finally {
      diagnosticsChannel.unsubscribe('uvscope:http:request', onRecord);
      await server.close();
    }
  });
});

describe("the user's context (an AsyncLocalStorage)", () => {
  let watchdog: StallWatchdog | undefined;
  afterEach(() => watchdog?.close());

  test(`fields copied ${frames ? 'into every report' : 'nowhere: contextUnavailable says why'}; getters never run, proxies never entered`, async () => {
    const storage = new AsyncLocalStorage<unknown>();
    let getterRuns = 0;
    const otelKey = Symbol('OpenTelemetry Context Key SPAN');
    const store = {
      tenant: 'acme',
      user: { id: 42, admin: false },
      ratio: Number.NaN,
      get secret() {
        getterRuns++;
        return 'leaked';
      },
      trap: new Proxy({ a: 1 }, { get: () => (getterRuns++, 'trapped'), getOwnPropertyDescriptor: () => (getterRuns++, undefined) }),
      otel: new Map<unknown, unknown>([[otelKey, { _spanContext: { traceId: 'abc123' } }]]),
      long: 'x'.repeat(1000),
    };
    watchdog = new StallWatchdog({
      thresholdMs: 40,
      repeatMs: 40,
      context: {
        storage,
        fields: {
          tenant: 'tenant',
          userId: 'user.id',
          admin: 'user.admin',
          ratio: 'ratio',
          secret: 'secret',
          trapped: 'trap.a',
          traceId: ['otel', 'OpenTelemetry Context Key SPAN', '_spanContext', 'traceId'],
          missing: 'nope.deeper',
          long: 'long',
        },
      },
    }).start();
    const { stall, live } = await stallDuring(watchdog, async () => {
      await new Promise<void>((resolve) =>
        setImmediate(() =>
          storage.run(store, () => {
            spin(120);
            resolve();
          }),
        ),
      );
    });
    expect(getterRuns).toBe(0);
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    for (const report of answered) {
      if (frames) {
        expect(report.context).toEqual({ tenant: 'acme', userId: 42, admin: false, ratio: null, traceId: 'abc123', long: 'x'.repeat(256) });
        expect(report.contextUnavailable).toBeUndefined();
      } else {
        expect(report.context).toBeUndefined();
        expect(report.contextUnavailable).toMatch(/async_hooks/);
      }
    }
    if (frames) expect(stall.context).toMatchObject({ tenant: 'acme' });
  });

  test('setContext() on a running watchdog (the preload case), and what it refuses', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 40, repeatMs: 0 }).start();
    const storage = new AsyncLocalStorage<Map<string, string>>();
    watchdog.setContext({ storage, fields: ['tenant'] });
    const { live } = await stallDuring(watchdog, async () => {
      await new Promise<void>((resolve) => setImmediate(() => storage.run(new Map([['tenant', 'globex']]), () => (spin(100), resolve()))));
    });
    const answered = inBlock(live);
    expect(answered.length).toBeGreaterThanOrEqual(1);
    expect(answered[0].context).toEqual(frames ? { tenant: 'globex' } : undefined);
    for (const bad of [{}, { storage: {}, fields: ['a'] }, { storage, fields: [] }, { storage, fields: [''] }, { storage, fields: { a: 3 } }]) {
      const error = thrown(() => watchdog!.setContext(bad as never));
      expect(error.message).toMatch(/^The "context(\.storage|\.fields)?" argument/);
      expect(error.code).toBe('ERR_INVALID_ARG_TYPE');
    }
    expect(thrown(() => new StallWatchdog({ requests: 'yes' as never })).message).toContain('options.requests');
  });
});
