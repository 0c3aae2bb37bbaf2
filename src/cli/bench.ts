/**
 * `uvscope bench`: the same workload at several UV_THREADPOOL_SIZE values, one child process per
 * run, sizes interleaved across rounds, medians reported, the best size named with the reason.
 * @internal
 * @module
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { parseArgs, positiveInt, stringOption, UsageError } from './args';
import { RESULT_PREFIX, RunConfig, RunResult, Workload, WORKLOADS } from './bench-run';
import { renderBenchHtml } from './bench-html';
import { Progress } from './progress';

export const BENCH_USAGE = `usage: uvscope bench [--sizes 1,2,4,8] [--workload ${WORKLOADS.join('|')}] [--jobs N]
                     [--concurrency N] [--repeat N] [--json FILE] [--html FILE]

Runs the workload through uvscope's thread pool once per pool size, each in a child process
with UV_THREADPOOL_SIZE set (and verified with measureSize()), sizes interleaved across
--repeat rounds; prints the medians per size and names the best one.

  --sizes        pool sizes to compare (default 1,2,4,8)
  --workload     hash (SHA-256 of 1 MiB), pbkdf2 (20k iterations), spin (2 ms CPU),
                 sleep (5 ms blocked), fs (hashFile of 4 MiB), mixed (hash jobs while fs.readFile
                 and dns.lookup('localhost') run beside them)   (default hash)
  --jobs         jobs per run (default 200)
  --concurrency  most jobs in flight at once (default: all)
  --repeat       rounds (default 3)
  --json FILE    write the raw results: one object per size, with its runs
  --html FILE    write a self-contained HTML report with charts`;

/** Per pool size: the median of each metric over the rounds, and every run. */
export interface SizeSummary {
  size: number;
  measuredSize: number;
  runs: RunResult[];
  wallMs: number;
  jobsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  queueWaitP50Ms: number;
  queueWaitP99Ms: number;
  loopUtilization: number;
  loopDelayP99Ms: number;
  saturationP99Ms: number;
  fsP50Ms?: number;
  fsP99Ms?: number;
  dnsP50Ms?: number;
  dnsP99Ms?: number;
}

export interface BenchReport {
  workload: Workload;
  jobs: number;
  concurrency: number;
  repeat: number;
  node: string;
  uv: string;
  cpus: number;
  sizes: SizeSummary[];
  best: { size: number; reason: string };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function runChild(size: number, config: RunConfig): Promise<RunResult> {
  const script = path.join(__dirname, 'bench-run.js');
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

/**
 * The best size: among sizes within 5% of the highest throughput, the smallest one whose p99
 * latency (for `mixed`, the p99 of the fs and dns calls beside it) is within 5% of the lowest
 * among them: more threads than that buy nothing and cost contention.
 */
export function pickBest(sizes: SizeSummary[], workload: Workload): { size: number; reason: string } {
  const top = Math.max(...sizes.map((s) => s.jobsPerSec));
  const near = sizes.filter((s) => s.jobsPerSec >= top * 0.95).sort((a, b) => a.size - b.size);
  const cost = (s: SizeSummary) => (workload === 'mixed' ? Math.max(s.fsP99Ms ?? 0, s.dnsP99Ms ?? 0) : s.latencyP99Ms);
  const lowest = Math.min(...near.map(cost));
  const best = near.find((s) => cost(s) <= lowest * 1.05)!;
  const what = workload === 'mixed' ? 'fs/dns p99' : 'job p99 latency';
  const slowest = Math.min(...sizes.map((s) => s.jobsPerSec));
  const reason =
    near.length === 1
      ? `highest throughput: ${best.jobsPerSec.toFixed(0)} jobs/s, ${(best.jobsPerSec / slowest).toFixed(2)}x the slowest size`
      : `sizes ${near.map((s) => s.size).join(', ')} are within 5% of the highest throughput (${top.toFixed(0)} jobs/s); ` +
        `${best.size} is the smallest of them with a ${what} within 5% of the lowest (${cost(best).toFixed(2)} ms vs ${lowest.toFixed(2)} ms)`;
  return { size: best.size, reason };
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

export function renderTable(report: BenchReport): string {
  const mixed = report.workload === 'mixed';
  const header = ['size', 'measured', 'wall ms', 'jobs/s', 'lat p50', 'lat p99', 'qwait p50', 'qwait p99', 'loop util', 'delay p99'];
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
      `${(s.loopUtilization * 100).toFixed(1)}%`,
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

export async function benchCommand(argv: string[]): Promise<number> {
  const { options, positionals } = parseArgs(
    argv,
    ['sizes', 'workload', 'jobs', 'concurrency', 'repeat', 'json', 'html'],
    ['help'],
  );
  if (options.has('help')) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const sizesText = stringOption('sizes', options.get('sizes')) ?? '1,2,4,8';
  const sizes = sizesText.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`--sizes: each size must be an integer from 1 to 1024, got '${s}'`);
    return n;
  });
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
    best: pickBest(summaries, workload),
  };
  process.stdout.write(`${renderTable(report)}\n`);
  if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify(jsonResults(report), null, 2)}\n`);
  if (htmlFile) fs.writeFileSync(htmlFile, renderBenchHtml(report));
  return 0;
}
