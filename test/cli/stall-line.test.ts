/**
 * The human stall line `uvscope trace` prints on stderr (cli/trace/stall-report.ts): how long,
 * where, the share on a CPU, the request, the user's context, all on one line whatever the URL
 * or the context hold; and StallLineMemory, which carries a stall's request to its later reports
 * that name none (taken inside a native call).
 */
import { blockedText, formatStallReport, stallLine, StallLineMemory } from '../../src/cli/trace/stall-report';

const base = { threadId: 0, elapsedNs: 2_050_000_000, phase: 'poll' as const };
const request = { id: 1, method: 'GET', url: '/range?n=50000', startedAtNs: 1n };

test('the line of the issue: blocked time, phase, CPU share, request, context', () => {
  expect(stallLine({ ...base, cpuNs: 2_030_000_000, request, context: { tenant: 'acme' } })).toBe('stall: main thread blocked 2.05 s in poll, 99% on CPU, GET /range?n=50000, tenant=acme');
});

test('what is absent is left out; waiting shows as a low share; a worker is named', () => {
  expect(stallLine(base)).toBe('stall: main thread blocked 2.05 s in poll');
  expect(stallLine({ ...base, threadId: 3, elapsedNs: 412_400_000, phase: 'timers', cpuNs: 1_000_000 })).toBe('stall: worker 3 blocked 412 ms in timers, 0% on CPU');
  expect(stallLine({ ...base, inNative: true, cpuNs: 0 })).toBe('stall: main thread blocked 2.05 s in poll (inside a native call), 0% on CPU');
  // The CPU clock is extrapolated back to the stall's start: never more than all of it.
  expect(stallLine({ ...base, cpuNs: 2_100_000_000 })).toBe('stall: main thread blocked 2.05 s in poll, 100% on CPU');
  expect(blockedText(999_400_000)).toBe('999 ms');
  expect(blockedText(1_000_000_000)).toBe('1.00 s');
});

test('one line whatever the URL and the context hold: control characters escaped, long values cut', () => {
  const url = `/a\nb\r\u0007${'x'.repeat(500)}`;
  const line = stallLine({ ...base, request: { ...request, url }, context: { a: 'x\ny', b: 1, c: true, d: null, e: 'more', f: 'z'.repeat(100) } });
  expect(line).not.toMatch(/[\u0000-\u001f]/);
  expect(line).toContain('GET /a\\x0ab\\x0d\\x07xxx');
  const [requestPart, contextPart] = line.split(', ').slice(1);
  expect(requestPart.length).toBe(120);
  expect(requestPart.endsWith('…')).toBe(true);
  expect(contextPart).toBe('a=x\\x0ay b=1 c=true d=null +2');
  expect(stallLine({ ...base, context: { f: 'z'.repeat(100) } })).toBe(`stall: main thread blocked 2.05 s in poll, f=${'z'.repeat(39)}…`);
  // An empty context says nothing.
  expect(stallLine({ ...base, context: {} })).toBe('stall: main thread blocked 2.05 s in poll');
});

test('frames and dropped reports follow the line', () => {
  const lines = formatStallReport({ ...base, cpuNs: 0, stack: [{ functionName: 'parseRange', url: '/app/range.js', line: 17, column: 3 }, { functionName: '', url: '', line: 0, column: 0 }], dropped: 2 });
  expect(lines).toEqual([
    'stall: main thread blocked 2.05 s in poll, 0% on CPU',
    '    at parseRange (/app/range.js:17:3)',
    '    at <anonymous> (<native>)',
    '    (2 earlier reports of this thread could not be written: the reader fell behind)',
  ]);
});

test("StallLineMemory: a later report of the same stall that names nothing gets the stall's last request and context; the next stall and other threads do not", () => {
  const memory = new StallLineMemory();
  const report = (pid: number, threadId: number, stall: number, extra = {}) => ({ pid, threadId, stall, ...extra });
  const other = { method: 'POST', url: '/login', startedAtNs: 2n };
  expect(memory.fill(report(1, 0, 1, { request, context: { tenant: 'acme' } }))).toMatchObject({ request, context: { tenant: 'acme' } });
  expect(memory.fill(report(1, 0, 1))).toMatchObject({ request, context: { tenant: 'acme' } });
  // The last report that had one wins.
  expect(memory.fill(report(1, 0, 1, { request: other }))).toMatchObject({ request: other, context: { tenant: 'acme' } });
  expect(memory.fill(report(1, 0, 1))).toMatchObject({ request: other });
  expect(memory.fill(report(1, 2, 1)).request).toBeUndefined();
  expect(memory.fill(report(2, 0, 1)).request).toBeUndefined();
  expect(memory.fill(report(1, 0, 2)).request).toBeUndefined();
  expect(memory.fill(report(1, 0, 2)).context).toBeUndefined();
});
