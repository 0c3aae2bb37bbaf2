/**
 * One `uvscope bench` run: executed in a child process whose UV_THREADPOOL_SIZE is the pool size
 * under test. Verifies the size with measureSize(), runs the workload through uvscope's pool with
 * the loop observer, a saturation monitor, monitorEventLoopDelay and (Linux) a pool-thread monitor
 * (monitorThreads: the threads' CPU and run-queue time over the timed part) on, and prints one
 * JSON result line prefixed with RESULT_PREFIX.
 * @internal
 * @module
 */
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { summarize } from '../../histogram/summary';
import { LoopObserver } from '../../loop/observer';
import { JOB_CHANNEL, JobRecord } from '../../channels';
import { threadpool } from '../../threadpool/threadpool';
import { poolThreadTimesSupported } from '../../threadpool/threads';
import diagnosticsChannel from 'node:diagnostics_channel';

import { LatencyMs, RESULT_PREFIX, RunConfig, RunResult, Workload } from './protocol';

const ms = (ns: number) => ns / 1e6;
const pct = (samples: number[]): LatencyMs => {
  const s = summarize(samples);
  return { p50: s.p50, p99: s.p99 };
};

function makeJob(workload: Workload, input: { data: Buffer; file: string }): () => Promise<unknown> {
  switch (workload) {
    case 'hash':
    case 'mixed':
      return () => threadpool.hash('sha256', input.data);
    case 'pbkdf2':
      return () => threadpool.pbkdf2('password', 'salt', 20_000, 32, 'sha256');
    case 'spin':
      return () => threadpool.spin(2);
    case 'sleep':
      return () => threadpool.sleep(5);
    case 'fs':
      return () => threadpool.hashFile(input.file, 'sha256');
  }
}

/** fs.readFile and dns.lookup loops beside the CPU jobs, one call in flight each. */
function sideTraffic(file: string) {
  const fsSamples: number[] = [];
  const dnsSamples: number[] = [];
  let running = true;
  const loop = (samples: number[], call: (done: () => void) => void) =>
    new Promise<void>((resolve) => {
      const next = () => {
        if (!running) return resolve();
        const start = process.hrtime.bigint();
        call(() => {
          samples.push(ms(Number(process.hrtime.bigint() - start)));
          next();
        });
      };
      next();
    });
  const done = Promise.all([
    loop(fsSamples, (cb) => fs.readFile(file, () => cb())),
    loop(dnsSamples, (cb) => dns.lookup('localhost', () => cb())),
  ]);
  return {
    async stop() {
      running = false;
      await done;
      return { fsLatencyMs: pct(fsSamples), dnsLatencyMs: pct(dnsSamples) };
    },
  };
}

export async function run(config: RunConfig): Promise<RunResult> {
  const configured = threadpool.size().size;
  const measuredSize = await threadpool.measureSize();
  // measureSize() ran a job on every thread, so every thread is known already: no probe runs.
  const threads = poolThreadTimesSupported ? threadpool.monitorThreads({ discoveryTimeoutMs: 2000 }) : undefined;
  await threads?.ready;
  const file = path.join(os.tmpdir(), `uvscope-bench-${process.pid}.bin`);
  const data = crypto.randomBytes(1 << 20);
  fs.writeFileSync(file, config.workload === 'fs' ? crypto.randomBytes(4 << 20) : data);
  const job = makeJob(config.workload, { data, file });

  const queueWaits: number[] = [];
  const onJob = (record: unknown) => {
    const r = record as JobRecord;
    if (r.outcome === 'completed') queueWaits.push(ms(r.queueWaitNs));
  };
  diagnosticsChannel.subscribe(JOB_CHANNEL, onJob);
  const observer = new LoopObserver().start();
  const saturation = threadpool.monitorSaturation({ intervalMs: 10 });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const side = config.workload === 'mixed' ? sideTraffic(file) : undefined;

  const latencies: number[] = [];
  threads?.reset();
  const started = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < config.jobs) {
      next++;
      const t0 = process.hrtime.bigint();
      await job();
      latencies.push(ms(Number(process.hrtime.bigint() - t0)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(config.concurrency, config.jobs) }, worker));
  const wallNs = Number(process.hrtime.bigint() - started);
  const poolStats = threads?.stats();
  threads?.stop();

  const sideResult = side ? await side.stop() : {};
  delay.disable();
  saturation.stop();
  const loop = observer.stats();
  observer.close();
  diagnosticsChannel.unsubscribe(JOB_CHANNEL, onJob);
  fs.rmSync(file, { force: true });

  return {
    size: configured,
    configuredSize: configured,
    measuredSize,
    workload: config.workload,
    jobs: config.jobs,
    wallMs: ms(wallNs),
    jobsPerSec: (config.jobs * 1e9) / wallNs,
    latencyMs: pct(latencies),
    queueWaitMs: pct(queueWaits),
    queueWaitSamplesMs: queueWaits,
    loopUtilization: loop.utilization,
    loopDelayP99Ms: ms(delay.percentile(99)),
    saturationP99Ms: ms(saturation.stats().queueWait.p99),
    ...sideResult,
    ...(poolStats?.threads.length
      ? { pool: { threads: poolStats.threads.length, busyRatio: poolStats.busyRatio, runQueueRatio: poolStats.runQueueRatio } }
      : {}),
  };
}

if (require.main === module) {
  const config = JSON.parse(process.argv[2] ?? '{}') as RunConfig;
  run(config).then(
    (result) => process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
