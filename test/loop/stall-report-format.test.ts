/**
 * The addon's output held against the one TypeScript declaration of each wire format:
 * stall report lines (report file and live subscription) and the 'stall' event's reports from a
 * real stall in a child process (test/loop/fixtures/stall-report-format-child.js) against
 * src/loop/stall-report-format.ts, and LoopObserver.traceColumns() against
 * src/loop/trace-columns.ts. Every declared field present with its type, no undeclared field.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoopObserver } from '../../src';
import {
  parseStallReport,
  parseStallReportLine,
  STALL_REPORT_FIELDS,
  STALL_REPORT_LINE_FIELDS,
  STALL_STACK_FRAME_FIELDS,
  wireProblems,
} from '../../src/loop/stall-report-format';
import { traceColumnsProblems } from '../../src/loop/trace-columns';

const CHILD = path.join(__dirname, 'fixtures', 'stall-report-format-child.js');

describe('stall report lines from a real stall', () => {
  let seen: { fileLines: string[]; liveLines: string[]; event: { reports: unknown[] } };

  beforeAll(() => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-report-format-'));
    try {
      const result = spawnSync(process.execPath, [CHILD, path.join(dir, 'reports.jsonl')], { encoding: 'utf8', timeout: 60_000 });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      seen = JSON.parse(result.stdout);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 70_000);

  test('report file lines match the declaration', () => {
    expect(seen.fileLines.length).toBeGreaterThanOrEqual(2);
    for (const line of seen.fileLines) expect(wireProblems(STALL_REPORT_LINE_FIELDS, JSON.parse(line))).toEqual([]);
  });

  test('live report lines match the declaration', () => {
    expect(seen.liveLines.length).toBeGreaterThanOrEqual(1);
    for (const line of seen.liveLines) expect(wireProblems(STALL_REPORT_LINE_FIELDS, JSON.parse(line))).toEqual([]);
  });

  test("the 'stall' event's reports match the declaration of a report", () => {
    expect(seen.event.reports.length).toBeGreaterThanOrEqual(2);
    for (const report of seen.event.reports) expect(wireProblems(STALL_REPORT_FIELDS, report)).toEqual([]);
  });

  test('the lines carry a stack (the stack addon is built), so the frame declaration is exercised', () => {
    const parsed = JSON.parse(seen.fileLines[0]) as { stack?: unknown[] };
    expect(parsed.stack?.length).toBeGreaterThan(0);
    expect(wireProblems(STALL_STACK_FRAME_FIELDS, parsed.stack![0])).toEqual([]);
  });

  test('both parsers read them: bigints as bigint, everything else as on the line', () => {
    for (const line of [...seen.fileLines, ...seen.liveLines]) {
      const report = parseStallReport(line);
      expect(typeof report.atNs).toBe('bigint');
      expect(typeof report.startedAtNs).toBe('bigint');
      expect(report.type).toBe('uvscope.stall.report');
      expect(parseStallReportLine(line.trim())).toEqual(report);
    }
  });
});

describe('the declaration checks themselves', () => {
  const line = {
    type: 'uvscope.stall.report',
    time: '2026-01-01T00:00:00.000Z',
    pid: 1,
    threadId: 0,
    stall: 1,
    report: 1,
    startedAtNs: '10',
    thresholdNs: 5,
    atNs: '20',
    elapsedNs: 10,
    phase: 'timers',
    iteration: 3,
  };

  test('a complete line passes', () => {
    expect(wireProblems(STALL_REPORT_LINE_FIELDS, line)).toEqual([]);
  });

  test('a missing, mistyped or undeclared field is named', () => {
    const { pid: _pid, ...withoutPid } = line;
    expect(wireProblems(STALL_REPORT_LINE_FIELDS, withoutPid)).toEqual(['line.pid: missing']);
    expect(wireProblems(STALL_REPORT_LINE_FIELDS, { ...line, atNs: 20 })).toEqual(['line.atNs: expected a decimal string (bigint), got 20']);
    expect(wireProblems(STALL_REPORT_LINE_FIELDS, { ...line, extra: 1 })).toEqual(['line.extra: not declared']);
    expect(wireProblems(STALL_REPORT_LINE_FIELDS, { ...line, stack: [{ functionName: 'f', url: '', line: 1 }] })).toEqual([
      'line.stack[0].column: missing',
    ]);
  });

  test('parseStallReportLine: undefined for partial and foreign lines', () => {
    expect(parseStallReportLine('{"type":"uvscope.stall.rep')).toBeUndefined();
    expect(parseStallReportLine('{"type":"other","elapsedNs":1}')).toBeUndefined();
    expect(parseStallReportLine('not json')).toBeUndefined();
    expect(parseStallReportLine(JSON.stringify(line))).toMatchObject({ atNs: 20n, startedAtNs: 10n });
  });
});

describe('LoopObserver.traceColumns()', () => {
  test('match the declaration: the declared typed arrays, one length, marker codes only', async () => {
    const observer = new LoopObserver({ traceCapacity: 1024 });
    try {
      observer.start();
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 1));
      const columns = observer.traceColumns();
      expect(columns.timesNs.length).toBeGreaterThan(0);
      expect(traceColumnsProblems(columns)).toEqual([]);
    } finally {
      observer.close();
    }
  });

  test('the check names a column of another type or length, and an undeclared one', () => {
    const good = { timesNs: new BigUint64Array(2), iterations: new Float64Array(2), phases: new Uint8Array([1, 4]), pollWaitsNs: new Float64Array(2) };
    expect(traceColumnsProblems(good)).toEqual([]);
    expect(traceColumnsProblems({ ...good, iterations: new Float32Array(2) })).toEqual(['iterations: expected Float64Array, got [object Float32Array]']);
    expect(traceColumnsProblems({ ...good, pollWaitsNs: new Float64Array(1) })).toEqual(['pollWaitsNs: 1 entries, timesNs has 2']);
    expect(traceColumnsProblems({ ...good, extra: [] })).toEqual(['extra: not declared']);
    expect(traceColumnsProblems({ ...good, phases: new Uint8Array([1, 2]) })).toEqual(['phases: code 2 is not a marker code']);
  });
});
