'use strict';
/*
 * npm run bench:pool: the libuv pool as a whole, part by part.
 *
 *  lane  fs.readFile p99 of a small file, read every 2 ms, with an idle pool of 4 threads,
 *        beside a flood of 500 PBKDF2 jobs (a few ms each) submitted directly, and beside the
 *        same flood through threadpool.createLane({ concurrency: 2 }) (and of 1: a CPU left
 *        free on a 2-CPU machine); and PBKDF2 throughput,
 *        direct against a lane of concurrency = CPUs (lane.js, lane-child.js).
 *  requests  what monitorPoolRequests() costs next to no monitor: bench/requests.js, run as a
 *        child (requests.js).
 *
 * Each round of a part is a fresh child with UV_THREADPOOL_SIZE=4. Medians over rounds with
 * their ranges; ratios are taken within a round. The targets of issue #26 are printed beside
 * the results; missing one does not fail the run, a sanity check (pool size, every job
 * settled) does.
 *
 *   node bench/pool.js [--parts lane,requests] [--rounds R] [--jobs N] [--job-ms MS] [--iterations N]
 *        [--lane-concurrency C,...] [--read-every-ms MS] [--throughput-jobs N] [--json FILE] [--quick]
 */

const fs = require('node:fs');

const { flag, intArg, parseFlags, usageText } = require('../lib/args');
const { killRunningChildren } = require('../lib/children');
const { benchMain, requireBuilt } = require('../lib/main');
const { runLanePart } = require('./lane');
const { runRequestsPart } = require('./requests');

const PARTS = { lane: runLanePart, requests: runRequestsPart };
const DEFAULTS = {
  parts: Object.keys(PARTS),
  rounds: 5,
  jobs: 500,
  jobMs: 3,
  laneConcurrency: [2, 1],
  readEveryMs: 2,
  // The idle pool's reads: ~700 in 3 s (a read every 2 ms asked, ~4 ms apart with the timer's
  // granularity), so that its p99, the reference of the lane target, is not one of a few
  // outliers: over 500 ms (~116 reads) it ranged 0.33-1.82 ms between rounds of one run.
  idleMs: 3000,
  throughputJobs: 500,
};
const QUICK = { rounds: 1, jobs: 100, idleMs: 100, throughputJobs: 100 };

const FLAGS = {
  '--parts': flag.list('parts', 'a,b', `parts to run: ${Object.keys(PARTS).join(', ')} (default all)`),
  '--rounds': flag.int('rounds', 1, 'R', `rounds, each a fresh child per part (default ${DEFAULTS.rounds})`),
  '--jobs': flag.int('jobs', 1, 'N', `PBKDF2 jobs in the flood (default ${DEFAULTS.jobs})`),
  '--job-ms': flag.int('jobMs', 1, 'MS', `what one PBKDF2 job should take: iterations calibrated to it (default ${DEFAULTS.jobMs})`),
  '--iterations': flag.int('iterations', 1, 'N', 'PBKDF2 iterations per job (default: calibrated to --job-ms)'),
  '--lane-concurrency': flag.list('laneConcurrency', 'C,...', `concurrencies of the lanes beside fs, the first one against the target (default ${DEFAULTS.laneConcurrency.join(',')})`),
  '--read-every-ms': flag.int('readEveryMs', 1, 'MS', `one fs.readFile every MS ms (default ${DEFAULTS.readEveryMs})`),
  '--throughput-jobs': flag.int('throughputJobs', 1, 'N', `PBKDF2 jobs per throughput run (default ${DEFAULTS.throughputJobs})`),
  '--json': flag.string('json', 'FILE', 'also write the raw results there'),
  '--quick': flag.on('quick', `smoke run: ${QUICK.rounds} round, ${QUICK.jobs}-job flood (explicit flags win)`),
};
const USAGE = usageText('bench/pool.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  const config = { ...DEFAULTS, ...(opts.quick ? QUICK : {}), ...opts };
  for (const part of config.parts) if (!Object.hasOwn(PARTS, part)) throw new Error(`unknown part ${part}\n${USAGE}`);
  config.laneConcurrency = config.laneConcurrency.map((c) => (typeof c === 'number' ? c : intArg('--lane-concurrency', c, 1)));
  return config;
}

async function run(opts) {
  requireBuilt();
  const onSignal = () => {
    killRunningChildren();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const log = (line) => process.stderr.write(`${line}\n`);
  const raw = { node: process.version, options: opts, parts: {} };
  console.log(`bench/pool.js on Node ${process.version}, ${require('node:os').availableParallelism()} CPUs`);
  for (const part of opts.parts) {
    const { lines, raw: data } = await PARTS[part](opts, log);
    raw.parts[part] = data;
    console.log(lines.join('\n'));
  }
  if (opts.json) fs.writeFileSync(opts.json, `${JSON.stringify(raw, null, 2)}\n`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

benchMain('pool', { parse: parseArgs, usage: USAGE, run });
