'use strict';
/*
 * The idle-watchdog child of bench/observer.js: a started StallWatchdog over an idle loop (one
 * long ref'd timer), and what its thread (named uvscope-wdog) costs per minute, read from
 * /proc/self/task/<tid>. Options (JSON argument): { thresholdMs, idleSeconds }.
 */

const fs = require('node:fs');
const { childMain, fail } = require('../lib/children');
const { LIB } = require('../lib/main');

/**
 * The watchdog thread's CPU time from /proc: utime+stime (clock ticks, 10 ms each) from
 * task/<tid>/stat, run time in ns from task/<tid>/schedstat (finer; absent without
 * CONFIG_SCHEDSTATS) and its voluntary context switches (one per wake-up) from task/<tid>/status.
 */
function readThread(tid) {
  const dir = `/proc/self/task/${tid}`;
  const stat = fs.readFileSync(`${dir}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime: fields 14 and 15
  let runNs = null;
  try {
    runNs = Number(fs.readFileSync(`${dir}/schedstat`, 'utf8').split(' ')[0]);
  } catch {}
  const status = fs.readFileSync(`${dir}/status`, 'utf8');
  const wakeups = Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? NaN);
  return { ticks, runNs, wakeups, at: process.hrtime.bigint() };
}

/** Thread ids of this process whose comm (task/<tid>/comm) is `name`. */
function threadsNamed(name) {
  return fs.readdirSync('/proc/self/task').filter((tid) => {
    try {
      return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name;
    } catch {
      return false; // the thread ended meanwhile
    }
  });
}

async function runIdleWatchdog({ thresholdMs, idleSeconds }) {
  const { StallWatchdog } = require(LIB);
  const watchdog = new StallWatchdog({ thresholdMs, stacks: false }).start();
  // Let start-up settle (module loading, the first heartbeat) before the idle stretch; the
  // thread names itself once it runs, so look for it after that.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const tids = threadsNamed('uvscope-wdog');
  if (tids.length !== 1) fail(`expected one uvscope-wdog thread, found ${tids.length}`);
  const [tid] = tids;
  const before = readThread(tid);
  const process0 = process.cpuUsage();
  // One long ref'd timer: the loop sleeps in epoll the whole time and never turns.
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const after = readThread(tid);
  const processCpu = process.cpuUsage(process0);
  const w = watchdog.stats();
  watchdog.close();
  if (w.stalls !== 0) fail(`idle watchdog: ${w.stalls} stall(s) reported over an idle loop`);
  const minutes = Number(after.at - before.at) / 60e9;
  return {
    config: 'watchdog-idle',
    thresholdMs,
    seconds: minutes * 60,
    cpuMsPerMinTicks: ((after.ticks - before.ticks) * 10) / minutes,
    cpuMsPerMinSchedstat: after.runNs === null ? null : (after.runNs - before.runNs) / 1e6 / minutes,
    wakeupsPerMin: (after.wakeups - before.wakeups) / minutes,
    processCpuMsPerMin: (processCpu.user + processCpu.system) / 1000 / minutes,
    stalls: w.stalls,
  };
}

childMain(runIdleWatchdog, { label: 'watchdog-idle' });
