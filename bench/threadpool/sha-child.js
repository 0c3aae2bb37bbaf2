'use strict';
/*
 * Section (c) of bench/threadpool.js: SHA-256 of N x 1 MiB buffers with UV_THREADPOOL_SIZE=2.
 * threadpool.hashMany of all of them in one call and threadpool.hash per buffer, against
 * crypto.createHash on the main thread (one buffer per loop turn) and the raw addon's sha256()
 * (one uv_queue_work job per buffer); hashMany and raw also without the loop-delay monitor.
 * zeroCopy: false (a copy per input on the main thread) runs after the rounds, paired with
 * createHash. Every contender's digests are checked against createHash's first. Options
 * (JSON argument): the parent's config (rounds, buffers).
 */

const crypto = require('node:crypto');
const { setImmediate: turn } = require('node:timers/promises');
const { measureRun, runRounds } = require('../lib/rounds');
const { rawQueue } = require('../lib/addons');
const { log, gc, loadUvscope, poolOfTwo, mebibyteBuffers, kernelStatsNs, sectionMain } = require('./child-common');

async function sha(config) {
  const uv = loadUvscope();
  const raw = rawQueue.load();
  const tp = uv.threadpool;
  const poolThreads = await poolOfTwo(tp, 'c');
  const buffers = mebibyteBuffers(config.buffers);
  const totalMiB = config.buffers;

  const contenders = [
    {
      name: 'uvscopeMany',
      label: `uvscope threadpool.hashMany, one call (${poolThreads} jobs)`,
      run: () => tp.hashMany('sha256', buffers),
    },
    {
      name: 'uvscope',
      label: 'uvscope threadpool.hash per buffer, all at once (in place)',
      run: () => Promise.all(buffers.map((b) => tp.hash('sha256', b))),
    },
    {
      name: 'raw',
      label: 'raw uv_queue_work sha256 per buffer (yardstick)',
      run: () => Promise.all(buffers.map((b) => raw.sha256(b))),
    },
    // The same two without the loop-delay monitor: what its 1 ms wake-ups cost each.
    {
      name: 'uvscopeManyNoMonitor',
      label: 'uvscope threadpool.hashMany, no delay monitor running',
      run: () => tp.hashMany('sha256', buffers),
      monitor: false,
    },
    {
      name: 'rawNoMonitor',
      label: 'raw uv_queue_work sha256 per buffer, no delay monitor running',
      run: () => Promise.all(buffers.map((b) => raw.sha256(b))),
      monitor: false,
    },
    {
      name: 'createHash',
      label: 'crypto.createHash on main thread, 1 buffer/loop turn',
      run: async () => {
        const out = new Array(buffers.length);
        for (let i = 0; i < buffers.length; i++) {
          out[i] = crypto.createHash('sha256').update(buffers[i]).digest();
          await turn();
        }
        return out;
      },
    },
  ];

  // Copying 256 MiB takes ~10x the others' time here (page faults, see README) and leaves the
  // kernel busy for a while after; it runs after the rounds, paired with createHash runs.
  const copying = {
    name: 'uvscopeCopy',
    label: 'uvscope threadpool.hash per buffer, zeroCopy: false (after the rounds)',
    run: () => Promise.all(buffers.map((b) => tp.hash('sha256', b, { zeroCopy: false }))),
  };
  const createHash = contenders.find((c) => c.name === 'createHash');

  // Warm-up, and the digests must agree with createHash's.
  const expected = await createHash.run();
  for (const c of [...contenders, copying]) {
    const digests = await c.run();
    for (let i = 0; i < buffers.length; i++) {
      if (!digests[i].equals(expected[i])) throw new Error(`(c) digest of buffer ${i} differs between ${c.name} and createHash`);
    }
  }
  tp.resetStats();

  const measure = async (c) => {
    const { result: digests, ...numbers } = await measureRun(c.run, { mebibytes: totalMiB, monitor: c.monitor !== false, gc });
    if (digests.length !== buffers.length) throw new Error(`(c) ${c.name} returned ${digests.length} digests`);
    return numbers;
  };
  const rounds = await runRounds(contenders, config.rounds, measure, log);
  if (raw.pending() !== 0) throw new Error(`yardstick has ${raw.pending()} jobs unsettled`);
  const hashStats = tp.stats().kernels.hash;
  const copyRounds = [];
  for (let r = 0; r < Math.min(3, config.rounds); r++) {
    copyRounds.push({ round: r, [copying.name]: await measure(copying), createHash: await measure(createHash) });
  }
  return {
    poolThreads,
    contenders: [...contenders, copying].map(({ name, label, monitor }) => ({ name, label, monitor })),
    rounds,
    copyRounds,
    uvscopeHashStatsNs: kernelStatsNs(hashStats),
  };
}

sectionMain('c', sha);
