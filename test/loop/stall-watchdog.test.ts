/**
 * StallWatchdog: stalls reported while they last (report file read while the child is still
 * blocked, live reports received by another thread while the watched one is blocked), the
 * 'stall' event after recovery, phases, workers, teardown (terminate mid-stall, process.exit
 * mid-stall, 200 workers churned), options and errors. Blocks are driven by the test: a child
 * stays blocked until the parent creates a release file, or until another thread has counted
 * a live report through shared memory. Children load the compiled library (lib/).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LoopObserver, nowNs, parseStallReport, STALL_CHANNEL, StallEvent, StallWatchdog } from '../../src';
import { native } from '../../src/native';
import { loadStackAddon } from '../../src/stack/load';
import { jsonLines, SLOWDOWN, thrown } from '../helpers';

const CHILD = path.join(__dirname, 'fixtures', 'stall-child.js');

function tempFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-stall-'));
  return path.join(dir, name);
}

function spin(ms: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  while (process.hrtime.bigint() < end);
}

interface Child {
  lines: Record<string, unknown>[];
  /** Resolves with the first stdout line for which `match` holds. */
  next(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Children still running when their test ends are killed (a failed test may leave one blocked). */
const children = new Set<{ kill(signal: NodeJS.Signals): void }>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

function startChild(args: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  const { received: lines, next } = jsonLines<Record<string, unknown>>(child.stdout, exited);
  return {
    lines,
    next,
    exited,
    kill: (signal) => child.kill(signal),
  };
}

/** Resolves with the report lines of `file` once it holds at least `count` of them. */
async function reportLines(file: string, count: number, deadlineMs = 10_000 * SLOWDOWN) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const lines = text.split('\n').filter(Boolean);
    if (lines.length >= count) return lines.map(parseStallReport);
    if (Date.now() > deadline) throw new Error(`${file}: ${lines.length} report lines, expected ${count}`);
    await new Promise((resolve) => fs.watchFile(file, { interval: 5 }, resolve));
    fs.unwatchFile(file);
  }
}

describe('options and lifecycle', () => {
  test('every option is checked, naming it', () => {
    const cases: [object, string, string][] = [
      [{ thresholdMs: 9 }, 'ERR_OUT_OF_RANGE', 'options.thresholdMs'],
      [{ thresholdMs: 3_600_001 }, 'ERR_OUT_OF_RANGE', 'options.thresholdMs'],
      [{ thresholdMs: 10.5 }, 'ERR_OUT_OF_RANGE', 'options.thresholdMs'],
      [{ thresholdMs: '100' }, 'ERR_INVALID_ARG_TYPE', 'options.thresholdMs'],
      [{ repeatMs: 5 }, 'ERR_OUT_OF_RANGE', 'options.repeatMs'],
      [{ repeatMs: -1 }, 'ERR_OUT_OF_RANGE', 'options.repeatMs'],
      [{ stacks: 'yes' }, 'ERR_INVALID_ARG_TYPE', 'options.stacks'],
      [{ file: '' }, 'ERR_INVALID_ARG_TYPE', 'options.file'],
      [{ file: -1 }, 'ERR_OUT_OF_RANGE', 'options.file'],
      [{ file: {} }, 'ERR_INVALID_ARG_TYPE', 'options.file'],
      [{ maxFrames: 0 }, 'ERR_OUT_OF_RANGE', 'options.maxFrames'],
      [{ maxFrames: 1025 }, 'ERR_OUT_OF_RANGE', 'options.maxFrames'],
    ];
    for (const [options, code, name] of cases) {
      const error = thrown(() => new StallWatchdog(options as never));
      expect({ options, code: error.code }).toEqual({ options, code });
      expect(error.message).toContain(name);
    }
    expect(thrown(() => new StallWatchdog(null as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => StallWatchdog.onLiveReport('x' as never)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(new StallWatchdog({ repeatMs: 0, thresholdMs: 10 }).closed).toBe(false);
  });

  test('a file that cannot be opened fails start() with the fs error code', () => {
    const watchdog = new StallWatchdog({ file: path.join(os.tmpdir(), 'no-such-dir-uvscope', 'x', 'r.jsonl'), stacks: false });
    expect(thrown(() => watchdog.start()).code).toBe('ENOENT');
    expect(watchdog.running).toBe(false);
    watchdog.close();
  });

  test('a descriptor that is not open, or not open for writing, fails start() with EBADF', () => {
    const readOnly = fs.openSync(__filename, 'r');
    try {
      for (const file of [readOnly, 2 ** 31 - 1]) {
        const watchdog = new StallWatchdog({ file, stacks: false });
        const error = thrown(() => watchdog.start());
        expect({ code: error.code, syscall: (error as { syscall?: string }).syscall }).toEqual({ code: 'EBADF', syscall: 'dup' });
        expect(error.message).toContain(`descriptor ${file}`);
        expect(watchdog.running).toBe(false);
        watchdog.close();
      }
    } finally {
      fs.closeSync(readOnly);
    }
  });

  test('close() is idempotent; every other method then throws ERR_INVALID_STATE', () => {
    const watchdog = new StallWatchdog({ stacks: false }).start();
    expect(watchdog.running).toBe(true);
    watchdog.close();
    watchdog.close();
    expect(watchdog.closed).toBe(true);
    expect(watchdog.running).toBe(false);
    for (const call of [() => watchdog.start(), () => watchdog.stop(), () => watchdog.ref(), () => watchdog.unref(), () => watchdog.stats()]) {
      expect(thrown(call).code).toBe('ERR_INVALID_STATE');
    }
  });

  test('stats are zero before start; start and stop can alternate', () => {
    const watchdog = new StallWatchdog({ thresholdMs: 10, stacks: false });
    expect(watchdog.stats()).toEqual({ stalls: 0, longestNs: 0, totalNs: 0, reports: 0, reportsWritten: 0, reportsDropped: 0 });
    watchdog.start().stop().start().stop();
    expect(watchdog.stats().stalls).toBe(0);
    watchdog.close();
  });
});

describe('failures only the native side can see', () => {
  test('a watchdog thread that cannot be started: start() throws ERR_UVSCOPE_THREAD_START, nothing of it is kept, a later start() works', async () => {
    const hook = native.NativeStallWatchdog as unknown as { _failThreadStarts(count: number): void };
    const threadsBefore = native.liveObjects().watchdogThreads;
    const watchdog = new StallWatchdog({ thresholdMs: 20, repeatMs: 0, stacks: false });
    try {
      hook._failThreadStarts(1);
      const error = thrown(() => watchdog.start());
      expect(error.code).toBe('ERR_UVSCOPE_THREAD_START');
      expect(error.message).toContain('EAGAIN');
      expect(watchdog.running).toBe(false);
      expect(native.liveObjects().watchdogThreads).toBe(threadsBefore);
      // The next start() is a whole one: it watches and reports.
      watchdog.start();
      expect(native.liveObjects().watchdogThreads).toBe(threadsBefore + 1);
      let blockStart = 0n;
      const stall = new Promise<StallEvent>((resolve) => {
        const onStall = (event: StallEvent) => {
          if (blockStart === 0n || event.startedAtNs + BigInt(event.durationNs) < blockStart) return;
          watchdog.off('stall', onStall);
          resolve(event);
        };
        watchdog.on('stall', onStall);
      });
      setImmediate(() => {
        blockStart = nowNs();
        spin(60);
      });
      expect((await stall).durationNs).toBeGreaterThanOrEqual(55e6);
    } finally {
      hook._failThreadStarts(0);
      watchdog.close();
    }
  });

  test("a foreign External as the stack provider is refused with a TypeError (only the stack addon's tagged one is read)", () => {
    // In a child: before the tag, a look-alike was dereferenced and its functions called.
    const script = `
      const lib = ${JSON.stringify(path.resolve(__dirname, '..', '..', 'lib'))};
      const { native } = require(lib + '/native.js');
      const loaded = require(lib + '/stack/load.js').loadStackAddon();
      const make = (provider) => {
        try {
          new native.NativeStallWatchdog(1e9, 1e9, true, -1, 32, 0, provider, '', () => {}).close();
          return 'accepted';
        } catch (error) {
          return { name: error.name, code: error.code, message: error.message };
        }
      };
      process.stdout.write(JSON.stringify({
        foreign: make(loaded.addon._untaggedExternal()),
        object: make({}),
        tagged: make(loaded.addon.provider()),
        none: make(undefined),
      }));`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect({ status: result.status, signal: result.signal, stderr: result.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const outcome = JSON.parse(result.stdout) as Record<string, unknown>;
    for (const refused of [outcome.foreign, outcome.object]) {
      expect(refused).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
      expect((refused as { message: string }).message).toContain('stackProvider');
    }
    expect(outcome.tagged).toBe('accepted');
    expect(outcome.none).toBe('accepted');
  });
});

describe('in this process', () => {
  let watchdog: StallWatchdog | undefined;
  afterEach(() => watchdog?.close());

  /**
   * The first stall of `w` that ends after `began()` (a block's start, 0n until it starts):
   * one that ended before is the jest process's own work on a loaded machine, not the block.
   */
  const stallAfter = (w: StallWatchdog, began: () => bigint) =>
    new Promise<StallEvent>((resolve) => {
      const onStall = (event: StallEvent) => {
        const start = began();
        if (start === 0n || event.startedAtNs + BigInt(event.durationNs) < start) return;
        w.off('stall', onStall);
        resolve(event);
      };
      w.on('stall', onStall);
    });

  test('a 150 ms block in a setImmediate callback: one stall, reported every repeatMs, then the event', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 30, repeatMs: 30, stacks: false }).start();
    const events: StallEvent[] = [];
    const published: unknown[] = [];
    const onPublish = (message: unknown) => published.push(message);
    diagnosticsChannel.subscribe(STALL_CHANNEL, onPublish);
    // stats() read in the listener: later, jest's own work (slow under ASan) may stall too.
    // So may it before the block: a stall that ended before the block began is not the
    // block's (one of 51 ms was seen on a loaded CI machine), and is counted apart.
    let statsAtEvent: unknown;
    let blockStart = 0n;
    let blockEnd = 0n;
    const before: StallEvent[] = [];
    const stall = new Promise<StallEvent>((resolve) => {
      const onStall = (event: StallEvent) => {
        if (blockStart === 0n || event.startedAtNs + BigInt(event.durationNs) < blockStart) {
          before.push(event);
          return;
        }
        statsAtEvent = watchdog!.stats();
        watchdog!.off('stall', onStall);
        resolve(event);
      };
      watchdog!.on('stall', onStall);
    });
    watchdog.on('stall', (event) => events.push(event));
    setImmediate(() => {
      blockStart = nowNs();
      spin(150);
      blockEnd = nowNs();
    });
    const event = await stall;
    diagnosticsChannel.unsubscribe(STALL_CHANNEL, onPublish);
    // It started within the block's first moments (the last beat was just before it) and
    // ended at the first beat after it. The slack: this thread is jest's, and with the other
    // jest worker and the suite's children on the 2 CPUs, the time from the last beat to the
    // callback (jest's own work, GC, being descheduled) reached 44 ms in CI (the bound was
    // 20 ms).
    expect(Number(blockStart - event.startedAtNs)).toBeGreaterThanOrEqual(0);
    expect(Number(blockStart - event.startedAtNs)).toBeLessThan(60e6 * SLOWDOWN);
    expect(event.durationNs).toBeGreaterThanOrEqual(Number(blockEnd - blockStart));
    expect(event.durationNs).toBeLessThan(Number(blockEnd - blockStart) + 60e6 * SLOWDOWN);
    expect(event.phase).toBe('check');
    expect(event.recovered).toBe(true);
    expect(event.threadId).toBe(0);
    expect(event.thresholdNs).toBe(30e6);
    // Reports at 30, 60, 90, 120 ms of the block (and maybe 150): each while it lasted.
    expect(event.reportCount).toBeGreaterThanOrEqual(4);
    expect(event.reports.length).toBe(event.reportCount);
    event.reports.forEach((report, i) => {
      expect(report.elapsedNs).toBeGreaterThanOrEqual(30e6 * (i + 1) - 1e6);
      expect(report.atNs).toBeLessThanOrEqual(blockEnd + 5_000_000n);
      expect(report.atNs - event.startedAtNs).toBe(BigInt(report.elapsedNs));
      expect(report.stack).toBeUndefined();
    });
    expect(published[before.length]).toEqual(event);
    expect(events[before.length]).toEqual(event);
    const all = [...before, event];
    const expected = {
      stalls: all.length,
      longestNs: Math.max(...all.map((e) => e.durationNs)),
      totalNs: all.reduce((sum, e) => sum + e.durationNs, 0),
      reports: all.reduce((sum, e) => sum + e.reportCount, 0),
      reportsWritten: 0,
      reportsDropped: 0,
    };
    // Between the block's end and this listener, jest's own work may stall again (seen under
    // ASan: 2 stalls, 6 reports): stats() counts that stall too, going on or ended, whose event
    // comes later. Then the block's figures are a floor; otherwise they are the whole.
    const stats = statsAtEvent as typeof expected;
    if (stats.stalls === expected.stalls) {
      expect(stats).toEqual(expected);
    } else {
      expect(stats.stalls).toBeGreaterThan(expected.stalls);
      expect(stats.reports).toBeGreaterThan(expected.reports);
      expect(stats.longestNs).toBeGreaterThanOrEqual(expected.longestNs);
      expect(stats.totalNs).toBeGreaterThanOrEqual(expected.totalNs);
      expect({ reportsWritten: stats.reportsWritten, reportsDropped: stats.reportsDropped }).toEqual({ reportsWritten: 0, reportsDropped: 0 });
    }
  });

  test('repeatMs 0 reports a stall once; a block in an I/O callback is in poll', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 30, repeatMs: 0, stacks: false }).start();
    let blockStart = 0n;
    const stall = stallAfter(watchdog, () => blockStart);
    fs.readFile(__filename, () => {
      blockStart = nowNs();
      spin(120);
    });
    const event = await stall;
    expect(event.phase).toBe('poll');
    expect(event.reportCount).toBe(1);
    expect(event.durationNs).toBeGreaterThanOrEqual(110e6);
  });

  test('with a LoopObserver running, its markers beat for the watchdog: the same stall is seen', async () => {
    const observer = new LoopObserver().start();
    try {
      watchdog = new StallWatchdog({ thresholdMs: 30, repeatMs: 0, stacks: false }).start();
      let blockStart = 0n;
      let blockEnd = 0n;
      const stall = stallAfter(watchdog, () => blockStart);
      setImmediate(() => {
        blockStart = nowNs();
        spin(100);
        blockEnd = nowNs();
      });
      const event = await stall;
      expect(event.phase).toBe('check');
      // The stall covers the block, and little more: from the last beat before it (jest's own
      // work in between, 85 ms of it once under ASan on a loaded machine) to the first after.
      expect(event.startedAtNs).toBeLessThanOrEqual(blockStart);
      expect(event.startedAtNs + BigInt(event.durationNs)).toBeGreaterThanOrEqual(blockEnd);
      expect(event.durationNs).toBeLessThan(Number(blockEnd - blockStart) + 100e6 * SLOWDOWN);
      // The observer stopping mid-watch hands the heartbeat back to the watchdog's own pair.
      observer.stop();
      let secondStart = 0n;
      const second = stallAfter(watchdog, () => secondStart);
      setTimeout(() => {
        secondStart = nowNs();
        spin(80);
      }, 1);
      expect((await second).durationNs).toBeGreaterThanOrEqual(75e6);
    } finally {
      observer.close();
    }
  });

  test('the blocked thread calling stats() in a loop is answered while a stack request waits: the stack is taken', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 20, repeatMs: 10, stacks: true }).start();
    let blockStart = 0n;
    const stall = stallAfter(watchdog, () => blockStart);
    setImmediate(function statsCaller() {
      blockStart = nowNs();
      while (watchdog!.stats().reports < 10);
    });
    const event = await stall;
    // Before, stats() took the state lock that the watchdog held while it waited for the stack:
    // the thread could serve the request only if it came between two calls (in most runs, no
    // report had a stack). A report whose stack the thread, descheduled on a loaded machine,
    // did not give in time has none: one with it shows the calls no longer hold the request off.
    const withStack = event.reports.filter((report) => report.stack?.some((frame) => frame.functionName === 'statsCaller'));
    expect(withStack.length).toBeGreaterThanOrEqual(1);
  });

  test('stop() from inside the blocking code ends the stall there', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 20, repeatMs: 0, stacks: false }).start();
    let blockStart = 0n;
    const stall = stallAfter(watchdog, () => blockStart);
    let stoppedAt = 0n;
    setImmediate(() => {
      blockStart = nowNs();
      spin(60);
      watchdog!.stop();
      stoppedAt = nowNs();
      spin(40);
    });
    const event = await stall;
    expect(event.startedAtNs + BigInt(event.durationNs)).toBeLessThanOrEqual(stoppedAt);
    expect(event.durationNs).toBeGreaterThanOrEqual(55e6);
    expect(watchdog.running).toBe(false);
  });
});

describe('JavaScript stacks (the stack addon)', () => {
  test('the culprit is on the stack with its url and line; timers, check and poll told apart; a native call is inNative, its stack late', async () => {
    expect(loadStackAddon()).toMatchObject({ ok: true });
    const file = tempFile('reports.jsonl');
    const fifo = tempFile('fifo');
    execFileSync('mkfifo', [fifo]);
    const source = fs.readFileSync(CHILD, 'utf8').split('\n');
    const lineOf = (marker: string) => source.findIndex((line) => line.includes(`LINE:${marker}`)) + 1;
    const child = startChild(['stacks', file, fifo]);
    type Frame = { functionName: string; url: string; line: number; column: number };
    type Stall = { phase: string; reports: { phase: string; stack?: Frame[]; stackCaptureNs?: number; inNative?: boolean }[]; lateStack?: { frames: Frame[] } };
    const stalls: Stall[] = [];
    for (const culprit of ['timer', 'immediate', 'io']) {
      const { stall } = (await child.next((line) => 'stall' in line && !stalls.includes(line.stall as Stall))) as { stall: Stall };
      stalls.push(stall);
      const [report] = stall.reports;
      expect(report.inNative).toBeUndefined();
      expect(report.stack!.length).toBeLessThanOrEqual(8);
      // Innermost first: spin (or what it calls, such as process.hrtime's getter), then the culprit.
      const at = report.stack!.findIndex((frame) => frame.functionName === `${culprit}Culprit`);
      expect(report.stack![at - 1]).toMatchObject({ functionName: 'spin', url: CHILD });
      expect(report.stack![at]).toMatchObject({ functionName: `${culprit}Culprit`, url: CHILD, line: lineOf(culprit) });
      expect(report.stack![at].column).toBeGreaterThan(0);
      expect(report.stackCaptureNs).toBeGreaterThan(0);
    }
    expect(stalls.map((stall) => stall.phase)).toEqual(['timers', 'check', 'poll']);
    expect(stalls.map((stall) => stall.reports[0].phase)).toEqual(['timers', 'check', 'poll']);
    // The native call: its live report says inNative (the thread cannot serve the interrupt),
    // and only then does the FIFO get a writer, so the call returns.
    await child.next((line) => line.nativeBlock === true);
    const deadline = Date.now() + 10_000 * SLOWDOWN;
    let native;
    while (!(native = (await reportLines(file, 4)).find((report) => report.inNative))) {
      if (Date.now() > deadline) throw new Error('no inNative report');
    }
    expect(native.stack).toBeUndefined();
    fs.writeFileSync(fifo, 'done');
    const { stall } = (await child.next((line) => 'stall' in line && (line.stall as Stall).reports[0].inNative === true)) as { stall: Stall };
    const late = stall.lateStack!.frames;
    expect(late.some((frame) => frame.functionName === 'readFileSync')).toBe(true);
    expect(late.find((frame) => frame.functionName === 'nativeCulprit')).toMatchObject({ url: CHILD, line: lineOf('native') });
    expect(stall.phase).toBe('timers');
    const { code, stderr } = await child.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  test("without the stack addon: stacks: true refuses to start, 'auto' reports why, everything else works", async () => {
    const child = startChild(['no-stacks'], { ...process.env, UVSCOPE_STACK_ADDON: 'off' });
    const { error, stall } = (await child.next((line) => 'stall' in line)) as {
      error: { code: string; message: string };
      stall: { phase: string; reports: { stack?: unknown; stackUnavailable?: string }[] };
    };
    expect(error.code).toBe('ERR_UVSCOPE_STACKS_UNAVAILABLE');
    expect(error.message).toContain('UVSCOPE_STACK_ADDON=off');
    expect(stall.phase).toBe('check');
    expect(stall.reports[0].stack).toBeUndefined();
    expect(stall.reports[0].stackUnavailable).toBe('turned off (UVSCOPE_STACK_ADDON=off)');
    expect((await child.exited).code).toBe(0);
  });

  test('the stack addon stays loaded after the only worker that loaded it exits', async () => {
    const child = startChild(['pinned']);
    expect(await child.next((line) => 'stackAddonMapped' in line)).toEqual({ stackAddonMapped: true });
    expect((await child.exited).code).toBe(0);
  });

  test("stacks: true starts when the addon loads; 'auto' and false never throw", () => {
    for (const stacks of [true, 'auto', false] as const) new StallWatchdog({ stacks }).start().close();
  });
});

describe('in child processes', () => {
  test('an idle loop (timers, pool requests, waiting in poll) is not a stall; at 10 ms, only a long iteration holds one', async () => {
    const child = startChild(['idle']);
    type Counts = { stalls: number; longestNs: number };
    const result = (await child.next((line) => 'alone' in line)) as {
      alone: Counts;
      beside: Counts;
      fsStatsAlone: number;
      fsStats: number;
      longIterations: { count: number; longest: { durationNs: number; pollWaitNs: number } | null };
    };
    expect(result.fsStatsAlone).toBeGreaterThan(50);
    expect(result.fsStats).toBeGreaterThan(50);
    expect(result.alone).toEqual({ stalls: 0, longestNs: 0, totalNs: 0, reports: 0, reportsWritten: 0, reportsDropped: 0 });
    // Natively both are 0; a slow machine (ASan) may really be busy for 10 ms now and then, and
    // then the observer saw that iteration too.
    expect(result.beside.stalls).toBeLessThanOrEqual(result.longIterations.count);
    if (result.beside.stalls > 0) {
      const { durationNs, pollWaitNs } = result.longIterations.longest!;
      expect(result.beside.longestNs).toBeLessThanOrEqual(durationNs - pollWaitNs + 1e6);
    }
    expect((await child.exited).code).toBe(0);
  });

  test('a blocked main script (startup): the report line is in the file while the child is still blocked', async () => {
    const file = tempFile('reports.jsonl');
    const release = tempFile('release');
    const child = startChild(['startup', file, release, '100']);
    const blocking = await child.next((line) => line.blocking === true);
    const [first] = await reportLines(file, 1);
    // Still blocked: the child has not said it was released (it cannot until we release it).
    expect(child.lines.some((line) => line.released)).toBe(false);
    expect(first).toMatchObject({ type: 'uvscope.stall.report', threadId: 0, stall: 1, report: 1, phase: 'startup', thresholdNs: 100e6 });
    expect(first.elapsedNs).toBeGreaterThanOrEqual(100e6);
    expect(first.elapsedNs).toBeLessThan(100e6 + 50e6 * SLOWDOWN);
    expect(first.atNs).toBeGreaterThan(BigInt(blocking.atNs as string));
    expect(Number.isNaN(Date.parse(first.time))).toBe(false);
    await reportLines(file, 2); // repeated every 100 ms while it lasts
    fs.writeFileSync(release, '');
    const { stall, stats } = (await child.next((line) => 'stall' in line)) as {
      stall: { phase: string; reportCount: number; durationNs: number; startedAtNs: string };
      stats: { stalls: number; reports: number };
    };
    expect(stall.phase).toBe('startup');
    expect(stall.reportCount).toBeGreaterThanOrEqual(2);
    expect(stats.stalls).toBe(1);
    expect(stats.reports).toBe(stall.reportCount);
    const lines = await reportLines(file, stall.reportCount);
    expect(lines.length).toBe(stall.reportCount);
    expect((await child.exited).code).toBe(0);
  });

  test('a child killed with SIGKILL mid-stall leaves its report lines (written to a descriptor)', async () => {
    const file = tempFile('reports.jsonl');
    const child = startChild(['forever-fd', file, '50']);
    await child.next((line) => line.blocking === true);
    const lines = await reportLines(file, 3);
    child.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    // At least 3 (more when the file was looked at late): the stall's reports in order.
    expect(lines.map((line) => line.report)).toEqual(lines.map((_, i) => i + 1));
    expect(fs.readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(3);
  });

  test('another thread receives the reports live: the blocked main thread waits for its count', async () => {
    const child = startChild(['live-subscriber']);
    const { stall, reports, liveBeforeRecovery } = (await child.next((line) => 'stall' in line)) as {
      stall: { reportCount: number; durationNs: number };
      reports: { threadId: number; report: number }[];
      liveBeforeRecovery: number;
    };
    // The main thread left its block because the worker had counted a live report.
    expect(liveBeforeRecovery).toBeGreaterThanOrEqual(1);
    expect(reports[0]).toMatchObject({ threadId: 0, report: 1 });
    expect(stall.reportCount).toBe(1);
    expect((await child.exited).code).toBe(0);
  });

  test('a watchdog in a worker: live reports carry its threadId; its stall event after recovery', async () => {
    const child = startChild(['worker', '200']);
    const { stall, live } = (await child.next((line) => 'stall' in line)) as {
      stall: { threadId: number; durationNs: number; reportCount: number };
      live: { threadId: number }[];
    };
    expect(stall.threadId).toBeGreaterThan(0);
    expect(stall.durationNs).toBeGreaterThanOrEqual(195e6);
    expect(live.length).toBeGreaterThanOrEqual(1);
    expect(live[0].threadId).toBe(stall.threadId);
    expect((await child.exited).code).toBe(0);
  });

  test('a worker terminated mid-stall: its watchdog thread is joined and its core freed', async () => {
    const child = startChild(['worker', 'forever']);
    const terminated = await child.next((line) => 'terminated' in line);
    expect((terminated.live as unknown[]).length).toBeGreaterThanOrEqual(1);
    const after = (await child.next((line) => 'after' in line)).after as Record<string, number>;
    expect(after.watchdogThreads).toBe(0);
    expect(after.watchdogs).toBe(0);
    expect((await child.exited).code).toBe(0);
  });

  test('process.exit() mid-stall keeps its exit code and leaves the reports made until then', async () => {
    const file = tempFile('reports.jsonl');
    const child = startChild(['exit-mid-stall', file]);
    const { code, stderr } = await child.exited;
    expect({ code, stderr }).toEqual({ code: 7, stderr: '' });
    const lines = await reportLines(file, 1);
    expect(lines[0].elapsedNs).toBeGreaterThanOrEqual(50e6);
  });

  test('dropped watchdogs are collected and freed; a started one and a subscription nobody references keep working', async () => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'stall-collect.js')]);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(stdout) as Record<string, number>;
    expect(result.droppedAlive).toBe(50); // the native side exists from the first start()
    expect(result.droppedLeft).toBeLessThanOrEqual(1);
    expect(result.threadsLeft).toBe(0);
    // At least the 60 ms spin; a loaded machine can hold the 20 ms threshold's loop up once more.
    expect(result.stalls).toBeGreaterThanOrEqual(1);
    expect(result.live).toBeGreaterThanOrEqual(1);
  });

  test('two watchdogs on one thread (30 and 100 ms) each end their own stall at the beat after the block and see the next block as a stall of its own', async () => {
    const child = startChild(['two-thresholds']);
    type Stall = { startedAtNs: string; durationNs: number; phase: string };
    const { stalls, marks } = (await child.next((line) => 'stalls' in line)) as {
      stalls: { fast: Stall[]; slow: Stall[] };
      marks: Record<'firstStart' | 'firstEnd' | 'secondStart' | 'secondEnd', string>;
    };
    const at = (text: string) => BigInt(text);
    const end = (stall: Stall) => at(stall.startedAtNs) + BigInt(stall.durationNs);
    // Both saw the first block, and ended it between the two blocks.
    for (const first of [stalls.fast[0], stalls.slow[0]]) {
      expect(first.phase).toBe('check');
      expect(at(first.startedAtNs)).toBeLessThanOrEqual(at(marks.firstStart));
      expect(end(first)).toBeGreaterThanOrEqual(at(marks.firstEnd));
      expect(end(first)).toBeLessThanOrEqual(at(marks.secondStart));
    }
    // Both saw the second block (250 ms) as a stall of its own, in poll: the slow one too,
    // though its first stall was still open for it when the block began (its repeatMs is
    // 10 minutes: it must still look every threshold, or it misses the second block).
    for (const [first, second] of [stalls.fast, stalls.slow]) {
      expect(second.phase).toBe('poll');
      expect(at(second.startedAtNs)).toBeGreaterThanOrEqual(end(first));
      expect(end(second)).toBeGreaterThanOrEqual(at(marks.secondEnd));
    }
    expect(stalls.slow.length).toBe(2);
    expect((await child.exited).code).toBe(0);
  });

  test('a live subscriber that cannot keep up with reports of 2 MB each: its queue is capped in bytes, the oldest dropped and counted', async () => {
    const child = startChild(['live-bytes']);
    const result = (await child.next((line) => 'lengths' in line)) as {
      reports: number;
      frames: number;
      droppedInStall: number;
      dropped: number;
      lengths: number[];
    };
    expect(result.frames).toBeGreaterThan(500);
    expect(Math.max(...result.lengths)).toBeGreaterThan(2e6);
    // Lost while the thread was still blocked: a cap of 1,024 lines would have kept all (fewer
    // than 200) of them; 8 MiB keeps three or so such lines.
    expect(result.droppedInStall).toBeGreaterThanOrEqual(3);
    expect(result.reports).toBeLessThan(200);
    expect(result.lengths.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(8 * 2 ** 20);
    expect(result.dropped + result.lengths.length).toBe(result.reports);
    const { code, stderr } = await child.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  });

  test('200 workers created, stalled and ended (terminated mid-stall, process.exit, natural exit): no crash, nothing left', async () => {
    const child = startChild(['churn', '200', '30']);
    const result = (await child.next((line) => 'ended' in line)) as { ended: number; stalls: number; liveObjects: Record<string, number> };
    expect(result.ended).toBe(200);
    // The natural exits (a third) turn their loop once after the block: their stall events arrive.
    expect(result.stalls).toBeGreaterThan(0);
    expect(result.liveObjects.watchdogThreads).toBe(0);
    expect(result.liveObjects.watchdogs).toBe(0);
    const { code, stderr } = await child.exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }, 120_000 * SLOWDOWN);
});
