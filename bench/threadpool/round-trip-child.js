'use strict';
/*
 * Sections (a) and (b) of bench/threadpool.js in one child: empty jobs against the raw
 * uv_queue_work yardstick (and, as a diagnostic, uvscope's native noop without the TypeScript
 * facade). (a): `await submit()` one at a time, per-job latency. (b): a burst of jobs submitted
 * at once, then Promise.all; jobs per second, the round's value the median of its bursts.
 * Main-thread and other-thread CPU per job beside both. Options (JSON argument): the parent's
 * config (rounds, seqJobs, seqWarmup, burstJobs, bursts, diag).
 */

const { median, quantile, mean } = require('../lib/stats');
const { rotate } = require('../lib/rounds');
const { formatNumber } = require('../lib/table');
const { rawQueue } = require('../lib/addons');
const { log, gc, loadUvscope, makeMainThreadCpu, kernelStatsNs, sectionMain } = require('./child-common');
const { loopsFor } = require('./job-loops');

async function roundTrip(config) {
  const uv = loadUvscope();
  const raw = rawQueue.load();
  const tp = uv.threadpool;
  const poolThreads = await tp.measureSize();
  const queue = tp.nativeQueue;
  const contenders = [
    { name: 'uvscope', label: 'uvscope threadpool.noop()', submit: () => tp.noop() },
    { name: 'raw', label: 'raw uv_queue_work (yardstick)', submit: () => raw.noop() },
  ];
  if (config.diag) {
    contenders.push({
      name: 'native',
      label: 'diag: uvscope native noop, no TS facade',
      submit: () => queue.noop(0, 0),
    });
  }
  for (const c of contenders) Object.assign(c, loopsFor(c.submit));

  const mainCpu = makeMainThreadCpu();
  /** Runs fn, returning [its result, main-thread CPU ns, CPU ns of all other threads]. */
  async function withCpu(fn) {
    const p0 = process.cpuUsage();
    const m0 = mainCpu.read();
    const result = await fn();
    const mainNs = mainCpu.read() - m0;
    const p = process.cpuUsage(p0);
    return [result, mainNs, (p.user + p.system) * 1000 - mainNs];
  }
  const samples = new Float64Array(config.seqJobs);

  // Warm-up: the pool's threads exist (measureSize), the JIT has seen every path.
  const warm = new Float64Array(config.seqWarmup);
  for (const c of contenders) {
    await c.sequential(config.seqWarmup, warm);
    await c.burst(config.burstJobs);
  }
  tp.resetStats();

  const expectUvscope = { jobs: 0 };
  const rounds = [];
  for (let r = 0; r < config.rounds; r++) {
    const round = { round: r, sequential: {}, burst: {} };
    const order = rotate(contenders, r);
    for (const c of order) {
      gc();
      const t0 = performance.now();
      const [, mainNs, otherNs] = await withCpu(() => c.sequential(config.seqJobs, samples));
      const totalMs = performance.now() - t0;
      const us = Array.from(samples, (ms) => ms * 1000);
      round.sequential[c.name] = {
        medianUs: median(us),
        p99Us: quantile(us, 0.99),
        meanUs: mean(us),
        maxUs: us.reduce((a, b) => (b > a ? b : a), 0),
        totalMs,
        jobsPerSecond: (config.seqJobs / totalMs) * 1000,
        mainCpuUsPerJob: mainNs / config.seqJobs / 1000,
        otherCpuUsPerJob: otherNs / config.seqJobs / 1000,
      };
      if (c.name !== 'raw') expectUvscope.jobs += config.seqJobs;
    }
    const times = Object.fromEntries(contenders.map((c) => [c.name, []]));
    const cpus = Object.fromEntries(contenders.map((c) => [c.name, { main: [], other: [] }]));
    for (let b = 0; b < config.bursts; b++) {
      for (const c of rotate(order, b)) {
        gc();
        const [ms, mainNs, otherNs] = await withCpu(() => c.burst(config.burstJobs));
        times[c.name].push(ms);
        cpus[c.name].main.push(mainNs / config.burstJobs / 1000);
        cpus[c.name].other.push(otherNs / config.burstJobs / 1000);
        if (c.name !== 'raw') expectUvscope.jobs += config.burstJobs;
      }
    }
    for (const c of contenders) {
      const ms = median(times[c.name]);
      round.burst[c.name] = {
        burstMs: times[c.name],
        medianMs: ms,
        jobsPerSecond: (config.burstJobs / ms) * 1000,
        mainCpuUsPerJob: median(cpus[c.name].main),
        otherCpuUsPerJob: median(cpus[c.name].other),
      };
    }
    rounds.push(round);
    log(
      `  round ${r + 1}/${config.rounds}: seq median ${contenders
        .map((c) => `${c.name} ${round.sequential[c.name].medianUs.toFixed(1)} µs`)
        .join(', ')}; burst ${contenders.map((c) => `${c.name} ${formatNumber(round.burst[c.name].jobsPerSecond)}/s`).join(', ')}`,
    );
  }

  // Sanity: every job settled; uvscope counted exactly what we submitted.
  const stats = tp.stats();
  if (raw.pending() !== 0) throw new Error(`yardstick has ${raw.pending()} jobs unsettled`);
  if (stats.inFlight !== 0 || stats.completed !== expectUvscope.jobs) {
    throw new Error(`uvscope stats: ${stats.completed} completed, ${stats.inFlight} in flight; expected ${expectUvscope.jobs}`);
  }
  return {
    poolThreads,
    mainThreadCpuSource: mainCpu.source,
    contenders: contenders.map(({ name, label }) => ({ name, label })),
    rounds,
    uvscopeNoopStatsNs: kernelStatsNs(stats.kernels.noop),
  };
}

sectionMain('ab', roundTrip);
