'use strict';
// Part (a) of bench/requests.js: one fs.stat at a time, callback style or fs.promises. CPU
// (process.cpuUsage(): every thread, the pool thread doing the stat included) and wall ns per
// call after a warm-up, measured one of two ways:
//   process    the whole child runs under one configuration: { cpuNsPerCall, wallNsPerCall }
//   alternate  the child alternates blocks under the configuration and under none (the
//              configuration started and stopped around each block, the order flipping every
//              pair, each block after `blockWarmup` calls that are not measured, since code
//              the switch deoptimised runs slower until V8 optimises it again):
//              { cpuNsPerCall, baselineCpuNsPerCall, pairRatios } over all its blocks.
// The monitors must count exactly the calls made. Options (JSON argument): { config,
// workload: 'stat-callback' | 'stat-promise', mode, calls, warmup, pairs, blockCalls, blockWarmup, priorLib }.

const fs = require('node:fs');
const { childMain, fail } = require('../lib/children');
const { startConfig } = require('./configs');

function statCallbackLoop(file, calls) {
  return new Promise((resolve, reject) => {
    let left = calls;
    const next = (error) => {
      if (error) return reject(error);
      if (left-- === 0) return resolve();
      fs.stat(file, next);
    };
    next();
  });
}

async function statPromiseLoop(file, calls) {
  for (let i = 0; i < calls; i++) await fs.promises.stat(file);
}

/** The monitor counted `calls` fs.stat requests and nothing else. */
function checkCounts(config, monitor, calls) {
  const s = monitor.stats();
  const kind = config === 'monitor-fs-off' ? 'fs' : 'fs.stat';
  const counted = s.requests[kind]?.completed ?? 0;
  if (counted !== calls || Object.keys(s.requests).length !== 1) {
    fail(`${config}: counted ${JSON.stringify(Object.keys(s.requests))}, ${kind} ${counted}, for ${calls} calls`);
  }
  return s;
}

async function measure(loop, file, calls) {
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await loop(file, calls);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const cpu = process.cpuUsage(cpu0);
  return { cpuNs: (cpu.user + cpu.system) * 1000, wallNs };
}

async function runProcess({ config, workload, calls, warmup, priorLib }, loop, file) {
  const { monitor, stop } = startConfig(config, priorLib);
  await loop(file, warmup);
  monitor?.reset();
  const m = await measure(loop, file, calls);
  const result = { config, workload, mode: 'process', calls, cpuNsPerCall: m.cpuNs / calls, wallNsPerCall: m.wallNs / calls };
  if (monitor) {
    const s = checkCounts(config, monitor, calls);
    result.latencyP50Ns = s.requests[config === 'monitor-fs-off' ? 'fs' : 'fs.stat'].latency.p50;
    result.promiseHooks = s.promiseHooks;
    result.asyncHooks = s.asyncHooks;
  }
  stop();
  return result;
}

async function runAlternate({ config, workload, warmup, pairs, blockCalls, blockWarmup, priorLib }, loop, file) {
  // Both states once before measuring: the first switch compiles what the configuration adds.
  await loop(file, warmup);
  startConfig(config, priorLib).stop();
  await loop(file, warmup);
  const on = [];
  const off = [];
  let promiseHooks;
  let asyncHooks;
  for (let pair = 0; pair < pairs; pair++) {
    for (const withConfig of pair % 2 ? [false, true] : [true, false]) {
      const running = withConfig ? startConfig(config, priorLib) : null;
      await loop(file, blockWarmup);
      const m = await measure(loop, file, blockCalls);
      if (running?.monitor) {
        const s = checkCounts(config, running.monitor, blockWarmup + blockCalls);
        promiseHooks = s.promiseHooks;
        asyncHooks = s.asyncHooks;
      }
      running?.stop();
      (withConfig ? on : off).push(m.cpuNs / blockCalls);
    }
  }
  const sum = (values) => values.reduce((a, b) => a + b, 0);
  return {
    config,
    workload,
    mode: 'alternate',
    calls: pairs * blockCalls,
    cpuNsPerCall: sum(on) / on.length,
    baselineCpuNsPerCall: sum(off) / off.length,
    pairRatios: on.map((v, i) => v / off[i]),
    promiseHooks,
    asyncHooks,
  };
}

async function runLoop(options) {
  const loop = options.workload === 'stat-callback' ? statCallbackLoop : statPromiseLoop;
  const file = __filename;
  return options.mode === 'alternate' ? runAlternate(options, loop, file) : runProcess(options, loop, file);
}

childMain(runLoop, { label: 'loop' });
