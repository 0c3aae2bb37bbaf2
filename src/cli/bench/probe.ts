/**
 * The preload of `uvscope bench -- <command>`: required (through NODE_OPTIONS) by every Node
 * process the command starts, it measures that process's main thread from its first line to its
 * exit: loop utilization (LoopObserver), loop delay p99 (monitorEventLoopDelay, 10 ms
 * resolution), the queue wait of a probe job every 10 ms (pool saturation), Node's own pool
 * requests by kind (monitorPoolRequests) and its CPU time. At exit, or at SIGTERM/SIGINT when
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
import { monitorSaturation, threadpool } from '../../threadpool/threadpool';

import { BENCH_DIR_ENV, ProbeResult } from './protocol';

function start(dir: string): void {
  const startedMs = performance.now();
  const observer = new LoopObserver().start();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const saturation = monitorSaturation({ intervalMs: 10 });
  const requests = monitorPoolRequests();
  const write = () => {
    const cpu = process.cpuUsage();
    const pool = requests.stats();
    const result: ProbeResult = {
      pid: process.pid,
      argv: process.argv.slice(1),
      poolSize: threadpool.size().size,
      wallMs: performance.now() - startedMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      loopUtilization: observer.stats().utilization,
      loopDelayP99Ms: delay.count > 0 ? delay.percentile(99) / 1e6 : 0,
      saturationP99Ms: saturation.stats().queueWait.p99 / 1e6,
      requests: pool.requests,
      inFlightMax: pool.inFlight.max,
      inFlightMean: pool.inFlight.mean,
    };
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
