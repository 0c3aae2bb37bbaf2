/**
 * `uvscope top`'s screen as text (cli/top/screen.ts), without a terminal: every line fits the
 * width it is given (cut with an ellipsis, never wrapped; styles do not count), at 80 columns
 * and narrower; the columns say what the agents sent (utilization in %, durations in ms, rates
 * per second); a stall is highlighted while new and then shown plain; a stall in progress is
 * shown from its live report; a process whose main thread does not answer says so.
 */
import { describeStall, FLASH_MS, renderScreen, ScreenModel } from '../../src/cli/top/screen';
import type { ThreadStats } from '../../src/control/protocol';

const visible = (line: string) => [...line.replace(/\x1b\[[0-9;]*m/g, '')].length;

function thread(threadId: number, extra: Partial<ThreadStats> = {}): ThreadStats {
  return {
    threadId,
    name: threadId === 0 ? 'main' : `worker ${threadId}`,
    windowNs: 1e9,
    utilization: 0.456,
    iterationsPerS: 387.2,
    iterationP99Ns: 7_045_119,
    iterationMaxNs: 11_483_406,
    stalls: 2,
    pool: {
      'fs.stat': { perS: 192.4, p99Ns: 6_028_791, failed: 0, inFlight: 0 },
      'crypto.pbkdf2': { perS: 3, p99Ns: 250_000_000, failed: 0, inFlight: 4 },
      'dns.lookup': { perS: 0.5, p99Ns: 1_200_000, failed: 1, inFlight: 0 },
      zlib: { perS: 1200, p99Ns: 300_000, failed: 0, inFlight: 0 },
    },
    http: { perS: 2000, p99Ns: 12_300_000 },
    atMs: 0,
    ...extra,
  };
}

const NOW = Date.UTC(2026, 11, 6, 1, 2, 3);
const model: ScreenModel = {
  scope: `node ${'/very/long/path/'.repeat(10)}server.js --port 3000`,
  processes: [
    {
      pid: 4242,
      hello: { protocol: 1, pid: 4242, title: `node ${'x'.repeat(120)}`, node: 'v20.20.2', uvscope: '0.1.0', threads: [0, 1], stallMs: 1000, connections: 1 },
      stats: { pid: 4242, threads: [thread(0), thread(1, { utilization: 0.99 })], poolThreads: { threads: 4, expected: 4, busyRatio: 0.35, runQueueRatio: 0.02 }, droppedEvents: 0 },
    },
    { pid: 4243, waitingSinceMs: NOW - 2500, hello: { protocol: 1, pid: 4243, title: 'node b.js', node: 'v20.20.2', uvscope: '0.1.0', threads: [0], stallMs: 1000, connections: 1 } },
    { pid: 4244, waitingSinceMs: NOW - 2500, hello: { protocol: 1, pid: 4244, title: 'node c.js', node: 'v20.20.2', uvscope: '0.1.0', threads: [0], stallMs: 1000, connections: 1 } },
  ],
  // Its first live report came 0.5 s ago, 1.2 s into the stall.
  inProgress: [{ pid: 4244, threadId: 0, phase: 'poll', cpuShare: 0.97, request: 'GET /range?n=50000', frame: 'parseRange server.js:17', startedAtNs: '3000', elapsedNs: 1.2e9, receivedAtMs: NOW - 500 }],
  stalls: [
    { pid: 4242, receivedAtMs: NOW - FLASH_MS - 1, stall: { threadId: 1, stall: 1, durationNs: 2.05e9, phase: 'poll', cpuShare: 0.99, request: `GET /${'q'.repeat(300)}`, frame: 'spin app.js:5', startedAtNs: '1000', endedAtMs: NOW - 10_000 } },
    { pid: 4242, receivedAtMs: NOW - 10, stall: { threadId: 0, stall: 2, durationNs: 1.5e9, phase: 'timers', cpuShare: 0.02, startedAtNs: '2000', endedAtMs: NOW - 10 } },
  ],
};

test.each([80, 60, 40])('every line fits %i columns', (width) => {
  const lines = renderScreen(model, width, 24, NOW);
  for (const line of lines) expect(visible(line)).toBeLessThanOrEqual(width);
  expect(lines.some((line) => line.includes('…'))).toBe(true);
});

test('the columns say what the agents sent', () => {
  const lines = renderScreen(model, 80, 24, NOW).map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  expect(lines[0]).toMatch(/^uvscope top · node \/very.*…  01:02:03 UTC  q: quit$/);
  expect(lines[1]).toBe('THREAD            UTIL  P99 ms  MAX ms  ITER/s STALLS  HTTP/s HTTP p99');
  expect(lines).toContain('  main             46%    7.05    11.5     387      2    2000     12.3');
  expect(lines).toContain('  worker 1         99%    7.05    11.5     387      2    2000     12.3');
  // The busiest pool kinds first.
  const pool = lines.find((l) => l.startsWith('    pool '))!;
  expect(pool).toBe('    pool zlib 1200/s p99 0.30ms · fs.stat 192/s p99 6.03ms · crypto.pbkdf2 3.0/…');
  expect(lines.find((l) => l.startsWith('4242 '))).toMatch(/pool 4\/4 thr busy 35% runq 2%$/);
  expect(lines).toContain('  main thread not answering for 2.5 s: blocked (a stall in progress?)');
});

test("a stall in progress is shown from its watchdog's live report, its time so far counted on", () => {
  const lines = renderScreen(model, 120, 24, NOW);
  const at = lines.findIndex((l) => l.startsWith('\x1b[1m4244 '));
  expect(lines[at + 1]).toBe('\x1b[7m  STALL IN PROGRESS: main blocked 1.7 s so far in poll, 97% on CPU, GET /range?n=50000, parseRange server.js:17\x1b[0m');
  // It says more than that the process does not answer.
  expect(lines[at + 2] ?? '').not.toMatch(/not answering/);
});

test('the newest stall is highlighted, an older one plain; newest first', () => {
  const lines = renderScreen(model, 80, 24, NOW);
  const at = lines.findIndex((l) => l.includes('STALLS (newest first)'));
  expect(lines[at + 1]).toMatch(/^\x1b\[7m01:02:02 4242 main blocked 1\.50 s in timers, 2% on CPU\x1b\[0m$/);
  expect(lines[at + 2]).toMatch(/^01:01:53 4242 worker 1 blocked 2\.05 s in poll, 99% on CPU, GET \/q+…$/);
  expect(describeStall(model.stalls[0].stall, 'worker 1')).toContain(', spin app.js:5');
});

test('a short terminal gets the rows that fit', () => {
  expect(renderScreen(model, 80, 5, NOW)).toHaveLength(5);
});
