'use strict';
// Part (a) of bench/requests.js: one fs.stat at a time, callback style or fs.promises, under
// one configuration; CPU (process.cpuUsage(): every thread, the pool thread doing the stat
// included) and wall ns per call after a warm-up. The monitors must count exactly the calls
// made. Options (JSON argument): { config, workload: 'stat-callback' | 'stat-promise', calls,
// warmup }.

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

async function runLoop({ config, workload, calls, warmup }) {
  const monitor = startConfig(config);
  const loop = workload === 'stat-callback' ? statCallbackLoop : statPromiseLoop;
  const file = __filename;
  await loop(file, warmup);
  monitor?.reset();
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await loop(file, calls);
  const wallNs = Number(process.hrtime.bigint() - wall0);
  const cpu = process.cpuUsage(cpu0);
  const result = {
    config,
    workload,
    calls,
    cpuNsPerCall: ((cpu.user + cpu.system) * 1000) / calls,
    wallNsPerCall: wallNs / calls,
  };
  if (monitor) {
    const s = monitor.stats();
    const kind = config === 'monitor' ? 'fs.stat' : 'fs';
    const counted = s.requests[kind]?.completed ?? 0;
    if (counted !== calls || Object.keys(s.requests).length !== 1) {
      fail(`${config}: counted ${JSON.stringify(Object.keys(s.requests))}, ${kind} ${counted}, for ${calls} calls`);
    }
    result.latencyP50Ns = s.requests[kind].latency.p50;
    result.promiseHooks = s.promiseHooks;
    monitor.stop();
  }
  return result;
}

childMain(runLoop, { label: 'loop' });
