/**
 * A lane's `priority: 'low'` (src/threadpool/lane-priority.ts, native/threadpool/job_priority.h):
 * while one of its jobs runs, that pool thread is under SCHED_IDLE (read from /proc,
 * independent of uvscope) and no other is; once the job settles every pool thread is back
 * under its policy. A process that may not return a thread (the unprivileged user `nobody`, whose
 * RLIMIT_NICE is 0) gets ERR_UVSCOPE_PRIORITY_UNAVAILABLE at createLane(), before any thread
 * is touched. Jobs are held with sleep jobs released by their signal.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { createLane, threadpool } from '../../src';
import { lowPriorityUnavailable } from '../../src/threadpool/lane-priority';
import { SLOWDOWN, thrown } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const linux = process.platform === 'linux';
const HOLD_MS = 600_000;

/** SCHED_IDLE, as /proc reports a thread's policy. */
const SCHED_IDLE = 5;

/** This process's threads not under SCHED_OTHER (policy 0), by the kernel (/proc/self/task/<tid>/stat, field 41), with their nice (field 19). */
function loweredThreads(): { tid: number; policy: number; nice: number }[] {
  const out: { tid: number; policy: number; nice: number }[] = [];
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const policy = Number(fields[38]);
      if (policy !== 0) out.push({ tid: Number(tid), policy, nice: Number(fields[16]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Polls (every 5 ms, at most 10 s) until `test` holds; returns what it saw last. */
async function until<T>(read: () => T, test: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000 * SLOWDOWN;
  for (;;) {
    const value = read();
    if (test(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('options.priority: normal by default; anything but normal or low is a TypeError naming it', () => {
  expect(createLane({ concurrency: 1 }).stats()).toMatchObject({ priority: 'normal', priorityRestoreFailures: 0 });
  expect(createLane({ concurrency: 1, priority: 'normal' }).stats().priority).toBe('normal');
  for (const bad of ['high', 19, null]) {
    const error = thrown(() => createLane({ concurrency: 1, priority: bad as never }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toContain("'options.priority'");
  }
});

const canLower = linux && lowPriorityUnavailable() === '';

(canLower ? test : test.skip)("priority 'low': the job's pool thread runs under SCHED_IDLE while it runs, the others not; all back after", async () => {
  expect(loweredThreads()).toEqual([]);
  const lane = createLane({ concurrency: 1, priority: 'low' });
  expect(lane.stats().priority).toBe('low');
  const held = new AbortController();
  const direct = new AbortController();
  const laneJob = lane.sleep(HOLD_MS, { signal: held.signal }).catch((error: { code?: string }) => error.code);
  // A direct job beside it stays at the pool thread's own priority.
  const directJob = threadpool.sleep(HOLD_MS, { signal: direct.signal }).catch((error: { code?: string }) => error.code);
  const during = await until(loweredThreads, (threads) => threads.length > 0);
  expect(during).toEqual([{ tid: expect.any(Number), policy: SCHED_IDLE, nice: 0 }]);
  held.abort();
  expect(await laneJob).toBe('ABORT_ERR');
  expect(await until(loweredThreads, (threads) => threads.length === 0)).toEqual([]);
  direct.abort();
  expect(await directJob).toBe('ABORT_ERR');
  // Many short jobs: every one returned its thread.
  await Promise.all(Array.from({ length: 50 }, () => lane.hash('sha256', 'x')));
  expect(loweredThreads()).toEqual([]);
  expect(lane.stats()).toMatchObject({ completed: 50, cancelled: 1, priorityRestoreFailures: 0 });
});

(linux && process.getuid?.() === 0 ? test : test.skip)("priority 'low' where a thread could not return (as nobody, RLIMIT_NICE 0): ERR_UVSCOPE_PRIORITY_UNAVAILABLE at createLane, no thread lowered", () => {
  const script = `
    const { createLane, threadpool } = require(${JSON.stringify(LIB)});
    let code, message;
    try { createLane({ concurrency: 1, priority: 'low' }); } catch (error) { code = error.code; message = error.message; }
    const lowered = require('fs').readdirSync('/proc/self/task').filter((t) => {
      const s = require('fs').readFileSync('/proc/self/task/' + t + '/stat', 'utf8');
      return s.slice(s.lastIndexOf(')') + 2).split(' ')[38] !== '0';
    });
    threadpool.hash('sha256', 'x').then(() => process.stdout.write(JSON.stringify({ code, message, lowered })));`;
  const child = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 * SLOWDOWN });
  expect(child.stderr).toBe('');
  const result = JSON.parse(child.stdout);
  expect(result.code).toBe('ERR_UVSCOPE_PRIORITY_UNAVAILABLE');
  expect(result.message).toMatch(/SCHED_IDLE cannot return to its policy .*RLIMIT_NICE >= 20 .*CAP_SYS_NICE/);
  expect(result.lowered).toEqual([]);
});
