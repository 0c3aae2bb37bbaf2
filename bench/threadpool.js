#!/usr/bin/env node
'use strict';
/*
 * What does a job on uvscope's thread pool cost, and what does it buy? Five measurements,
 * each side by side with a yardstick in the same process, alternating round by round:
 *
 *  (a) empty-job round trip, sequential: `await threadpool.noop()` one at a time, against a
 *      minimal raw uv_queue_work Node-API addon (bench/raw-queue: promise, empty work
 *      callback, resolve in after_work inside a callback scope, as uvscope does). Per-job
 *      median and p99 latency.
 *  (b) burst: N empty jobs submitted at once, then Promise.all. Jobs per second.
 *  (c) SHA-256 of 256 x 1 MiB buffers with UV_THREADPOOL_SIZE=2: threadpool.hashMany of all
 *      of them in one call (two pool jobs taking the buffers in turn), and threadpool.hash for
 *      each, all at once (the default, which reads 1 MiB inputs in place, and zeroCopy: false,
 *      which copies each on the main thread, measured after the rounds), against
 *      crypto.createHash on the main thread (one buffer per loop turn, so the loop stays
 *      responsive between buffers), and against the raw addon's sha256() (one uv_queue_work
 *      job per buffer: EVP_Digest, nothing else), the yardstick of one-job-per-buffer designs.
 *      MiB/s and event-loop delay p99 (monitorEventLoopDelay, resolution 1 ms, enabled around
 *      each run).
 *  (d) threadpool.hashFile of a 256 MiB temp file, against fs.createReadStream piped into
 *      crypto.createHash (stream.pipeline). The page cache is warmed first. Wall time, MiB/s,
 *      main-thread CPU (from /proc/self/task/<pid>/schedstat: process.cpuUsage() counts every
 *      thread, pool threads included, so it is reported separately as "process CPU").
 *  (e) AES-256-GCM of the same buffers: threadpool.encrypt per buffer, into reused outputs and
 *      into fresh ones, against main-thread createCipheriv, crypto.subtle.encrypt and
 *      @ronomon/crypto-async (reused and fresh targets too), loop delay p99 beside each
 *      (bench/threadpool-cipher.js).
 *
 * Each section runs in a fresh child process (this file with --child), (c) and (e) with
 * UV_THREADPOOL_SIZE=2 in its environment. Within a child, every round runs each contender
 * once, in an order that rotates from round to round; ratios are taken within a round, and
 * the report gives medians across rounds. The children call gc() before each measurement.
 *
 *   node bench/threadpool.js [--rounds R] [--quick] [--json FILE] [--sections a,b,c,d]
 *        [--seq-jobs N] [--burst-jobs N] [--bursts N] [--buffers N] [--file-mib N]
 *        [--no-diag] [--addon FILE]
 *
 * Targets (from the issue) are printed beside the results for reference; missing one does
 * not fail the run. Sanity checks (digests agree, every job settled, pool size as set) do.
 */

const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');

const { median, quantile, mean } = require('./lib/stats');
const { intArg, eachFlag } = require('./lib/args');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('./lib/table');
const { cpuLoadSnapshot, cpuLoadSince } = require('./lib/cpu-load');
const { ensureAddonBuilt } = require('./lib/addon-build');
const cipherSection = require('./threadpool-cipher');

const ROOT = path.resolve(__dirname, '..');
const RAW_DIR = path.join(__dirname, 'raw-queue');
const RAW_ADDON = path.join(RAW_DIR, 'build', 'Release', 'raw_queue.node');
const RAW_SOURCES = ['binding.gyp', 'raw_queue.cc'].map((f) => path.join(RAW_DIR, f));
const MIB = 1024 * 1024;

const TARGETS = {
  roundTrip: 1.1, // uvscope median round trip <= 1.1 x yardstick
  burst: 0.8, // uvscope jobs/s >= 0.8 x yardstick
  sha: 1.8, // uvscope hashMany MiB/s >= 1.8 x createHash, with the 1 ms delay monitor running
  shaToRaw: 0.97, // ... and >= 0.97 x the raw one-job-per-buffer yardstick, monitor running
  shaDelayMs: 5, // loop delay p99 during uvscope hashing <= 5 ms
  file: 1.5, // hashFile MiB/s >= 1.5 x stream
  fileCpu: 0.05, // hashFile main-thread CPU < 5 % of the stream's
};

const DEFAULTS = {
  rounds: 5,
  seqJobs: 20_000,
  seqWarmup: 2_000,
  burstJobs: 10_000,
  bursts: 5,
  buffers: 256,
  fileMiB: 256,
};
const QUICK = { rounds: 3, seqJobs: 2_000, seqWarmup: 500, burstJobs: 2_000, bursts: 2, buffers: 32, fileMiB: 32 };

// ---------------------------------------------------------------------------------------
// Arguments

function usage() {
  return `usage: node bench/threadpool.js [options]
  --rounds R        rounds; each runs every contender once (default ${DEFAULTS.rounds})
  --quick           smoke test: ${QUICK.rounds} rounds, smaller sizes (explicit flags win)
  --json FILE       also write the raw data (every round) and the summary as JSON
  --sections LIST   which of a,b,c,d,e to run (default all; a and b share a child process)
  --seq-jobs N      (a) sequential jobs per contender per round (default ${DEFAULTS.seqJobs})
  --burst-jobs N    (b) jobs per burst (default ${DEFAULTS.burstJobs})
  --bursts N        (b) bursts per contender per round; the round takes their median (default ${DEFAULTS.bursts})
  --buffers N       (c) 1 MiB buffers hashed per run (default ${DEFAULTS.buffers})
  --file-mib N      (d) size of the temp file in MiB (default ${DEFAULTS.fileMiB})
                    (e) encrypts as many 1 MiB buffers as (c) hashes (--buffers)
  --no-diag         (a)/(b): leave out the diagnostic contender (native noop without the TS facade)
  --addon FILE      load uvscope's native addon from FILE (sets UVSCOPE_ADDON for the children),
                    e.g. a private copy while someone else rebuilds build/Release
  --help`;
}

function parseArgs(argv) {
  const opts = {};
  const ints = {
    '--rounds': ['rounds', 1],
    '--seq-jobs': ['seqJobs', 1],
    '--burst-jobs': ['burstJobs', 1],
    '--bursts': ['bursts', 1],
    '--buffers': ['buffers', 1],
    '--file-mib': ['fileMiB', 1],
  };
  eachFlag(argv, (flag, value, arg) => {
    if (flag in ints) {
      const [key, min] = ints[flag];
      opts[key] = intArg(flag, value(), min);
    } else if (flag === '--quick') opts.quick = true;
    else if (flag === '--json') opts.json = value();
    else if (flag === '--addon') opts.addon = path.resolve(value());
    else if (flag === '--no-diag') opts.noDiag = true;
    else if (flag === '--sections') {
      const list = value().split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of list) if (!'abcde'.includes(s) || s.length !== 1) throw new Error(`unknown section ${s}`);
      opts.sections = [...new Set(list)].sort();
    } else if (flag === '--help' || flag === '-h') opts.help = true;
    else throw new Error(`unknown argument ${arg}\n${usage()}`);
  });
  const base = opts.quick ? { ...DEFAULTS, ...QUICK } : { ...DEFAULTS };
  const config = { ...base };
  for (const key of Object.keys(DEFAULTS)) if (opts[key] !== undefined) config[key] = opts[key];
  config.sections = opts.sections ?? ['a', 'b', 'c', 'd', 'e'];
  config.diag = !opts.noDiag;
  config.quick = Boolean(opts.quick);
  return { opts, config };
}

// ---------------------------------------------------------------------------------------
// Small helpers shared by parent and children

const log = (msg) => process.stderr.write(`${msg}\n`);

const { rotate, measureRun, runRounds } = require('./lib/rounds');

/** Builds bench/raw-queue when its .node is missing or older than its sources. */
function ensureRawBuilt() {
  ensureAddonBuilt(RAW_DIR, RAW_ADDON, RAW_SOURCES, { log });
}

// ---------------------------------------------------------------------------------------
// Children: one per section group

function gc() {
  if (typeof global.gc === 'function') global.gc();
}

function loadUvscope() {
  try {
    return require('../lib');
  } catch (error) {
    throw new Error(
      `cannot load uvscope from ${path.join(ROOT, 'lib')} (build it: npm_config_nodedir=/usr npx node-gyp rebuild && npx tsc -p .): ${error.message}`,
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

/** (a) + (b): empty jobs, one at a time and in bursts. */
async function childRoundTrip(config) {
  const uv = loadUvscope();
  const raw = require(RAW_ADDON);
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

  // Each contender gets its own compiled copy of the measuring functions, so that no call
  // site is shared (a polymorphic `submit()` site would cost every contender a little, and
  // the burst rate is very sensitive to per-submission cost, see the report).
  const AsyncFunction = (async () => {}).constructor;
  const sequentialSource = `
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await submit();
      out[i] = performance.now() - t0;
    }`;
  const burstSource = `
    const promises = new Array(n);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) promises[i] = submit();
    await Promise.all(promises);
    return performance.now() - t0;`;
  for (const c of contenders) {
    c.sequential = new AsyncFunction('submit', 'n', 'out', sequentialSource).bind(null, c.submit);
    c.burst = new AsyncFunction('submit', 'n', burstSource).bind(null, c.submit);
  }
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
  const noopStats = stats.kernels.noop;
  return {
    poolThreads,
    mainThreadCpuSource: mainCpu.source,
    contenders: contenders.map(({ name, label }) => ({ name, label })),
    rounds,
    uvscopeNoopStatsNs: noopStats && {
      queueWait: noopStats.queueWait,
      run: noopStats.run,
      returnDelay: noopStats.returnDelay,
    },
  };
}

/** (c): SHA-256 of many 1 MiB buffers, pool (2 threads) vs main thread. */
async function childSha(config) {
  const { setImmediate: turn } = require('node:timers/promises');
  const uv = loadUvscope();
  const raw = require(RAW_ADDON);
  const tp = uv.threadpool;
  const poolThreads = await tp.measureSize();
  if (process.env.UV_THREADPOOL_SIZE !== '2' || poolThreads !== 2) {
    throw new Error(`(c) needs a pool of 2 threads: UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}, measured ${poolThreads}`);
  }
  const seed = crypto.randomBytes(MIB);
  const buffers = [];
  for (let i = 0; i < config.buffers; i++) {
    const b = Buffer.allocUnsafeSlow(MIB);
    seed.copy(b);
    b.writeUInt32LE(i, 0);
    buffers.push(b);
  }
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
    uvscopeHashStatsNs: hashStats && { queueWait: hashStats.queueWait, run: hashStats.run, returnDelay: hashStats.returnDelay },
  };
}

/** (d): hashFile vs a read stream piped into createHash, page cache warm. */
async function childFile(config) {
  const { pipeline } = require('node:stream/promises');
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

async function runChild(section, configJson) {
  const config = JSON.parse(configJson);
  const fn = {
    ab: childRoundTrip,
    c: childSha,
    d: childFile,
    e: (c) => cipherSection.child(c, { loadUvscope, gc, log }),
  }[section];
  if (!fn) throw new Error(`unknown child section ${section}`);
  const result = await fn(config);
  result.uvThreadpoolSize = process.env.UV_THREADPOOL_SIZE;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------
// Parent

let tempFile = null;
function removeTempFile() {
  if (tempFile === null) return;
  try {
    fs.unlinkSync(tempFile);
  } catch {}
  tempFile = null;
}

/** A file of `mib` MiB of random-looking bytes in os.tmpdir(), synced to disk. */
function createTempFile(mib) {
  const file = path.join(os.tmpdir(), `uvscope-bench-${process.pid}-${crypto.randomBytes(4).toString('hex')}.bin`);
  tempFile = file;
  const block = crypto.randomBytes(MIB);
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    for (let i = 0; i < mib; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block);
    }
    fs.fsyncSync(fd); // no writeback of dirty pages during the measurement
  } finally {
    fs.closeSync(fd);
  }
  return file;
}

let currentChild = null;
function spawnChild(section, config, extraEnv) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...extraEnv };
    const child = spawn(process.execPath, ['--expose-gc', __filename, '--child', section, JSON.stringify(config)], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    currentChild = child;
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      currentChild = null;
      if (code !== 0) return reject(new Error(`section ${section} child failed (exit ${code}, signal ${signal})`));
      const line = out.trim().split('\n').pop();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`section ${section} child printed no result`));
      }
    });
  });
}

function spreadOf(values) {
  const m = median(values);
  return values.length > 1 ? (Math.max(...values) - Math.min(...values)) / m : 0;
}
const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : 'n/a');
const verdict = (ok) => (ok === undefined ? '' : ok ? 'met' : 'MISSED');

function summarizeRoundTrip(data, config) {
  const names = data.contenders.map((c) => c.name);
  const rows = [];
  const seq = {};
  for (const c of data.contenders) {
    const per = data.rounds.map((r) => r.sequential[c.name]);
    seq[c.name] = {
      medianUs: median(per.map((p) => p.medianUs)),
      p99Us: median(per.map((p) => p.p99Us)),
      meanUs: median(per.map((p) => p.meanUs)),
      mainCpuUsPerJob: median(per.map((p) => p.mainCpuUsPerJob)),
      otherCpuUsPerJob: median(per.map((p) => p.otherCpuUsPerJob)),
      spread: spreadOf(per.map((p) => p.medianUs)),
    };
  }
  const ratio = (name, key) => median(data.rounds.map((r) => r.sequential[name][key] / r.sequential.raw[key]));
  for (const c of data.contenders) {
    const s = seq[c.name];
    rows.push([
      c.label,
      s.medianUs.toFixed(2),
      s.p99Us.toFixed(1),
      s.meanUs.toFixed(2),
      s.mainCpuUsPerJob.toFixed(2),
      s.otherCpuUsPerJob.toFixed(2),
      pct(s.spread),
      c.name === 'raw' ? '1.000×' : formatRatio(ratio(c.name, 'medianUs')),
      c.name === 'raw' ? '1.000×' : formatRatio(ratio(c.name, 'p99Us')),
    ]);
  }
  const burst = {};
  const burstRows = [];
  for (const c of data.contenders) {
    const per = data.rounds.map((r) => r.burst[c.name].jobsPerSecond);
    burst[c.name] = {
      jobsPerSecond: median(per),
      mainCpuUsPerJob: median(data.rounds.map((r) => r.burst[c.name].mainCpuUsPerJob)),
      otherCpuUsPerJob: median(data.rounds.map((r) => r.burst[c.name].otherCpuUsPerJob)),
      spread: spreadOf(per),
    };
    const r = median(data.rounds.map((round) => round.burst[c.name].jobsPerSecond / round.burst.raw.jobsPerSecond));
    burstRows.push([
      c.label,
      formatNumber(burst[c.name].jobsPerSecond),
      median(data.rounds.map((round) => round.burst[c.name].medianMs)).toFixed(1),
      burst[c.name].mainCpuUsPerJob.toFixed(3),
      burst[c.name].otherCpuUsPerJob.toFixed(3),
      pct(burst[c.name].spread),
      c.name === 'raw' ? '1.000×' : formatRatio(r),
    ]);
  }
  const rtRatio = ratio('uvscope', 'medianUs');
  const burstRatio = median(data.rounds.map((r) => r.burst.uvscope.jobsPerSecond / r.burst.raw.jobsPerSecond));
  return {
    names,
    seq,
    burst,
    rtRatio,
    rtP99Ratio: ratio('uvscope', 'p99Us'),
    burstRatio,
    seqTable: renderTable(
      ['contender', 'median µs', 'p99 µs', 'mean µs', 'main CPU µs/job', 'pool+other CPU µs/job', 'spread', 'median ratio', 'p99 ratio'],
      rows,
    ),
    burstTable: renderTable(['contender', 'jobs/s', 'burst ms', 'main CPU µs/job', 'pool+other CPU µs/job', 'spread', 'ratio'], burstRows),
  };
}

function summarizeSha(data) {
  const rows = [];
  const by = {};
  const roundsOf = (name) => (name in data.rounds[0] ? data.rounds : data.copyRounds);
  for (const c of data.contenders) {
    const per = roundsOf(c.name).map((r) => r[c.name]);
    by[c.name] = {
      mibPerSecond: median(per.map((p) => p.mibPerSecond)),
      ms: median(per.map((p) => p.ms)),
      callMs: median(per.map((p) => p.callMs)),
      delaySamples: median(per.map((p) => p.delaySamples)),
      delayP99Ms: median(per.map((p) => p.delayP99Ms)),
      delayMaxMs: median(per.map((p) => p.delayMaxMs)),
      processCpuMs: median(per.map((p) => p.processCpuMs)),
      spread: spreadOf(per.map((p) => p.mibPerSecond)),
    };
    const b = by[c.name];
    rows.push([
      c.label,
      formatNumber(b.mibPerSecond),
      formatNumber(b.ms),
      b.callMs.toFixed(2),
      c.monitor === false ? 'off' : b.delaySamples > 0 ? b.delayP99Ms.toFixed(2) : 'no sample',
      c.monitor === false ? 'off' : b.delaySamples > 0 ? b.delayMaxMs.toFixed(2) : 'no sample',
      formatNumber(b.processCpuMs),
      pct(b.spread),
    ]);
  }
  const ratioTo = (name, base) => median(roundsOf(name).map((r) => r[name].mibPerSecond / r[base].mibPerSecond));
  return {
    by,
    ratio: ratioTo('uvscopeMany', 'createHash'),
    perBufferRatio: ratioTo('uvscope', 'createHash'),
    copyRatio: ratioTo('uvscopeCopy', 'createHash'),
    rawRatio: ratioTo('raw', 'createHash'),
    perBufferToRaw: ratioTo('uvscope', 'raw'),
    manyToRaw: ratioTo('uvscopeMany', 'raw'),
    manyToRawNoMonitor: ratioTo('uvscopeManyNoMonitor', 'rawNoMonitor'),
    manyNoMonitorRatio: ratioTo('uvscopeManyNoMonitor', 'createHash'),
    table: renderTable(['contender', 'MiB/s', 'wall ms', 'call ms', 'delay p99 ms', 'delay max ms', 'process CPU ms', 'spread'], rows),
  };
}

function summarizeFile(data) {
  const rows = [];
  const by = {};
  for (const c of data.contenders) {
    const per = data.rounds.map((r) => r[c.name]);
    by[c.name] = {
      ms: median(per.map((p) => p.ms)),
      mibPerSecond: median(per.map((p) => p.mibPerSecond)),
      mainThreadCpuMs: median(per.map((p) => p.mainThreadCpuMs)),
      processCpuMs: median(per.map((p) => p.processCpuMs)),
      spread: spreadOf(per.map((p) => p.mibPerSecond)),
    };
    const b = by[c.name];
    rows.push([
      c.label,
      formatNumber(b.ms),
      formatNumber(b.mibPerSecond),
      b.mainThreadCpuMs.toFixed(1),
      formatNumber(b.processCpuMs),
      pct(b.spread),
    ]);
  }
  const throughputRatio = median(data.rounds.map((r) => r.hashFile.mibPerSecond / r.stream.mibPerSecond));
  const wallRatio = median(data.rounds.map((r) => r.hashFile.ms / r.stream.ms));
  const cpuRatio = median(data.rounds.map((r) => r.hashFile.mainThreadCpuMs / r.stream.mainThreadCpuMs));
  const processCpuRatio = median(data.rounds.map((r) => r.hashFile.processCpuMs / r.stream.processCpuMs));
  return {
    by,
    throughputRatio,
    wallRatio,
    cpuRatio,
    processCpuRatio,
    table: renderTable(['contender', 'wall ms', 'MiB/s', 'main-thread CPU ms', 'process CPU ms', 'spread'], rows),
  };
}

function describeLoad(load) {
  if (!load) return '';
  return `other processes used ${load.otherSeconds.toFixed(1)} CPU s over ${load.wallSeconds.toFixed(1)} s (of ${os.cpus().length} CPUs), steal ${load.stealSeconds.toFixed(1)} s`;
}

async function main() {
  const { opts, config } = parseArgs(process.argv.slice(2));
  if (opts.help) {
    console.log(usage());
    return;
  }
  const started = performance.now();
  ensureRawBuilt();
  if (!fs.existsSync(path.join(ROOT, 'lib', 'index.js'))) {
    throw new Error('lib/ is missing: build uvscope first (npx tsc -p .)');
  }
  const extraEnv = opts.addon ? { UVSCOPE_ADDON: opts.addon } : {};
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    `uvscope thread pool benchmark${config.quick ? ' (--quick)' : ''}`,
    `node ${process.version}, libuv ${process.versions.uv}, OpenSSL ${process.versions.openssl}, ${os.cpus().length} × ${cpuModel}`,
    `rounds ${config.rounds} (medians across rounds; ratios taken within a round; spread = (max-min)/median across rounds)`,
    opts.addon ? `addon: ${opts.addon}` : `addon: ${path.relative(ROOT, require.resolve('../lib'))} (node-gyp-build)`,
  ];
  log(header.join('\n'));

  const raw = { meta: { node: process.version, uv: process.versions.uv, cpus: os.cpus().length, cpuModel, config, addon: opts.addon ?? null }, sections: {} };
  const loads = {};
  const summary = {};
  const out = [...header, ''];

  const onSignal = (signal) => {
    if (currentChild) currentChild.kill(signal);
    removeTempFile();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', removeTempFile);

  const timed = async (key, fn) => {
    const snap = cpuLoadSnapshot();
    const t0 = performance.now();
    const result = await fn();
    loads[key] = { ...cpuLoadSince(snap), sectionMs: performance.now() - t0 };
    return result;
  };

  try {
    if (config.sections.includes('a') || config.sections.includes('b')) {
      log(`\n(a)/(b) empty jobs: ${formatNumber(config.seqJobs)} sequential, ${config.bursts} × ${formatNumber(config.burstJobs)} burst per contender per round`);
      const data = await timed('ab', () => spawnChild('ab', config, extraEnv));
      raw.sections.ab = data;
      const s = summarizeRoundTrip(data, config);
      const poolLine = `pool: ${data.poolThreads} threads (UV_THREADPOOL_SIZE=${data.uvThreadpoolSize ?? 'unset'}); ${describeLoad(loads.ab)}`;
      if (config.sections.includes('a')) {
        out.push(`(a) empty-job round trip, sequential (await one at a time), ${formatNumber(config.seqJobs)} jobs per contender per round`);
        out.push(s.seqTable);
        out.push(`    target: uvscope median ≤ ${TARGETS.roundTrip}× yardstick → ${formatRatio(s.rtRatio)} ${verdict(s.rtRatio <= TARGETS.roundTrip)}`);
        out.push(`    ${poolLine}`);
        out.push(`    CPU columns: main thread from ${data.mainThreadCpuSource}; pool+other = process.cpuUsage() minus main (pool threads, V8 GC threads)`, '');
        summary.roundTrip = { ratio: s.rtRatio, p99Ratio: s.rtP99Ratio, target: TARGETS.roundTrip, met: s.rtRatio <= TARGETS.roundTrip, ...s.seq };
      }
      if (config.sections.includes('b')) {
        out.push(`(b) burst: ${formatNumber(config.burstJobs)} empty jobs submitted at once, then Promise.all (round value: median of ${config.bursts} bursts)`);
        out.push(s.burstTable);
        out.push(`    target: uvscope ≥ ${TARGETS.burst}× yardstick jobs/s → ${formatRatio(s.burstRatio)} ${verdict(s.burstRatio >= TARGETS.burst)}`);
        out.push('    note: burst rate is bimodal; a submitter that is slightly slower per job lets idle pool threads sleep,');
        out.push('    so every uv_queue_work pays a futex wake-up (see the CPU columns). Expect large spreads.', '');
        summary.burst = { ratio: s.burstRatio, target: TARGETS.burst, met: s.burstRatio >= TARGETS.burst, ...s.burst };
      }
      if (data.uvscopeNoopStatsNs) summary.noopStatsNs = data.uvscopeNoopStatsNs;
    }

    if (config.sections.includes('c')) {
      log(`\n(c) SHA-256 of ${config.buffers} × 1 MiB, UV_THREADPOOL_SIZE=2`);
      const data = await timed('c', () => spawnChild('c', config, { ...extraEnv, UV_THREADPOOL_SIZE: '2' }));
      raw.sections.c = data;
      const s = summarizeSha(data);
      const delay = s.by.uvscopeMany.delayP99Ms;
      out.push(`(c) SHA-256 of ${config.buffers} × 1 MiB buffers, pool of ${data.poolThreads} threads (UV_THREADPOOL_SIZE=2); loop delay from monitorEventLoopDelay({ resolution: 1 }), enabled around each run but two, includes the 1 ms interval`);
      out.push(s.table);
      out.push('    call ms: how long the call itself ran before returning its promise(s), the loop blocked throughout;');
      out.push('    "no sample": the loop never turned while the run lasted, so monitorEventLoopDelay recorded nothing');
      out.push(`    target: hashMany ≥ ${TARGETS.sha}× createHash MiB/s → ${formatRatio(s.ratio)} ${verdict(s.ratio >= TARGETS.sha)}; loop delay p99 ≤ ${TARGETS.shaDelayMs} ms → ${delay.toFixed(2)} ms ${verdict(delay <= TARGETS.shaDelayMs)}`);
      out.push(`    target: hashMany ≥ ${TARGETS.shaToRaw}× raw yardstick (both with the monitor) → ${formatRatio(s.manyToRaw)} ${verdict(s.manyToRaw >= TARGETS.shaToRaw)}; without the monitor: hashMany / raw ${formatRatio(s.manyToRawNoMonitor)}, hashMany / createHash ${formatRatio(s.manyNoMonitorRatio)}`);
      out.push('    (the rows "no delay monitor running" have no delay column: nothing measured it)');
      out.push(`    one job per buffer: hash ${formatRatio(s.perBufferRatio)} createHash (zeroCopy: false ${formatRatio(s.copyRatio)}), raw yardstick ${formatRatio(s.rawRatio)}; hash / raw ${formatRatio(s.perBufferToRaw)}`);
      out.push('    (every finished job wakes the loop thread, which then takes a core from the two hashing threads: see README)');
      out.push(`    ${describeLoad(loads.c)}`, '');
      summary.sha = { manyToRaw: s.manyToRaw, manyToRawTarget: TARGETS.shaToRaw, manyToRawMet: s.manyToRaw >= TARGETS.shaToRaw, manyToRawNoMonitor: s.manyToRawNoMonitor, ratio: s.ratio, perBufferRatio: s.perBufferRatio, copyRatio: s.copyRatio, rawRatio: s.rawRatio, perBufferToRaw: s.perBufferToRaw, target: TARGETS.sha, met: s.ratio >= TARGETS.sha, delayP99Ms: delay, delayTargetMs: TARGETS.shaDelayMs, delayMet: delay <= TARGETS.shaDelayMs, ...s.by };
      if (data.uvscopeHashStatsNs) summary.hashStatsNs = data.uvscopeHashStatsNs;
    }

    if (config.sections.includes('d')) {
      log(`\n(d) hashFile: creating a ${config.fileMiB} MiB temp file in ${os.tmpdir()}`);
      const file = createTempFile(config.fileMiB);
      const data = await timed('d', () => spawnChild('d', { ...config, file }, extraEnv));
      removeTempFile();
      raw.sections.d = data;
      const s = summarizeFile(data);
      out.push(`(d) SHA-256 of a ${data.fileMiB} MiB file (page cache warm): hashFile vs stream; main-thread CPU from ${data.mainThreadCpuSource}, process CPU = process.cpuUsage() (all threads)`);
      out.push(s.table);
      out.push(`    target: hashFile ≥ ${TARGETS.file}× stream MiB/s → ${formatRatio(s.throughputRatio)} ${verdict(s.throughputRatio >= TARGETS.file)}; main-thread CPU < ${pct(TARGETS.fileCpu)} of stream's → ${(s.cpuRatio * 100).toFixed(2)}% ${verdict(s.cpuRatio < TARGETS.fileCpu)}`);
      out.push(`    wall-time ratio hashFile/stream ${formatRatio(s.wallRatio)}; process CPU ratio ${formatRatio(s.processCpuRatio)}; ${describeLoad(loads.d)}`, '');
      summary.file = { throughputRatio: s.throughputRatio, target: TARGETS.file, met: s.throughputRatio >= TARGETS.file, cpuRatio: s.cpuRatio, cpuTarget: TARGETS.fileCpu, cpuMet: s.cpuRatio < TARGETS.fileCpu, wallRatio: s.wallRatio, processCpuRatio: s.processCpuRatio, ...s.by };
    }
    if (config.sections.includes('e')) {
      log(`\n(e) AES-256-GCM of ${config.buffers} × 1 MiB, UV_THREADPOOL_SIZE=2`);
      const data = await timed('e', () => spawnChild('e', config, { ...extraEnv, UV_THREADPOOL_SIZE: '2' }));
      raw.sections.e = data;
      const s = cipherSection.summarize(data, { spreadOf, pct });
      const T = cipherSection.TARGETS;
      out.push(`(e) AES-256-GCM of ${config.buffers} × 1 MiB buffers (a fresh IV each), pool of ${data.poolThreads} threads; loop delay from monitorEventLoopDelay({ resolution: 1 })`);
      out.push(s.table);
      out.push(`    target: encrypt ≥ ${T.ratio}× createCipheriv MiB/s → ${formatRatio(s.ratio)} ${verdict(s.ratio >= T.ratio)}; loop delay p99 ≤ ${T.delayMs} ms → ${s.delayP99Ms.toFixed(2)} ms ${verdict(s.delayP99Ms <= T.delayMs)}`);
      out.push(`    with fresh outputs (the default): ${formatRatio(s.freshRatio)} createCipheriv, loop delay p99 ${s.freshDelayP99Ms.toFixed(2)} ms`);
      out.push(`    uvscope / crypto.subtle.encrypt ${formatRatio(s.toSubtle)}; uvscope / @ronomon/crypto-async ${Number.isFinite(s.toRonomon) ? `${formatRatio(s.toRonomonReused)} (both reusing outputs), ${formatRatio(s.toRonomon)} (ronomon allocating)` : `n/a (${data.ronomon})`}`);
      out.push(`    ${describeLoad(loads.e)}`, '');
      summary.cipher = { ratio: s.ratio, target: T.ratio, met: s.ratio >= T.ratio, delayP99Ms: s.delayP99Ms, delayTargetMs: T.delayMs, delayMet: s.delayP99Ms <= T.delayMs, toSubtle: s.toSubtle, toRonomon: s.toRonomon, toRonomonReused: s.toRonomonReused, freshRatio: s.freshRatio, freshDelayP99Ms: s.freshDelayP99Ms, ...s.by };
    }
  } finally {
    removeTempFile();
  }

  // The summary against the issue's targets.
  const rows = [];
  if (summary.roundTrip) rows.push(['(a) round trip, median µs per job', formatRatio(summary.roundTrip.ratio), `≤ ${TARGETS.roundTrip.toFixed(2)}×`, verdict(summary.roundTrip.met)]);
  if (summary.burst) rows.push(['(b) burst jobs/s', formatRatio(summary.burst.ratio), `≥ ${TARGETS.burst.toFixed(2)}×`, verdict(summary.burst.met)]);
  if (summary.sha) {
    rows.push(['(c) SHA-256 MiB/s vs createHash: hashMany', formatRatio(summary.sha.ratio), `≥ ${TARGETS.sha.toFixed(2)}×`, verdict(summary.sha.met)]);
    rows.push(['(c) loop delay p99 while hashMany runs', `${summary.sha.delayP99Ms.toFixed(2)} ms`, `≤ ${TARGETS.shaDelayMs} ms`, verdict(summary.sha.delayMet)]);
    rows.push(['(c) hashMany MiB/s vs raw uv_queue_work per buffer, monitor running', formatRatio(summary.sha.manyToRaw), `≥ ${TARGETS.shaToRaw.toFixed(2)}×`, verdict(summary.sha.manyToRawMet)]);
    rows.push(['(c) the same without the monitor', formatRatio(summary.sha.manyToRawNoMonitor), 'no target', '']);
    rows.push(['(c) the same, hash() per buffer', formatRatio(summary.sha.perBufferRatio), 'no target', '']);
    rows.push(['(c) hash() per buffer vs raw uv_queue_work per buffer', formatRatio(summary.sha.perBufferToRaw), 'no target', '']);
  }
  if (summary.cipher) {
    rows.push(['(e) AES-256-GCM MiB/s vs createCipheriv: encrypt', formatRatio(summary.cipher.ratio), `≥ ${summary.cipher.target.toFixed(2)}×`, verdict(summary.cipher.met)]);
    rows.push(['(e) loop delay p99 while encrypt runs', `${summary.cipher.delayP99Ms.toFixed(2)} ms`, `≤ ${summary.cipher.delayTargetMs} ms`, verdict(summary.cipher.delayMet)]);
    rows.push(['(e) encrypt vs crypto.subtle.encrypt', formatRatio(summary.cipher.toSubtle), 'no target', '']);
    rows.push(['(e) encrypt vs @ronomon/crypto-async, outputs reused by both', Number.isFinite(summary.cipher.toRonomonReused) ? formatRatio(summary.cipher.toRonomonReused) : 'n/a', 'no target', '']);
    rows.push(['(e) encrypt (outputs reused) vs @ronomon/crypto-async, fresh outputs', Number.isFinite(summary.cipher.toRonomon) ? formatRatio(summary.cipher.toRonomon) : 'n/a', 'no target', '']);
    rows.push(['(e) encrypt with fresh outputs vs createCipheriv', formatRatio(summary.cipher.freshRatio), 'no target', '']);
    rows.push(['(e) loop delay p99 while encrypt runs with fresh outputs', `${summary.cipher.freshDelayP99Ms.toFixed(2)} ms`, 'no target', '']);
  }
  if (summary.file) {
    rows.push(['(d) hashFile MiB/s vs stream', formatRatio(summary.file.throughputRatio), `≥ ${TARGETS.file.toFixed(2)}×`, verdict(summary.file.met)]);
    rows.push(['(d) hashFile main-thread CPU vs stream', `${(summary.file.cpuRatio * 100).toFixed(2)}%`, `< ${pct(TARGETS.fileCpu)}`, verdict(summary.file.cpuMet)]);
  }
  const totalMs = performance.now() - started;
  out.push('summary against the issue targets (uvscope / yardstick, medians of per-round ratios)');
  out.push(renderTable(['measure', 'result', 'target', 'verdict'], rows));
  out.push('', `total ${formatDuration(totalMs)}. Shared, noisy VM: compare within a run, not across runs; see "spread" and the load lines.`);
  console.log(`\n${out.join('\n')}`);

  if (opts.json) {
    raw.summary = summary;
    raw.loads = loads;
    raw.totalMs = totalMs;
    fs.writeFileSync(opts.json, `${JSON.stringify(raw, null, 2)}\n`);
    log(`raw data written to ${opts.json}`);
  }
}

if (process.argv[2] === '--child') {
  runChild(process.argv[3], process.argv[4]).catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    removeTempFile();
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });
}
