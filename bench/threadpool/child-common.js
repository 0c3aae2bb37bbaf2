'use strict';
// What the section children of bench/threadpool.js share: loading uvscope, gc() before each
// measurement (the children run with --expose-gc), the main thread's own CPU time, the 1 MiB
// inputs, the two-thread pool sections (c) and (e) need, and the child's entry (its result
// carries UV_THREADPOOL_SIZE as the child saw it).

const fs = require('node:fs');
const crypto = require('node:crypto');
const { childMain } = require('../lib/children');
const { LIB } = require('../lib/main');

const MIB = 1024 * 1024;

const log = (msg) => process.stderr.write(`${msg}\n`);

function gc() {
  if (typeof global.gc === 'function') global.gc();
}

function loadUvscope() {
  try {
    return require(LIB);
  } catch (error) {
    throw new Error(
      `cannot load uvscope from ${LIB} (build it: npm_config_nodedir=/usr npx node-gyp rebuild && npx tsc -p .): ${error.message}`,
    );
  }
}

/** Main-thread CPU time in ns: Linux schedstat of the main thread (tid = pid), else stat ticks. */
function makeMainThreadCpu() {
  const schedstat = `/proc/self/task/${process.pid}/schedstat`;
  try {
    const first = Number(fs.readFileSync(schedstat, 'utf8').split(' ')[0]);
    if (Number.isFinite(first)) {
      return { source: 'schedstat', read: () => Number(fs.readFileSync(schedstat, 'utf8').split(' ')[0]) };
    }
  } catch {}
  const stat = `/proc/self/task/${process.pid}/stat`;
  try {
    const ticks = () => {
      const text = fs.readFileSync(stat, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 1e7; // utime + stime, 1/100 s each
    };
    ticks();
    return { source: 'stat (10 ms ticks)', read: ticks };
  } catch {}
  return { source: 'unavailable', read: () => NaN };
}

/** The pool's size, which must be 2 (UV_THREADPOOL_SIZE=2 from the parent), or an Error. */
async function poolOfTwo(tp, section) {
  const poolThreads = await tp.measureSize();
  if (process.env.UV_THREADPOOL_SIZE !== '2' || poolThreads !== 2) {
    throw new Error(`(${section}) needs a pool of 2 threads: UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}, measured ${poolThreads}`);
  }
  return poolThreads;
}

/** `count` separate 1 MiB buffers of random bytes, told apart by their first four. */
function mebibyteBuffers(count) {
  const seed = crypto.randomBytes(MIB);
  const buffers = [];
  for (let i = 0; i < count; i++) {
    const b = Buffer.allocUnsafeSlow(MIB);
    seed.copy(b);
    b.writeUInt32LE(i, 0);
    buffers.push(b);
  }
  return buffers;
}

/** A kernel's timing totals from threadpool.stats(), for the report's JSON. */
function kernelStatsNs(stats) {
  return stats && { queueWait: stats.queueWait, run: stats.run, returnDelay: stats.returnDelay };
}

/** The child's entry: runs `section(config)` and answers with its result. */
function sectionMain(name, section) {
  childMain(async (config) => ({ ...(await section(config)), uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE }), { label: name });
}

module.exports = { MIB, log, gc, loadUvscope, makeMainThreadCpu, poolOfTwo, mebibyteBuffers, kernelStatsNs, sectionMain };
