'use strict';
// The lane part of bench/pool: can a lane keep a crypto flood from starving fs, and what does it
// cost the crypto? Each round is a fresh child (lane-child.js) with UV_THREADPOOL_SIZE=4,
// not pinned: the pool's four threads and the loop share the machine's CPUs, which is the
// situation measured (pinned to one CPU, fs would wait for the CPU rather than for the queue).
// Within a child the fs conditions run in an order that rotates from round to round and the
// throughput contenders ABBA; the report gives medians over rounds with their ranges, and
// ratios taken within a round.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { runChild } = require('../lib/children');
const { cpuLoadSnapshot, cpuLoadSince } = require('../lib/cpu-load');
const { LIB } = require('../lib/main');
const { rotate } = require('../lib/rounds');
const { median, min, max } = require('../lib/stats');
const { renderTable, formatNumber, formatRatio } = require('../lib/table');

const TARGETS = { fsP99VersusIdle: 2, throughput: 0.95 };
const FILE_BYTES = 4096;

const range = (values, digits) => `${formatNumber(median(values), digits)} (${formatNumber(min(values), digits)}-${formatNumber(max(values), digits)})`;
const ratioRange = (values) => `${formatRatio(median(values), 2)} (${formatRatio(min(values), 2)}-${formatRatio(max(values), 2)})`;

/** Runs the lane part; logs progress with `log`; resolves with { lines, raw }. */
async function runLanePart(opts, log) {
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  const env = { ...process.env, UV_THREADPOOL_SIZE: '4' };
  const lib = path.join(LIB, 'index.js');
  let iterations = opts.iterations;
  let calibration;
  if (iterations === undefined) {
    calibration = await runChild(path.join(__dirname, 'calibrate-child.js'), { lib, jobMs: opts.jobMs, samples: 25 }, { env });
    iterations = calibration.iterations;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-pool-'));
  const file = path.join(dir, 'small.bin');
  fs.writeFileSync(file, Buffer.alloc(FILE_BYTES, 7));
  const rounds = [];
  const lanes = opts.laneConcurrency;
  // Each lane of `lanes`, and the first again with priority 'low' (where the process may use it).
  const laneConfigs = [...lanes.map((c) => [`lane of ${c}`, `lane-${c}`]), [`lane of ${lanes[0]}, priority low`, `lane-${lanes[0]}-low`]];
  const fsConfigs = ['idle', 'direct', ...laneConfigs.map(([, config]) => config)];
  const mainLane = `lane-${lanes[0]}`;
  const lowLane = `lane-${lanes[0]}-low`;
  try {
    log(`lane: ${opts.rounds} rounds; PBKDF2-SHA256 of ${formatNumber(iterations)} iterations${calibration ? ` (${calibration.msPer1000.toFixed(3)} ms per 1000 on one pool thread)` : ''}`);
    for (let r = 0; r < opts.rounds; r++) {
      const options = {
        lib,
        file,
        fileBytes: FILE_BYTES,
        iterations,
        jobs: opts.jobs,
        readEveryMs: opts.readEveryMs,
        idleMs: opts.idleMs,
        throughputJobs: opts.throughputJobs,
        throughputConcurrency: cpus,
        fsOrder: rotate(fsConfigs, r),
        throughputOrder: r % 2 ? ['lane', 'direct'] : ['direct', 'lane'],
      };
      const snapshot = cpuLoadSnapshot();
      const result = await runChild(path.join(__dirname, 'lane-child.js'), options, { env, label: `lane round ${r + 1}` });
      const load = cpuLoadSince(snapshot);
      // What other processes on the machine took meanwhile, in CPUs (0 to the CPU count).
      result.otherCpus = load ? load.otherSeconds / load.wallSeconds : undefined;
      rounds.push(result);
      const f = result.fs;
      const t = result.throughput;
      log(
        `  round ${r + 1}/${opts.rounds}: fs p99 idle ${f.idle.p99Ms.toFixed(2)} ms, direct ${f.direct.p99Ms.toFixed(1)} ms, ` +
          `${laneConfigs.map(([label, config]) => `${label} ${f[config].unavailable ? 'n/a' : `${f[config].p99Ms.toFixed(2)} ms`}`).join(', ')}; ` +
          `PBKDF2 ${formatNumber(t.direct.jobsPerSecond)} jobs/s direct, ${formatNumber(t.lane.jobsPerSecond)} through the lane (job ${result.jobMs.toFixed(2)} ms); ` +
          `other processes ${result.otherCpus?.toFixed(2) ?? 'n/a'} CPUs`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // 'lane-C-low' where no round could lower priorities: left out, and said why.
  const unavailable = rounds.map((r) => r.fs[lowLane].unavailable).find(Boolean);
  const shownLanes = laneConfigs.filter(([, config]) => rounds.every((r) => !r.fs[config].unavailable));
  const col = (config, key) => rounds.map((r) => r.fs[config][key]);
  const versusIdle = (config) => rounds.map((r) => r.fs[config].p99Ms / r.fs.idle.p99Ms);
  const fsRows = [
    ['idle pool', 'idle'],
    [`${opts.jobs} PBKDF2 jobs, direct`, 'direct'],
    ...shownLanes.map(([label, config]) => [`${opts.jobs} PBKDF2 jobs, ${label}`, config]),
  ].map(([label, config]) => [
    label,
    range(col(config, 'p50Ms'), 2),
    range(col(config, 'p99Ms'), 2),
    config === 'idle' ? '1' : ratioRange(versusIdle(config)),
    formatNumber(median(col(config, 'reads'))),
    config === 'idle' ? '' : range(col(config, 'floodMs'), 0),
  ]);
  const laneRatio = versusIdle(mainLane);
  const throughputRatio = rounds.map((r) => r.throughput.lane.jobsPerSecond / r.throughput.direct.jobsPerSecond);
  const perCpu = (t) => t.jobsPerSecond / t.cpus;
  const perCpuRatio = rounds.map((r) => perCpu(r.throughput.lane) / perCpu(r.throughput.direct));
  const jobMs = rounds.map((r) => r.jobMs);
  const lines = [
    '',
    `Lanes: fs.readFile of a ${FILE_BYTES / 1024} KiB file every ${opts.readEveryMs} ms (latency: call to callback), pool of 4 threads on ${cpus} CPUs,`,
    `PBKDF2 jobs of ${formatNumber(iterations)} iterations (${range(jobMs, 2)} ms each on a pool thread); medians over ${opts.rounds} rounds (range)`,
    renderTable(['condition', 'fs p50 ms', 'fs p99 ms', 'p99 vs idle', 'reads', 'flood ms'], fsRows),
    ...shownLanes.map(([label, config]) => `  ${label}: lane wait p99 ${range(rounds.map((r) => r.fs[config].laneWaitP99Ms), 0)} ms`),
    ...(unavailable ? [`  priority low: not measured here (${unavailable})`] : []),
    '',
    `Crypto throughput: ${opts.throughputJobs} PBKDF2 jobs submitted at once, direct and through a lane of concurrency ${cpus} (the CPUs), ABBA in each round`,
    renderTable(
      ['contender', 'jobs/s', 'vs direct', 'CPUs the process got', 'jobs per CPU-s', 'vs direct'],
      [
        ['direct', range(rounds.map((r) => r.throughput.direct.jobsPerSecond), 0), '1', range(rounds.map((r) => r.throughput.direct.cpus), 2), range(rounds.map((r) => perCpu(r.throughput.direct)), 0), '1'],
        [
          `lane of ${cpus}`,
          range(rounds.map((r) => r.throughput.lane.jobsPerSecond), 0),
          ratioRange(throughputRatio),
          range(rounds.map((r) => r.throughput.lane.cpus), 2),
          range(rounds.map((r) => perCpu(r.throughput.lane)), 0),
          ratioRange(perCpuRatio),
        ],
      ],
    ),
    `  the lane's refill gap (a job finished on its thread to the next lane job started), p50: ${range(rounds.map((r) => r.throughput.lane.refillGapP50Us), 0)} µs`,
    `  other processes on the machine used ${range(rounds.map((r) => r.otherCpus ?? NaN), 2)} CPUs during the rounds`,
    '',
    `targets: fs p99 through the lane of ${lanes[0]} <= ${TARGETS.fsP99VersusIdle}x idle: ${median(laneRatio) <= TARGETS.fsP99VersusIdle ? 'met' : 'missed'} (median ${formatRatio(median(laneRatio), 2)}); ` +
      `lane throughput >= ${TARGETS.throughput}x direct: ${median(throughputRatio) >= TARGETS.throughput ? 'met' : 'missed'} (median ${formatRatio(median(throughputRatio), 3)})` +
      (unavailable ? '' : `; with priority low, fs p99 <= ${TARGETS.fsP99VersusIdle}x idle: ${median(versusIdle(lowLane)) <= TARGETS.fsP99VersusIdle ? 'met' : 'missed'} (median ${formatRatio(median(versusIdle(lowLane)), 2)})`),
  ];
  return { lines, raw: { iterations, calibration, cpus, rounds } };
}

module.exports = { runLanePart };
