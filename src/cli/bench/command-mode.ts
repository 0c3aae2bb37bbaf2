/**
 * `uvscope bench -- <command>` and `uvscope bench --http URL -- <server command>`: the user's
 * own program at each pool size. Each run starts the command in a process group of its own with
 * UV_THREADPOOL_SIZE set and uvscope's probe preloaded through NODE_OPTIONS (so every Node
 * process it starts is measured, see probe.ts); sizes are interleaved across rounds. With
 * --http the command is a server: the bench waits until the URL answers, drives it with
 * autocannon, then stops it (SIGTERM to its group, SIGKILL after 5 s). Every process group still
 * running is killed when the bench exits or is interrupted.
 * @internal
 * @module
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

import { barChart, pageHtml, poolChart } from './html';
import { BENCH_DIR_ENV, PoolThreadFigures, ProbeResult } from './protocol';
import { median, medianPool, verdict, Verdict } from './verdict';
import { Progress } from '../common/progress';

export interface HttpOptions {
  url: string;
  connections: number;
  durationS: number;
  /** Requests per second over all connections; undefined: as fast as the server answers. */
  rate?: number;
  /** How long the server may take to answer its first request, ms. */
  readyTimeoutMs: number;
}

export interface HttpResult {
  requestsPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyP999Ms: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** Requests of one kind over a run's processes: counts summed, p99 the largest of the processes'. */
export interface KindSummary {
  count: number;
  failed: number;
  p99Ms: number;
}

export interface CommandRun {
  size: number;
  round: number;
  ok: boolean;
  /** Why a run failed (exit status, server not answering, ...). */
  failure?: string;
  exitCode: number | null;
  signal: string | null;
  wallMs: number;
  /** CPU time of the Node processes measured (user + system), ms. */
  cpuMs: number;
  processes: number;
  /** Of the busiest Node process (most CPU). */
  loopUtilization: number;
  loopDelayP99Ms: number;
  /** The largest over the processes. */
  saturationP99Ms: number;
  poolSizeSeen: number;
  /** The busiest process's pool threads (Linux; absent when none was found). */
  pool?: PoolThreadFigures;
  requests: Record<string, KindSummary>;
  http?: HttpResult;
}

export interface CommandSizeSummary {
  size: number;
  runs: CommandRun[];
  okRuns: number;
  wallMs: number;
  cpuMs: number;
  loopUtilization: number;
  loopDelayP99Ms: number;
  saturationP99Ms: number;
  poolRequests: number;
  /** Medians of the runs' pool-thread figures. */
  pool?: PoolThreadFigures;
  requests: Record<string, KindSummary>;
  http?: HttpResult;
}

export interface CommandReport {
  command: string[];
  http?: Omit<HttpOptions, 'readyTimeoutMs'>;
  repeat: number;
  node: string;
  cpus: number;
  sizes: CommandSizeSummary[];
  failedRuns: number;
  best?: Verdict;
}

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Kills every process group still running (bench exit, Ctrl-C). */
export function killAll(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
}

function probePath(): string {
  return path.join(__dirname, 'probe.js');
}

function startCommand(command: string[], size: number, dir: string, quiet: boolean): ChildProcess {
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(probePath())}`.trim();
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(size), NODE_OPTIONS: nodeOptions, [BENCH_DIR_ENV]: dir },
    stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'],
    detached: true,
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

interface Exit {
  code: number | null;
  signal: string | null;
  stderrTail: string;
  spawnError?: NodeJS.ErrnoException;
}

/** The command's exit, with the tail of its stderr (echoed to ours as it comes unless `quiet`). */
function waitExit(child: ChildProcess, quiet: boolean): Promise<Exit> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
    if (!quiet) process.stderr.write(chunk);
  });
  return new Promise((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code === 'ENOENT' ? 127 : 126, signal: null, stderrTail: '', spawnError: error }));
    child.on('close', (code, signal) => resolve({ code, signal, stderrTail: stderr.trim() }));
  });
}

function readProbes(dir: string): ProbeResult[] {
  const results: ProbeResult[] = [];
  for (const name of fs.readdirSync(dir)) {
    try {
      results.push(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as ProbeResult);
    } catch {
      // A process killed while writing: left out.
    }
  }
  return results;
}

function combine(run: Omit<CommandRun, 'cpuMs' | 'processes' | 'loopUtilization' | 'loopDelayP99Ms' | 'saturationP99Ms' | 'poolSizeSeen' | 'pool' | 'requests'>, probes: ProbeResult[]): CommandRun {
  const busiest = probes.reduce<ProbeResult | undefined>((a, b) => (a === undefined || b.cpuMs > a.cpuMs ? b : a), undefined);
  const requests: Record<string, KindSummary> = {};
  for (const probe of probes) {
    for (const [kind, stats] of Object.entries(probe.requests)) {
      const summary = (requests[kind] ??= { count: 0, failed: 0, p99Ms: 0 });
      summary.count += stats.completed + stats.failed + stats.cancelled;
      summary.failed += stats.failed;
      summary.p99Ms = Math.max(summary.p99Ms, stats.latency.p99 / 1e6);
    }
  }
  return {
    ...run,
    cpuMs: probes.reduce((sum, p) => sum + p.cpuMs, 0),
    processes: probes.length,
    loopUtilization: busiest?.loopUtilization ?? 0,
    loopDelayP99Ms: busiest?.loopDelayP99Ms ?? 0,
    saturationP99Ms: Math.max(0, ...probes.map((p) => p.saturationP99Ms)),
    poolSizeSeen: busiest?.poolSize ?? 0,
    ...(busiest?.pool ? { pool: busiest.pool } : {}),
    requests,
  };
}

function describeExit(exit: Exit, command: string[]): string {
  if (exit.spawnError) {
    return exit.spawnError.code === 'ENOENT' ? `command not found: ${command[0]}` : `cannot start ${command[0]}: ${exit.spawnError.message}`;
  }
  const status = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
  return `${status}${exit.stderrTail ? `: ${exit.stderrTail.split('\n').slice(-3).join(' | ')}` : ''}`;
}

async function runOnce(command: string[], size: number, round: number, quiet: boolean): Promise<CommandRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-'));
  try {
    const started = performance.now();
    const child = startCommand(command, size, dir, quiet);
    const exit = await waitExit(child, quiet);
    const wallMs = performance.now() - started;
    const ok = exit.code === 0 && exit.signal === null;
    return combine({ size, round, ok, failure: ok ? undefined : describeExit(exit, command), exitCode: exit.code, signal: exit.signal, wallMs }, readProbes(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves once `url` answers at all (any status), rejects after timeoutMs or when `exited` does. */
async function waitUntilAnswering(url: string, timeoutMs: number, exited: Promise<Exit>, command: string[]): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exit: Exit | undefined;
  void exited.then((e) => (exit = e));
  let lastError = '';
  while (performance.now() < deadline) {
    if (exit) throw new Error(`the server exited before ${url} answered (${describeExit(exit, command)})`);
    const answered = await new Promise<boolean>((resolve) => {
      const request = http.get(url, { timeout: 1000 }, (response) => {
        response.resume();
        resolve(true);
      });
      request.on('timeout', () => request.destroy(new Error('no answer within 1 s')));
      request.on('error', (error) => {
        lastError = error.message;
        resolve(false);
      });
    });
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s${lastError ? ` (last error: ${lastError})` : ''}`);
}

type Autocannon = (options: Record<string, unknown>) => Promise<Record<string, unknown>>;

/** autocannon is an optional peer dependency, loaded on first use. */
export function loadAutocannon(): Autocannon {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(require.resolve('autocannon', { paths: [process.cwd(), __dirname] })) as Autocannon;
  } catch {
    throw new Error('uvscope bench --http drives the server with autocannon, which is not installed: npm install --save-dev autocannon');
  }
}

async function drive(autocannon: Autocannon, options: HttpOptions): Promise<HttpResult> {
  const result = (await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
  })) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; p99_9?: number; p999?: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  return {
    requestsPerSec: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyP999Ms: result.latency.p99_9 ?? result.latency.p999 ?? NaN,
    requests: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

async function stopServer(child: ChildProcess, exited: Promise<Exit>): Promise<Exit> {
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  const exit = await exited;
  clearTimeout(timer);
  // The group may outlive its leader (a server started by npm): nothing of it may stay.
  killGroup(child, 'SIGKILL');
  return exit;
}

async function runHttpOnce(command: string[], size: number, round: number, options: HttpOptions, autocannon: Autocannon): Promise<CommandRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-'));
  try {
    const started = performance.now();
    const child = startCommand(command, size, dir, true);
    const exited = waitExit(child, true);
    let failure: string | undefined;
    let result: HttpResult | undefined;
    try {
      await waitUntilAnswering(options.url, options.readyTimeoutMs, exited, command);
      result = await drive(autocannon, options);
    } catch (error) {
      failure = (error as Error).message;
    }
    const exit = await stopServer(child, exited);
    const wallMs = performance.now() - started;
    if (!failure && result && result.requests === 0) failure = 'no request was answered';
    const run = combine({ size, round, ok: failure === undefined, failure, exitCode: exit.code, signal: exit.signal, wallMs }, readProbes(dir));
    return { ...run, http: result };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function summarizeSize(size: number, runs: CommandRun[]): CommandSizeSummary {
  const ok = runs.filter((r) => r.ok);
  const m = (pick: (r: CommandRun) => number) => (ok.length ? median(ok.map(pick)) : NaN);
  const kinds = [...new Set(ok.flatMap((r) => Object.keys(r.requests)))].sort();
  const requests: Record<string, KindSummary> = {};
  for (const kind of kinds) {
    const of = (pick: (k: KindSummary) => number) => median(ok.map((r) => (r.requests[kind] ? pick(r.requests[kind]) : 0)));
    requests[kind] = { count: of((k) => k.count), failed: of((k) => k.failed), p99Ms: of((k) => k.p99Ms) };
  }
  const summary: CommandSizeSummary = {
    size,
    runs,
    okRuns: ok.length,
    wallMs: m((r) => r.wallMs),
    cpuMs: m((r) => r.cpuMs),
    loopUtilization: m((r) => r.loopUtilization),
    loopDelayP99Ms: m((r) => r.loopDelayP99Ms),
    saturationP99Ms: m((r) => r.saturationP99Ms),
    poolRequests: m((r) => Object.values(r.requests).reduce((sum, k) => sum + k.count, 0)),
    requests,
  };
  const pool = medianPool(ok.map((r) => r.pool));
  if (pool) summary.pool = pool;
  if (ok.some((r) => r.http)) {
    const h = (pick: (x: HttpResult) => number) => median(ok.map((r) => pick(r.http!)));
    summary.http = {
      requestsPerSec: h((x) => x.requestsPerSec),
      latencyP50Ms: h((x) => x.latencyP50Ms),
      latencyP99Ms: h((x) => x.latencyP99Ms),
      latencyP999Ms: h((x) => x.latencyP999Ms),
      requests: h((x) => x.requests),
      errors: h((x) => x.errors),
      timeouts: h((x) => x.timeouts),
      non2xx: h((x) => x.non2xx),
    };
  }
  return summary;
}

function pickBest(report: CommandReport): Verdict | undefined {
  const usable = report.sizes.filter((s) => s.okRuns > 0);
  if (usable.length === 0) return undefined;
  const rounds = (pick: (r: CommandRun) => number) => (s: CommandSizeSummary) => s.runs.filter((r) => r.ok).map(pick);
  const candidates = (pick: (r: CommandRun) => number) => usable.map((s) => ({ size: s.size, rounds: rounds(pick)(s), loopDelayP99Ms: s.loopDelayP99Ms, pool: s.pool }));
  if (!report.http) return verdict(candidates((r) => r.wallMs), { name: 'wall time', unit: 'ms', higherIsBetter: false, digits: 1 });
  // At a fixed rate every size serves the same requests/s: latency tells them apart.
  if (report.http.rate !== undefined) {
    return verdict(candidates((r) => r.http!.latencyP99Ms), { name: 'request latency p99', unit: 'ms', higherIsBetter: false, digits: 2 });
  }
  return verdict(candidates((r) => r.http!.requestsPerSec), { name: 'throughput', unit: 'req/s', higherIsBetter: true });
}

const fmt = (v: number | undefined, digits = 2) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
const ratio = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : `${(v * 100).toFixed(1)}%`);

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)];
}

export function renderCommandTable(report: CommandReport): string {
  const http = report.http !== undefined;
  const header = ['size', 'ok', 'wall ms', 'cpu ms'];
  if (http) header.push('req/s', 'p50 ms', 'p99 ms', 'p999 ms', 'errors', 'timeouts');
  header.push('loop util', 'delay p99', 'sat p99', 'pool busy', 'pool runq', 'pool reqs');
  const rows = report.sizes.map((s) => {
    const row = [String(s.size), `${s.okRuns}/${s.runs.length}`, fmt(s.wallMs, 1), fmt(s.cpuMs, 1)];
    if (http) {
      const h = s.http;
      row.push(fmt(h?.requestsPerSec, 0), fmt(h?.latencyP50Ms), fmt(h?.latencyP99Ms), fmt(h?.latencyP999Ms), fmt(h?.errors, 0), fmt(h?.timeouts, 0));
    }
    row.push(ratio(s.loopUtilization), fmt(s.loopDelayP99Ms), fmt(s.saturationP99Ms), ratio(s.pool?.busyRatio), ratio(s.pool?.runQueueRatio), fmt(s.poolRequests, 0));
    return row;
  });
  const lines = [
    `${http ? `${report.http!.url} under load, ` : ''}\`${report.command.join(' ')}\`, medians of ${report.repeat} rounds (times in ms)`,
    ...table(header, rows),
  ];
  const kinds = [...new Set(report.sizes.flatMap((s) => Object.keys(s.requests)))].sort();
  if (kinds.length) {
    lines.push('', 'pool requests by kind: count (failed) p99 ms');
    lines.push(
      ...table(
        ['kind', ...report.sizes.map((s) => `size ${s.size}`)],
        kinds.map((kind) => [
          kind,
          ...report.sizes.map((s) => {
            const k = s.requests[kind];
            return k ? `${k.count.toFixed(0)}${k.failed ? ` (${k.failed.toFixed(0)})` : ''} ${fmt(k.p99Ms)}` : '-';
          }),
        ]),
      ),
    );
  } else {
    lines.push('', 'no pool request was seen (no Node process measured, or none used the pool)');
  }
  for (const s of report.sizes) {
    for (const run of s.runs.filter((r) => !r.ok)) lines.push(`FAILED size ${run.size}, round ${run.round}: ${run.failure}`);
  }
  lines.push('', report.best ? `best size: ${report.best.size} (${report.best.reason})` : 'no size ran successfully');
  return lines.join('\n');
}

export function renderCommandHtml(report: CommandReport): string {
  const sizes = report.sizes.map((s) => s.size);
  const pick = (f: (s: CommandSizeSummary) => number | undefined) => report.sizes.map((s) => f(s) ?? NaN);
  const charts = [];
  if (report.http) {
    charts.push(
      barChart('throughput', 'Requests per second', 'req/s', sizes, [{ name: 'req/s', values: pick((s) => s.http?.requestsPerSec) }]),
      barChart('latency', 'Request latency', 'ms', sizes, [
        { name: 'p50', values: pick((s) => s.http?.latencyP50Ms) },
        { name: 'p99', values: pick((s) => s.http?.latencyP99Ms) },
        { name: 'p99.9', values: pick((s) => s.http?.latencyP999Ms) },
      ]),
    );
  } else {
    charts.push(
      barChart('wall', 'Wall time', 'ms', sizes, [
        { name: 'wall', values: pick((s) => s.wallMs) },
        { name: 'CPU', values: pick((s) => s.cpuMs) },
      ]),
    );
  }
  charts.push(
    barChart('loopUtilization', 'Event loop utilization (busiest process)', '%', sizes, [{ name: 'utilization', values: pick((s) => s.loopUtilization * 100) }]),
    barChart('loopDelay', 'Event loop delay p99', 'ms', sizes, [{ name: 'p99', values: pick((s) => s.loopDelayP99Ms) }]),
    barChart('saturation', 'Pool queue wait of a probe job, p99', 'ms', sizes, [{ name: 'p99', values: pick((s) => s.saturationP99Ms) }]),
  );
  if (report.sizes.some((s) => s.pool)) charts.push(poolChart(sizes, report.sizes.map((s) => s.pool)));
  const kinds = [...new Set(report.sizes.flatMap((s) => Object.keys(s.requests)))].sort();
  if (kinds.length) {
    charts.push(
      barChart('requestLatency', 'Pool request latency p99 by kind', 'ms', sizes, kinds.slice(0, 6).map((kind) => ({ name: kind, values: pick((s) => s.requests[kind]?.p99Ms) }))),
    );
  }
  const title = report.http ? `${report.http.url} served by ${report.command.join(' ')}` : report.command.join(' ');
  return pageHtml(`uvscope bench: ${title}`, `medians of ${report.repeat} rounds; Node ${report.node}, ${report.cpus} CPUs`, renderCommandTable(report), report.best, charts);
}

export async function benchCommandLine(command: string[], sizes: number[], repeat: number, http: HttpOptions | undefined): Promise<CommandReport> {
  const autocannon = http ? loadAutocannon() : undefined;
  const runs = new Map<number, CommandRun[]>(sizes.map((s) => [s, []]));
  const progress = new Progress(sizes.length * repeat, process.stderr);
  for (let round = 1; round <= repeat; round++) {
    for (const size of sizes) {
      progress.step(`round ${round}/${repeat}, UV_THREADPOOL_SIZE=${size}`);
      const run = http ? await runHttpOnce(command, size, round, http, autocannon!) : await runOnce(command, size, round, false);
      if (!run.ok) progress.note(`size ${size}, round ${round} failed: ${run.failure}`);
      runs.get(size)!.push(run);
      // A command that cannot be started will not start at the next size either.
      if (run.exitCode === 127 && run.failure?.startsWith('command not found')) {
        progress.done();
        throw Object.assign(new Error(run.failure), { exitCode: 127 });
      }
    }
  }
  progress.done();
  const report: CommandReport = {
    command,
    ...(http ? { http: { url: http.url, connections: http.connections, durationS: http.durationS, rate: http.rate } } : {}),
    repeat,
    node: process.version,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    sizes: sizes.map((size) => summarizeSize(size, runs.get(size)!)),
    failedRuns: [...runs.values()].flat().filter((r) => !r.ok).length,
  };
  report.best = pickBest(report);
  return report;
}
