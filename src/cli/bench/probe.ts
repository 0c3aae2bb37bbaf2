/**
 * The preload of `uvscope bench -- <command>`: required (through NODE_OPTIONS) by every Node
 * process the command starts, it measures that process's main thread from its first line to its
 * exit: loop utilization (LoopObserver), loop delay p99 (monitorEventLoopDelay, 10 ms
 * resolution), the queue wait of a probe job every 10 ms (pool saturation), Node's own pool
 * requests by kind (monitorPoolRequests), its CPU time and (Linux) its pool threads' CPU and
 * run-queue time from the pool's start to the exit (the threads found by monitorThreads, whose
 * discovery starts the pool here; their schedstat totals count from their start). At exit, or at SIGTERM/SIGINT when
 * the bench stops a server, it writes one JSON file, `<UVSCOPE_BENCH_DIR>/<pid>.json`, read by the
 * bench afterwards. Nothing it starts keeps the process alive; worker threads are not measured.
 * @internal
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

import { LoopObserver } from '../../loop/observer';
import { writeAtExitOrSignal } from '../../trace/exit-writer';
import { monitorPoolRequests } from '../../requests/monitor';
import { monitorSaturation, monitorThreads, threadpool } from '../../threadpool/threadpool';
import { poolThreadTimesSupported, PoolThreadTotals, readPoolThreadTimes } from '../../threadpool/threads';

import { BENCH_DIR_ENV, PoolThreadFigures, ProbeResult } from './protocol';

/** The pool threads' totals since their start over `windowNs` each; undefined when none was found. */
function poolFigures(totals: PoolThreadTotals[], windowNs: number): PoolThreadFigures | undefined {
  if (!totals.length || windowNs <= 0) return undefined;
  let cpuNs = 0;
  let waitNs = 0;
  for (const t of totals) {
    cpuNs += t.cpuNs;
    waitNs += t.runQueueWaitNs ?? 0;
  }
  const span = totals.length * windowNs;
  return {
    threads: totals.length,
    busyRatio: Math.min(1, cpuNs / span),
    ...(totals.every((t) => t.runQueueWaitNs !== undefined) ? { runQueueRatio: Math.min(1, waitNs / span) } : {}),
  };
}

function start(dir: string): void {
  const startedMs = performance.now();
  // First: its discovery probes start the pool, so the threads' totals count from here.
  const poolStartNs = process.hrtime.bigint();
  let threads: ReturnType<typeof monitorThreads> | undefined;
  try {
    threads = poolThreadTimesSupported ? monitorThreads() : undefined;
  } catch {
    // The other figures still come; the pool columns show '-'.
  }
  const observer = new LoopObserver().start();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const saturation = monitorSaturation({ intervalMs: 10 });
  const requests = monitorPoolRequests();
  const write = () => {
    const pool = threads ? poolFigures(readPoolThreadTimes(), Number(process.hrtime.bigint() - poolStartNs)) : undefined;
    const cpu = process.cpuUsage();
    const requestStats = requests.stats();
    const result: ProbeResult = {
      pid: process.pid,
      argv: process.argv.slice(1),
      poolSize: threadpool.size().size,
      wallMs: performance.now() - startedMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      loopUtilization: observer.stats().utilization,
      loopDelayP99Ms: delay.count > 0 ? delay.percentile(99) / 1e6 : 0,
      saturationP99Ms: saturation.stats().queueWait.p99 / 1e6,
      requests: requestStats.requests,
      inFlightMax: requestStats.inFlight.max,
      inFlightMean: requestStats.inFlight.mean,
      ...(pool ? { pool } : {}),
    };
    threads?.stop();
    requests.stop();
    saturation.stop();
    delay.disable();
    observer.close();
    fs.writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify(result));
  };
  // A server the bench stops gets SIGTERM.
  writeAtExitOrSignal(write, ['SIGTERM', 'SIGINT']);
}

const dir = process.env[BENCH_DIR_ENV];
if (dir && isMainThread) {
  try {
    start(dir);
  } catch (error) {
    process.stderr.write(`uvscope bench: cannot measure process ${process.pid}: ${(error as Error).message}\n`);
  }
}
