/**
 * A stall report's `cpuNs`: the CPU time the blocked thread used since the stall began, read
 * by the watchdog thread. Computing (a busy loop) reads near the stall's length, waiting (a
 * synchronous child process, Atomics.wait) near zero; checked against the thread's own
 * schedstat (Linux), an independent reading of the same clock.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';

import { StallEvent, StallWatchdog } from '../../src';
import { SLOWDOWN } from '../helpers';

const linux = process.platform === 'linux';

/** This thread's CPU time from the kernel (schedstat's first field), ns. */
function threadCpuNs(): number {
  return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

/**
 * Runs `block` when `schedule` calls back and resolves with the stall that covers it, and the
 * CPU time the thread used in it (the kernel's figure, independent of the watchdog's).
 */
function stallCovering(watchdog: StallWatchdog, schedule: (run: () => void) => void, block: () => void): Promise<{ event: StallEvent; cpuUsedNs: number }> {
  return new Promise((resolve) => {
    let blockStart = 0n;
    let cpuUsedNs = 0;
    watchdog.on('stall', function onStall(event) {
      // A stall that ended before the block began is jest's own work on a loaded machine.
      if (blockStart === 0n || event.startedAtNs + BigInt(event.durationNs) < blockStart) return;
      watchdog.off('stall', onStall);
      resolve({ event, cpuUsedNs });
    });
    schedule(() => {
      blockStart = process.hrtime.bigint();
      const cpuBefore = threadCpuNs();
      block();
      cpuUsedNs = threadCpuNs() - cpuBefore;
    });
  });
}

/**
 * The reports of a stall of a loop that turned before it, which carry cpuNs: every one but
 * perhaps the first, which has none when the watchdog thread itself got no CPU inside the stall
 * before that report (a loaded machine, ASan): from the second on, the look that made the first
 * is a reading inside it.
 */
function measured(event: StallEvent): StallEvent['reports'] {
  const [first, ...rest] = event.reports;
  for (const report of rest) expect(report.cpuNs).toEqual(expect.any(Number));
  return first.cpuNs === undefined ? rest : event.reports;
}

/** The stall of `block` run from a setImmediate callback. */
const stallOf = (watchdog: StallWatchdog, block: () => void) => stallCovering(watchdog, (run) => setImmediate(run), block);

(linux ? describe : describe.skip)('cpuNs: on a CPU or waiting', () => {
  let watchdog: StallWatchdog | undefined;
  afterEach(() => watchdog?.close());

  test('computing: every report has cpuNs, never more than the thread used, and most of the stall on a busy loop', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 60, repeatMs: 60, stacks: false }).start();
    const { event, cpuUsedNs } = await stallOf(watchdog, () => {
      const end = process.hrtime.bigint() + BigInt(400e6 * SLOWDOWN);
      while (process.hrtime.bigint() < end);
    });
    expect(event.reports.length).toBeGreaterThanOrEqual(2);
    for (const report of measured(event)) {
      expect(report.cpuNs!).toBeLessThanOrEqual(report.elapsedNs);
      expect(report.cpuNs!).toBeLessThanOrEqual(cpuUsedNs + 5e6);
    }
    const last = event.reports[event.reports.length - 1];
    // On a machine shared with other tests the thread may get only part of a CPU; the
    // independent reading says how much it got, and the report must say about as much.
    const share = cpuUsedNs / Number(event.durationNs);
    expect(last.cpuNs! / last.elapsedNs).toBeGreaterThan(share - 0.25);
    expect(last.cpuNs! / last.elapsedNs).toBeGreaterThan(0.2);
  });

  test.each([
    ['a synchronous child process (execFileSync)', () => execFileSync('sleep', [String(0.4 * SLOWDOWN)])],
    ['Atomics.wait', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400 * SLOWDOWN)],
  ])('waiting in %s: cpuNs near zero', async (_name, block) => {
    watchdog = new StallWatchdog({ thresholdMs: 60, repeatMs: 100, stacks: false }).start();
    const { event, cpuUsedNs } = await stallOf(watchdog, block);
    expect(event.reports.length).toBeGreaterThanOrEqual(2);
    for (const report of measured(event)) expect(report.cpuNs!).toBeLessThanOrEqual(cpuUsedNs + 5e6);
    // Starting the wait costs some CPU (a fork for the child process), the rest is waiting.
    const last = event.reports[event.reports.length - 1];
    expect(last.cpuNs! / last.elapsedNs).toBeLessThan(0.15);
  });

  /**
   * The loop sleeps in poll (no timer: the watchdog looks only as the threshold asks, no CPU
   * sample every 50 ms) until a child process writes; the block runs in that poll's callback.
   * The report's figure then comes from the sample taken while the loop waited.
   */
  function stallAfterIdleWait(watchdog: StallWatchdog, block: () => void): Promise<{ event: StallEvent; cpuUsedNs: number }> {
    const child = spawn('sh', ['-c', `sleep ${0.8 * SLOWDOWN}; echo go`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const failed = new Promise<never>((_resolve, reject) => child.on('error', reject));
    return Promise.race([failed, stallCovering(watchdog, (run) => child.stdout.once('data', run), block)]);
  }

  test.each([
    ['computing', () => {
      const end = process.hrtime.bigint() + BigInt(500e6 * SLOWDOWN);
      while (process.hrtime.bigint() < end);
    }, true],
    ['waiting (Atomics.wait)', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500 * SLOWDOWN), false],
  ])('after the loop slept in poll: %s, the first report has cpuNs', async (_name, block, computing) => {
    watchdog = new StallWatchdog({ thresholdMs: 150, repeatMs: 150, stacks: false }).start();
    const { event, cpuUsedNs } = await stallAfterIdleWait(watchdog, block as () => void);
    const first = event.reports[0];
    expect(first.cpuNs).toEqual(expect.any(Number));
    for (const report of event.reports) {
      expect(report.cpuNs!).toBeLessThanOrEqual(report.elapsedNs);
      // The stall began when the loop woke from poll: the pipe's read and the stream's 'data'
      // machinery before the block count in the report, not in the block's own reading
      // (about 6 ms more on Node 24 once, in CI).
      expect(report.cpuNs!).toBeLessThanOrEqual(cpuUsedNs + 15e6);
    }
    const last = event.reports[event.reports.length - 1];
    // The thread's own share of a CPU over the stall (a loaded machine gives it less than all).
    const share = cpuUsedNs / Number(event.durationNs);
    if (computing) expect(last.cpuNs! / last.elapsedNs).toBeGreaterThan(Math.min(0.2, share / 2));
    else expect(last.cpuNs! / last.elapsedNs).toBeLessThan(0.15);
  });

  test('over a loop that sleeps in poll the watchdog thread wakes about once per threshold, not every 50 ms', async () => {
    watchdog = new StallWatchdog({ thresholdMs: 1000, stacks: false }).start();
    const wakeups = () => {
      const tid = fs.readdirSync('/proc/self/task').find((t) => {
        try {
          return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim() === 'uvscope-wdog';
        } catch {
          return false;
        }
      });
      if (!tid) throw new Error('no uvscope-wdog thread');
      return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1]);
    };
    // The thread names itself when it runs: wait for a child process to end (an event, no timer).
    const sleepFor = (seconds: number) => new Promise((resolve) => spawn('sleep', [String(seconds)]).on('exit', resolve));
    await sleepFor(0.3);
    const before = wakeups();
    await sleepFor(3);
    // 3 s at a 1 s threshold: a look per threshold (and one per turn of the loop: the child's
    // exit). Every 50 ms would be 60.
    expect(wakeups() - before).toBeLessThanOrEqual(15);
  });
});
