'use strict';
/*
 * Section (d) of bench/threadpool.js: threadpool.hashFile of a temp file (the parent makes it)
 * against fs.createReadStream piped into crypto.createHash (stream.pipeline), the page cache
 * warmed first. Wall time, MiB/s, main-thread CPU and process CPU (every thread, pool threads
 * included). Options (JSON argument): the parent's config (rounds, file).
 */

const fs = require('node:fs');
const crypto = require('node:crypto');
const { pipeline } = require('node:stream/promises');
const { runRounds } = require('../lib/rounds');
const { MIB, log, gc, loadUvscope, makeMainThreadCpu, sectionMain } = require('./child-common');

async function hashFile(config) {
  const uv = loadUvscope();
  const tp = uv.threadpool;
  const file = config.file;
  const size = fs.statSync(file).size;
  const totalMiB = size / MIB;
  const mainCpu = makeMainThreadCpu();

  // Warm the page cache: read the whole file once.
  {
    const fd = fs.openSync(file, 'r');
    const chunk = Buffer.allocUnsafe(MIB);
    while (fs.readSync(fd, chunk, 0, MIB, null) > 0);
    fs.closeSync(fd);
  }

  const contenders = [
    { name: 'hashFile', label: 'uvscope threadpool.hashFile', run: () => tp.hashFile(file, 'sha256') },
    {
      name: 'stream',
      label: 'fs.createReadStream -> createHash (pipeline)',
      run: async () => {
        const hash = crypto.createHash('sha256');
        await pipeline(fs.createReadStream(file), hash);
        return hash.digest();
      },
    },
  ];
  const [a, b] = [await contenders[0].run(), await contenders[1].run()];
  if (!a.equals(b)) throw new Error(`(d) digests differ: hashFile ${a.toString('hex')}, stream ${b.toString('hex')}`);

  const measure = async (c) => {
    gc();
    const cpu0 = process.cpuUsage();
    const main0 = mainCpu.read();
    const t0 = performance.now();
    await c.run();
    const ms = performance.now() - t0;
    const mainNs = mainCpu.read() - main0;
    const cpu = process.cpuUsage(cpu0);
    return {
      ms,
      mibPerSecond: totalMiB / (ms / 1000),
      mainThreadCpuMs: mainNs / 1e6,
      processCpuMs: (cpu.user + cpu.system) / 1000,
    };
  };
  const rounds = await runRounds(contenders, config.rounds, measure, log, (m) => `${m.mibPerSecond.toFixed(0)} MiB/s, main CPU ${m.mainThreadCpuMs.toFixed(1)} ms`);
  return {
    fileMiB: totalMiB,
    mainThreadCpuSource: mainCpu.source,
    contenders: contenders.map(({ name, label }) => ({ name, label })),
    rounds,
  };
}

sectionMain('d', hashFile);
