'use strict';
// One round of the lane part of bench/pool (lane.js), in a child with UV_THREADPOOL_SIZE=4.
//
// fs: a small file read with fs.readFile every `readEveryMs` (open loop: a read does not wait
// for the one before), its latency from the call to the callback, under three conditions in
// the order `fsOrder` gives: `idle` (nothing else on the pool, `idleMs` long), `direct` (`jobs`
// PBKDF2 jobs submitted at once to threadpool) and `lane-C` (the same jobs through
// threadpool.createLane({ concurrency: C })); under a flood the reads go on until every job
// settled.
// throughput: `throughputJobs` PBKDF2 jobs submitted at once, directly and through a lane of
// concurrency `throughputConcurrency` (the CPUs), ABBA order (`throughputOrder` then its
// reverse): jobs per second of each and the CPUs the process got meanwhile, the means of its
// two runs. For the lane, the refill gap:
// how long a slot stayed empty between a job finishing on its pool thread and the next job of
// the lane starting (the k-th job to start took the slot the (k - C)-th to finish freed).
// Prints { fs: { [config]: {...} }, throughput: { [config]: {...} }, jobMs, poolSize }.
const diagnosticsChannel = require('node:diagnostics_channel');
const fs = require('node:fs');
const { setTimeout: sleep } = require('node:timers/promises');

const { childMain, fail } = require('../lib/children');

childMain(async (o) => {
  const { threadpool, poolSize, JOB_CHANNEL } = require(o.lib);
  const size = poolSize();
  if (size.size !== 4) fail(`pool size ${size.size}, expected 4 (UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE})`);
  const job = (target, i) => target.pbkdf2('password', `salt-${i}`, o.iterations, 32, 'sha256');
  const readOnce = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      fs.readFile(o.file, (error, data) => {
        if (error) reject(error);
        else if (data.length !== o.fileBytes) reject(new Error(`read ${data.length} bytes`));
        else resolve(performance.now() - t0);
      });
    });

  // Warm up: the kernels, the lane's code, fs.readFile's.
  const warmLane = threadpool.createLane({ concurrency: 2 });
  await Promise.all([...Array.from({ length: 16 }, (_, i) => job(i % 2 ? warmLane : threadpool, i)), ...Array.from({ length: 16 }, readOnce)]);
  threadpool.resetStats();

  async function fsUnder(config) {
    // lane-C, or lane-C-low: through a lane of concurrency C (with priority 'low').
    const laneConfig = /^lane-(\d+)(-low)?$/.exec(config);
    let lane;
    if (laneConfig) {
      try {
        lane = threadpool.createLane({ concurrency: Number(laneConfig[1]), ...(laneConfig[2] ? { priority: 'low' } : {}) });
      } catch (error) {
        if (error.code === 'ERR_UVSCOPE_PRIORITY_UNAVAILABLE') return { unavailable: error.message };
        throw error;
      }
    }
    let floodMs;
    let over = false;
    const t0 = performance.now();
    let flood;
    if (config === 'idle') {
      flood = sleep(o.idleMs);
    } else {
      const target = lane ?? threadpool;
      const jobs = Array.from({ length: o.jobs }, (_, i) => job(target, i));
      flood = Promise.all(jobs).then(() => (floodMs = performance.now() - t0));
    }
    flood.then(() => (over = true));
    const reads = [];
    while (!over) {
      reads.push(readOnce());
      await sleep(o.readEveryMs);
    }
    await flood;
    const latencies = (await Promise.all(reads)).sort((a, b) => a - b);
    const at = (q) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)];
    const result = { reads: latencies.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: latencies[latencies.length - 1], floodMs };
    if (lane !== undefined) {
      const stats = lane.stats();
      if (stats.completed !== o.jobs || stats.running !== 0) fail(`lane: ${JSON.stringify(stats)}`);
      result.laneWaitP99Ms = stats.laneWait.p99 / 1e6;
    }
    return result;
  }

  async function throughput(config) {
    const target = config === 'lane' ? threadpool.createLane({ concurrency: o.throughputConcurrency }) : threadpool;
    // Both contenders publish job records (the same cost per job), for the lane's refill gaps.
    const records = [];
    const onRecord = (record) => records.push(record);
    diagnosticsChannel.subscribe(JOB_CHANNEL, onRecord);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.throughputJobs }, (_, i) => job(target, i)));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, onRecord);
    // CPUs this process got meanwhile (pool threads and loop): with other processes running,
    // four runnable pool threads get a larger share of the machine than two.
    const result = { ms, jobsPerSecond: o.throughputJobs / (ms / 1000), cpus: (cpu.user + cpu.system) / 1000 / ms };
    if (config === 'lane') {
      const c = o.throughputConcurrency;
      const started = records.map((r) => r.startedAt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const finished = records.map((r) => r.finishedAt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const gaps = started.slice(c).map((s, k) => Number(s - finished[k]) / 1000).sort((a, b) => a - b);
      result.refillGapP50Us = gaps[gaps.length >> 1];
      result.refillGapMeanUs = gaps.reduce((sum, g) => sum + g, 0) / gaps.length;
    }
    return result;
  }

  const fsResults = {};
  for (const config of o.fsOrder) fsResults[config] = await fsUnder(config);
  const runs = {};
  for (const config of [...o.throughputOrder, ...[...o.throughputOrder].reverse()]) (runs[config] ??= []).push(await throughput(config));
  const throughputResults = Object.fromEntries(
    Object.entries(runs).map(([config, list]) => {
      const mean = (key) => list.reduce((s, r) => s + r[key], 0) / list.length;
      return [config, { jobsPerSecond: mean('jobsPerSecond'), cpus: mean('cpus'), refillGapP50Us: config === 'lane' ? mean('refillGapP50Us') : undefined, runs: list }];
    }),
  );
  const pbkdf2 = threadpool.stats().kernels.pbkdf2;
  if (pbkdf2.failed || pbkdf2.cancelled) fail(`pbkdf2 jobs failed: ${JSON.stringify(pbkdf2)}`);
  return { fs: fsResults, throughput: throughputResults, jobMs: pbkdf2.run.p50 / 1e6, poolSize: size.size };
});
