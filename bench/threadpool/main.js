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
 *      (a) and (b): round-trip-child.js.
 *  (c) SHA-256 of 256 x 1 MiB buffers with UV_THREADPOOL_SIZE=2 (sha-child.js):
 *      threadpool.hashMany of all of them in one call (two pool jobs taking the buffers in
 *      turn), and threadpool.hash for each, all at once (the default, which reads 1 MiB inputs
 *      in place, and zeroCopy: false, which copies each on the main thread, measured after the
 *      rounds), against crypto.createHash on the main thread (one buffer per loop turn, so the
 *      loop stays responsive between buffers), and against the raw addon's sha256() (one
 *      uv_queue_work job per buffer: EVP_Digest, nothing else), the yardstick of
 *      one-job-per-buffer designs. MiB/s and event-loop delay p99 (monitorEventLoopDelay,
 *      resolution 1 ms, enabled around each run).
 *  (d) threadpool.hashFile of a 256 MiB temp file, against fs.createReadStream piped into
 *      crypto.createHash (stream.pipeline) (file-child.js). The page cache is warmed first.
 *      Wall time, MiB/s, main-thread CPU (from /proc/self/task/<pid>/schedstat:
 *      process.cpuUsage() counts every thread, pool threads included, so it is reported
 *      separately as "process CPU").
 *  (e) AES-256-GCM of the same buffers: threadpool.encrypt per buffer, into reused outputs and
 *      into fresh ones, against main-thread createCipheriv, crypto.subtle.encrypt and
 *      @ronomon/crypto-async (reused and fresh targets too), loop delay p99 beside each
 *      (cipher-child.js).
 *
 * Each section runs in a fresh child process, (c) and (e) with UV_THREADPOOL_SIZE=2 in its
 * environment. Within a child, every round runs each contender once, in an order that rotates
 * from round to round; ratios are taken within a round, and the report (report.js) gives
 * medians across rounds. The children call gc() before each measurement.
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

const { flag, parseFlags, usageText } = require('../lib/args');
const { runChild, killRunningChildren } = require('../lib/children');
const { benchMain, requireBuilt, ROOT, LIB } = require('../lib/main');
const { renderTable, formatNumber, formatRatio, formatPercent: pct, formatDuration } = require('../lib/table');
const { cpuLoadSnapshot, cpuLoadSince } = require('../lib/cpu-load');
const { rawQueue } = require('../lib/addons');
const { summarizeRoundTrip, summarizeSha, summarizeFile, summarizeCipher } = require('./report');

const MIB = 1024 * 1024;

const TARGETS = {
  roundTrip: 1.1, // uvscope median round trip <= 1.1 x yardstick
  burst: 0.8, // uvscope jobs/s >= 0.8 x yardstick
  sha: 1.8, // uvscope hashMany MiB/s >= 1.8 x createHash, with the 1 ms delay monitor running
  shaToRaw: 0.97, // ... and >= 0.97 x the raw one-job-per-buffer yardstick, monitor running
  shaDelayMs: 5, // loop delay p99 during uvscope hashing <= 5 ms
  file: 1.5, // hashFile MiB/s >= 1.5 x stream
  fileCpu: 0.05, // hashFile main-thread CPU < 5 % of the stream's
  cipher: 1.8, // uvscope encrypt MiB/s >= 1.8 x createCipheriv, outputs reused
  cipherDelayMs: 5, // loop delay p99 during uvscope encrypt <= 5 ms
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
const SECTIONS = ['a', 'b', 'c', 'd', 'e'];

// ---------------------------------------------------------------------------------------
// Arguments

const FLAGS = {
  '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every contender once (default ${DEFAULTS.rounds})`),
  '--quick': flag.on('quick', `smoke test: ${QUICK.rounds} rounds, smaller sizes (explicit flags win)`),
  '--json': flag.string('json', 'FILE', 'also write the raw data (every round) and the summary as JSON'),
  '--sections': flag.list('sections', 'LIST', 'which of a,b,c,d,e to run (default all; a and b share a child process)'),
  '--seq-jobs': flag.int('seqJobs', 1, 'N', `(a) sequential jobs per contender per round (default ${DEFAULTS.seqJobs})`),
  '--burst-jobs': flag.int('burstJobs', 1, 'N', `(b) jobs per burst (default ${DEFAULTS.burstJobs})`),
  '--bursts': flag.int('bursts', 1, 'N', `(b) bursts per contender per round; the round takes their median (default ${DEFAULTS.bursts})`),
  '--buffers': flag.int('buffers', 1, 'N', `(c) 1 MiB buffers hashed per run (default ${DEFAULTS.buffers})`),
  '--file-mib': flag.int('fileMiB', 1, 'N', `(d) size of the temp file in MiB (default ${DEFAULTS.fileMiB})
(e) encrypts as many 1 MiB buffers as (c) hashes (--buffers)`),
  '--no-diag': flag.on('noDiag', '(a)/(b): leave out the diagnostic contender (native noop without the TS facade)'),
  '--addon': flag.string('addon', 'FILE', `load uvscope's native addon from FILE (sets UVSCOPE_ADDON for the children),
e.g. a private copy while someone else rebuilds build/Release`),
};
const USAGE = usageText('bench/threadpool.js', FLAGS, { width: 18 });

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  if (opts.addon !== undefined) opts.addon = path.resolve(opts.addon);
  for (const s of opts.sections ?? []) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}`);
  const config = opts.quick ? { ...DEFAULTS, ...QUICK } : { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) if (opts[key] !== undefined) config[key] = opts[key];
  config.sections = opts.sections ? [...new Set(opts.sections)].sort() : SECTIONS;
  config.diag = !opts.noDiag;
  config.quick = Boolean(opts.quick);
  return { ...opts, config };
}

// ---------------------------------------------------------------------------------------
// Children and the temp file

const log = (msg) => process.stderr.write(`${msg}\n`);

const CHILDREN = { ab: 'round-trip-child.js', c: 'sha-child.js', d: 'file-child.js', e: 'cipher-child.js' };

/** The section's child, run with --expose-gc and `env` added, answers with its data. */
function runSection(section, config, env) {
  return runChild(path.join(__dirname, CHILDREN[section]), config, {
    execArgv: ['--expose-gc'],
    cwd: ROOT,
    env: { ...process.env, ...env },
    label: `section ${section}`,
  });
}

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

// ---------------------------------------------------------------------------------------
// Report

const verdict = (ok) => (ok === undefined ? '' : ok ? 'met' : 'MISSED');

function describeLoad(load) {
  if (!load) return '';
  return `other processes used ${load.otherSeconds.toFixed(1)} CPU s over ${load.wallSeconds.toFixed(1)} s (of ${os.cpus().length} CPUs), steal ${load.stealSeconds.toFixed(1)} s`;
}

/** The last table: every measure with a target, and the ratios beside them. */
function targetRows(summary) {
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
  return rows;
}

// ---------------------------------------------------------------------------------------
// Parent

async function run(opts) {
  const { config } = opts;
  const started = performance.now();
  rawQueue.ensureBuilt({ log });
  requireBuilt();
  const extraEnv = opts.addon ? { UVSCOPE_ADDON: opts.addon } : {};
  const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = [
    `uvscope thread pool benchmark${config.quick ? ' (--quick)' : ''}`,
    `node ${process.version}, libuv ${process.versions.uv}, OpenSSL ${process.versions.openssl}, ${os.cpus().length} × ${cpuModel}`,
    `rounds ${config.rounds} (medians across rounds; ratios taken within a round; spread = (max-min)/median across rounds)`,
    opts.addon ? `addon: ${opts.addon}` : `addon: ${path.relative(ROOT, require.resolve(LIB))} (node-gyp-build)`,
  ];
  log(header.join('\n'));

  const raw = { meta: { node: process.version, uv: process.versions.uv, cpus: os.cpus().length, cpuModel, config, addon: opts.addon ?? null }, sections: {} };
  const loads = {};
  const summary = {};
  const out = [...header, ''];

  const onSignal = (signal) => {
    killRunningChildren(signal);
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
      const data = await timed('ab', () => runSection('ab', config, extraEnv));
      raw.sections.ab = data;
      const s = summarizeRoundTrip(data);
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
      const data = await timed('c', () => runSection('c', config, { ...extraEnv, UV_THREADPOOL_SIZE: '2' }));
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
      const data = await timed('d', () => runSection('d', { ...config, file }, extraEnv));
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
      const data = await timed('e', () => runSection('e', config, { ...extraEnv, UV_THREADPOOL_SIZE: '2' }));
      raw.sections.e = data;
      const s = summarizeCipher(data);
      out.push(`(e) AES-256-GCM of ${config.buffers} × 1 MiB buffers (a fresh IV each), pool of ${data.poolThreads} threads; loop delay from monitorEventLoopDelay({ resolution: 1 })`);
      out.push(s.table);
      out.push(`    target: encrypt ≥ ${TARGETS.cipher}× createCipheriv MiB/s → ${formatRatio(s.ratio)} ${verdict(s.ratio >= TARGETS.cipher)}; loop delay p99 ≤ ${TARGETS.cipherDelayMs} ms → ${s.delayP99Ms.toFixed(2)} ms ${verdict(s.delayP99Ms <= TARGETS.cipherDelayMs)}`);
      out.push(`    with fresh outputs (the default): ${formatRatio(s.freshRatio)} createCipheriv, loop delay p99 ${s.freshDelayP99Ms.toFixed(2)} ms`);
      out.push(`    uvscope / crypto.subtle.encrypt ${formatRatio(s.toSubtle)}; uvscope / @ronomon/crypto-async ${Number.isFinite(s.toRonomon) ? `${formatRatio(s.toRonomonReused)} (both reusing outputs), ${formatRatio(s.toRonomon)} (ronomon allocating)` : `n/a (${data.ronomon})`}`);
      out.push(`    ${describeLoad(loads.e)}`, '');
      summary.cipher = { ratio: s.ratio, target: TARGETS.cipher, met: s.ratio >= TARGETS.cipher, delayP99Ms: s.delayP99Ms, delayTargetMs: TARGETS.cipherDelayMs, delayMet: s.delayP99Ms <= TARGETS.cipherDelayMs, toSubtle: s.toSubtle, toRonomon: s.toRonomon, toRonomonReused: s.toRonomonReused, freshRatio: s.freshRatio, freshDelayP99Ms: s.freshDelayP99Ms, ...s.by };
    }
  } finally {
    removeTempFile();
  }

  const totalMs = performance.now() - started;
  out.push('summary against the issue targets (uvscope / yardstick, medians of per-round ratios)');
  out.push(renderTable(['measure', 'result', 'target', 'verdict'], targetRows(summary)));
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

benchMain('threadpool', { parse: parseArgs, usage: USAGE, run });
