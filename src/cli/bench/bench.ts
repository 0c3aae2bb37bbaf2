/**
 * `uvscope bench`: the same workload at several UV_THREADPOOL_SIZE values, one child process per
 * run, sizes interleaved across rounds, medians reported, the best size named with the reason.
 * @internal
 * @module
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { parseArgs, positiveInt, positiveNumber, stringOption, UsageError } from '../common/args';
import { RESULT_PREFIX, RunConfig, RunResult, Workload, WORKLOADS } from './protocol';
import { renderBenchHtml } from './html';
import { benchCommandLine, HttpOptions, killAll, renderCommandHtml, renderCommandTable } from './command-mode';
import type { BenchReport, SizeSummary } from './report';
import { median, medianPool, verdict, Verdict } from './verdict';
import { Progress } from '../common/progress';

export type { BenchReport, SizeSummary } from './report';

export const BENCH_USAGE = `usage: uvscope bench [--sizes 1,2,4,8] [--workload ${WORKLOADS.join('|')}] [--jobs N]
                     [--concurrency N] [--repeat N] [--json FILE] [--html FILE]
       uvscope bench [--sizes 1,2,4,8,16] [--repeat N] [--json FILE] [--html FILE] -- <command> [args]
       uvscope bench --http URL [--connections N] [--duration S] [--rate R] [--ready-timeout S]
                     [--sizes ...] [--repeat N] [--json FILE] [--html FILE] -- <server command> [args]

Without a command: runs the workload through uvscope's thread pool once per pool size, each in
a child process with UV_THREADPOOL_SIZE set (and verified with measureSize()), sizes interleaved
across --repeat rounds; prints the medians per size (with the pool threads' busy and run-queue
time on Linux) and names the best one: not a bigger pool whose extra threads only wait for a CPU.

With a command (anything that starts Node: node app.js, npm run job, npx tsx job.ts): runs it
at each size with uvscope's probe preloaded through NODE_OPTIONS, so every Node process it
starts is measured: wall and CPU time, exit status (a failing run is reported, never averaged
in, and the bench exits 1), loop utilization and delay p99, the queue wait of a probe job
(saturation) and Node's own pool requests by kind. With --http the command is a server: at
each size it is started, the bench waits until URL answers, drives it with autocannon (an
optional peer dependency: npm install --save-dev autocannon) and stops it; requests/s, latency
p50/p99/p99.9, errors and timeouts are reported beside the loop and pool columns.

  --http URL         the URL to load (server mode)
  --connections N    concurrent connections (default 10)
  --duration S       seconds of load per run (default 10)
  --rate R           requests per second over all connections (default: as fast as answered)
  --ready-timeout S  how long the server may take to answer first (default 30)

  --sizes        pool sizes to compare (default 1,2,4,8; 1,2,4,8,16 with a command)
  --workload     hash (SHA-256 of 1 MiB), pbkdf2 (20k iterations), spin (2 ms CPU),
                 sleep (5 ms blocked), fs (hashFile of 4 MiB), mixed (hash jobs while fs.readFile
                 and dns.lookup('localhost') run beside them)   (default hash)
  --jobs         jobs per run (default 200)
  --concurrency  most jobs in flight at once (default: all)
  --repeat       rounds (default 3)
  --json FILE    write the raw results: one object per size, with its runs
  --html FILE    write a self-contained HTML report with charts`;



function runChild(size: number, config: RunConfig): Promise<RunResult> {
  const script = path.join(__dirname, 'run.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(config)], {
      env: { ...process.env, UV_THREADPOOL_SIZE: String(size) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) return reject(new Error(`run with UV_THREADPOOL_SIZE=${size} failed (exit ${code}): ${err.trim()}`));
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as RunResult);
    });
  });
}

export function summarizeSize(size: number, runs: RunResult[]): SizeSummary {
  const m = (pick: (r: RunResult) => number | undefined) => {
    const values = runs.map(pick).filter((v): v is number => v !== undefined);
    return values.length ? median(values) : undefined;
  };
  const summary: SizeSummary = {
    size,
    measuredSize: m((r) => r.measuredSize)!,
    runs,
    wallMs: m((r) => r.wallMs)!,
    jobsPerSec: m((r) => r.jobsPerSec)!,
    latencyP50Ms: m((r) => r.latencyMs.p50)!,
    latencyP99Ms: m((r) => r.latencyMs.p99)!,
    queueWaitP50Ms: m((r) => r.queueWaitMs.p50)!,
    queueWaitP99Ms: m((r) => r.queueWaitMs.p99)!,
    loopUtilization: m((r) => r.loopUtilization)!,
    loopDelayP99Ms: m((r) => r.loopDelayP99Ms)!,
    saturationP99Ms: m((r) => r.saturationP99Ms)!,
  };
  const pool = medianPool(runs.map((r) => r.pool));
  if (pool) summary.pool = pool;
  if (runs[0]?.fsLatencyMs) {
    Object.assign(summary, {
      fsP50Ms: m((r) => r.fsLatencyMs?.p50),
      fsP99Ms: m((r) => r.fsLatencyMs?.p99),
      dnsP50Ms: m((r) => r.dnsLatencyMs?.p50),
      dnsP99Ms: m((r) => r.dnsLatencyMs?.p99),
    });
  }
  return summary;
}

/** The best size: see verdict.ts (throughput, then loop delay p99 among sizes the rounds cannot separate, then no threads that only wait for a CPU). */
export function pickBest(sizes: SizeSummary[]): Verdict {
  return verdict(
    sizes.map((s) => ({ size: s.size, rounds: s.runs.map((r) => r.jobsPerSec), loopDelayP99Ms: s.loopDelayP99Ms, pool: s.pool })),
    { name: 'throughput', unit: 'jobs/s', higherIsBetter: true },
  );
}

/**
 * The --json file: an array with one result object per pool size (its `size`, the medians,
 * every run's raw numbers), each also naming the run's settings and whether it is the best.
 */
export function jsonResults(report: BenchReport) {
  const { sizes, best, ...settings } = report;
  return sizes.map((summary) => ({
    ...summary,
    ...settings,
    best: summary.size === best.size,
    ...(summary.size === best.size ? { bestReason: best.reason } : {}),
  }));
}

function fmt(value: number | undefined, digits = 2): string {
  return value === undefined ? '-' : value.toFixed(digits);
}

const ratio = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '-' : `${(value * 100).toFixed(1)}%`);

export function renderTable(report: BenchReport): string {
  const mixed = report.workload === 'mixed';
  const header = ['size', 'measured', 'wall ms', 'jobs/s', 'lat p50', 'lat p99', 'qwait p50', 'qwait p99', 'pool busy', 'pool runq', 'loop util', 'delay p99'];
  if (mixed) header.push('fs p50', 'fs p99', 'dns p50', 'dns p99');
  const rows = report.sizes.map((s) => {
    const row = [
      String(s.size),
      String(s.measuredSize),
      fmt(s.wallMs, 1),
      fmt(s.jobsPerSec, 0),
      fmt(s.latencyP50Ms),
      fmt(s.latencyP99Ms),
      fmt(s.queueWaitP50Ms),
      fmt(s.queueWaitP99Ms),
      ratio(s.pool?.busyRatio),
      ratio(s.pool?.runQueueRatio),
      ratio(s.loopUtilization),
      fmt(s.loopDelayP99Ms),
    ];
    if (mixed) row.push(fmt(s.fsP50Ms), fmt(s.fsP99Ms), fmt(s.dnsP50Ms), fmt(s.dnsP99Ms));
    return row;
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  return [
    `workload ${report.workload}, ${report.jobs} jobs per run, medians of ${report.repeat} rounds (times in ms)`,
    line(header),
    ...rows.map(line),
    '',
    `best size: ${report.best.size} (${report.best.reason})`,
  ].join('\n');
}

function parseSizes(value: string | true | undefined, fallback: string): number[] {
  const text = stringOption('sizes', value) ?? fallback;
  return text.split(',').map((s) => {
    const n = Number(s.trim());
    if (s.trim() === '' || !Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`--sizes: each size must be an integer from 1 to 1024, got '${s}'`);
    return n;
  });
}

/** `uvscope bench [--http URL ...] -- <command>`: the user's own program at each size. */
async function commandBench(options: Map<string, string | true>, command: string[]): Promise<number> {
  for (const name of ['workload', 'jobs', 'concurrency']) {
    if (options.has(name)) throw new UsageError(`--${name} applies to the built-in workloads, not to a command`);
  }
  const sizes = parseSizes(options.get('sizes'), '1,2,4,8,16');
  const repeat = positiveInt('repeat', options.get('repeat'), 3, 100);
  const jsonFile = stringOption('json', options.get('json'));
  const htmlFile = stringOption('html', options.get('html'));
  let http: HttpOptions | undefined;
  const url = stringOption('http', options.get('http'));
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--http must be an http:// URL, got '${url}'`);
    }
    if (parsed.protocol !== 'http:') throw new UsageError(`--http must be an http:// URL, got '${url}'`);
    http = {
      url,
      connections: positiveInt('connections', options.get('connections'), 10, 10_000),
      durationS: positiveNumber('duration', options.get('duration')) ?? 10,
      rate: positiveNumber('rate', options.get('rate')),
      readyTimeoutMs: (positiveNumber('ready-timeout', options.get('ready-timeout')) ?? 30) * 1000,
    };
  } else {
    for (const name of ['connections', 'duration', 'rate', 'ready-timeout']) {
      if (options.has(name)) throw new UsageError(`--${name} applies to --http only`);
    }
  }
  // Nothing the bench started may outlive it: interrupted, it kills every process group it runs.
  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAll);
  try {
    const report = await benchCommandLine(command, sizes, repeat, http);
    process.stdout.write(`${renderCommandTable(report)}\n`);
    if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    if (htmlFile) fs.writeFileSync(htmlFile, renderCommandHtml(report));
    return report.failedRuns > 0 ? 1 : 0;
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    if (exitCode === undefined) throw error;
    process.stderr.write(`uvscope: ${(error as Error).message}\n`);
    return exitCode;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', killAll);
  }
}

export async function benchCommand(argv: string[]): Promise<number> {
  const { options, positionals, rest } = parseArgs(
    argv,
    ['sizes', 'workload', 'jobs', 'concurrency', 'repeat', 'json', 'html', 'http', 'connections', 'duration', 'rate', 'ready-timeout'],
    ['help'],
  );
  if (options.has('help')) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (a command goes after --)`);
  if (rest.length) return commandBench(options, rest);
  for (const name of ['http', 'connections', 'duration', 'rate', 'ready-timeout']) {
    if (options.has(name)) throw new UsageError(`--${name} needs a server command after -- (uvscope bench --http URL -- node server.js)`);
  }
  const sizes = parseSizes(options.get('sizes'), '1,2,4,8');
  const workload = (stringOption('workload', options.get('workload')) ?? 'hash') as Workload;
  if (!WORKLOADS.includes(workload)) throw new UsageError(`--workload must be one of ${WORKLOADS.join(', ')}, got '${workload}'`);
  const jobs = positiveInt('jobs', options.get('jobs'), 200, 1e7);
  const concurrency = positiveInt('concurrency', options.get('concurrency'), jobs, 1e7);
  const repeat = positiveInt('repeat', options.get('repeat'), 3, 100);
  const jsonFile = stringOption('json', options.get('json'));
  const htmlFile = stringOption('html', options.get('html'));

  const config: RunConfig = { workload, jobs, concurrency };
  const runs = new Map<number, RunResult[]>(sizes.map((s) => [s, []]));
  const progress = new Progress(sizes.length * repeat, process.stderr);
  for (let round = 1; round <= repeat; round++) {
    for (const size of sizes) {
      progress.step(`round ${round}/${repeat}, UV_THREADPOOL_SIZE=${size}`);
      const result = await runChild(size, config);
      if (result.measuredSize !== size) {
        progress.note(`warning: asked for ${size} threads, measured ${result.measuredSize}`);
      }
      runs.get(size)!.push(result);
    }
  }
  progress.done();

  const summaries = sizes.map((size) => summarizeSize(size, runs.get(size)!));
  const report: BenchReport = {
    workload,
    jobs,
    concurrency,
    repeat,
    node: process.version,
    uv: process.versions.uv,
    cpus: require('node:os').availableParallelism?.() ?? require('node:os').cpus().length,
    sizes: summaries,
    best: pickBest(summaries),
  };
  process.stdout.write(`${renderTable(report)}\n`);
  if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify(jsonResults(report), null, 2)}\n`);
  if (htmlFile) fs.writeFileSync(htmlFile, renderBenchHtml(report));
  return 0;
}
