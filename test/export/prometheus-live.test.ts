/**
 * The exporters against a real Prometheus server (Debian's `prometheus`, which .ci/run
 * installs): three processes of test/export/fixtures/metrics-app.js with the same steady workload, two
 * exporting through `uvscope/prometheus`, one through `@opentelemetry/exporter-prometheus` with
 * uvscope's UvMetricProducer, scraped every second by a server this file starts on a loopback
 * port with a generated config and a temporary TSDB. PromQL over the server's HTTP API must
 * agree with what each process measured itself (its own LoopObserver and its own count of
 * settled job promises, the spin load it put on the pool threads and its own reading of their
 * schedstat) over the same stretch of time, and every expression of dashboards/uvscope.json
 * must return data.
 *
 * Skipped, saying why, where the prometheus binary is not installed, and under the sanitizer
 * run (`npm run test:asan` sets UVSCOPE_SANITIZER): it exercises exporters written in
 * TypeScript over the same native read-out the rest of the suite covers, and takes ~15 s.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { DEFAULT_LOOP_BUCKETS } from '../../src/prometheus';
import { parsePoolSize } from '../../src/threadpool/size';
import { withoutSanitizer } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const APP = path.join(ROOT, 'test', 'export', 'fixtures', 'metrics-app.js');

function prometheusBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const BINARY = prometheusBinary();
const SKIP = process.env.UVSCOPE_SANITIZER
  ? `the sanitizer run (UVSCOPE_SANITIZER=${process.env.UVSCOPE_SANITIZER}): runs once per CI, in npm test and the Node matrix`
  : BINARY === undefined
    ? 'no prometheus binary on PATH (apt-get install -y --no-install-recommends prometheus)'
    : undefined;
if (SKIP) console.warn(`test/export/prometheus-live.test.ts skipped: ${SKIP}`);
const describeLive = SKIP ? describe.skip : describe;

/** Stretch of time each process measures itself and Prometheus' rate() covers, ms. */
const WINDOW_MS = 6000;

interface App {
  name: string;
  mode: 'prometheus' | 'opentelemetry';
  child: ChildProcess;
  port: number;
}

interface Observed {
  sinceMark: number;
  settledJobs: number;
  /** Pool-thread time of the spins the app settled: each kept its thread runnable its whole 2 ms. */
  spinSeconds: number;
  /** The pool threads' CPU plus run-queue time over the stretch, read by the app from schedstat. */
  poolThreadSeconds: number;
  loop: { iterations: number; iteration: { count: number; p99: number } };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function startApp(name: string, mode: App['mode']): Promise<App> {
  const child = spawn(process.execPath, [APP, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return { name, mode, child, port };
}

async function appRequest<T>(app: App, route: string, method = 'GET'): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${app.port}${route}`, { method });
  if (!response.ok) throw new Error(`${app.name} ${route}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

let prometheusUrl = '';

async function api<T>(route: string, params: Record<string, string>): Promise<T> {
  const url = `${prometheusUrl}/api/v1/${route}?${new URLSearchParams(params)}`;
  const response = await fetch(url);
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error}`);
  return body.data;
}

/** An instant PromQL query evaluated at `time` (seconds); the vector's samples. */
async function query(expr: string, time: number): Promise<VectorSample[]> {
  const data = await api<{ resultType: string; result: VectorSample[] }>('query', { query: expr, time: time.toFixed(3) });
  if (data.resultType !== 'vector') throw new Error(`${expr}: a ${data.resultType}, not a vector`);
  return data.result;
}

async function scalar(expr: string, time: number): Promise<number> {
  const result = await query(expr, time);
  if (result.length !== 1) throw new Error(`${expr}: ${result.length} samples`);
  return Number(result[0].value[1]);
}

/** Polls `check` until it returns true (Prometheus has no push notification for scrapes). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * The Prometheus bucket (default loop bounds, seconds) that holds the quantile of values whose
 * own quantile is `seconds`: [its lower bound, its upper bound]. A native bucket straddling a
 * bound counts with the values above it (at most 1/64 of the bound), hence `stretch`.
 */
function bucketAround(seconds: number, stretch = 1): [number, number] {
  const bounds = [0, ...DEFAULT_LOOP_BUCKETS, Infinity];
  const upper = bounds.findIndex((b) => b >= seconds * stretch);
  const lower = bounds.findIndex((b) => b >= seconds);
  return [bounds[Math.max(0, lower - 1)], bounds[upper]];
}

/** `promql` within 15% of `own`; the message names both. */
function expectNear(what: string, promql: number, own: number): void {
  expect({ what, promql, own, within15Percent: Math.abs(promql / own - 1) < 0.15 }).toEqual({ what, promql, own, within15Percent: true });
}

describeLive('a real Prometheus server scraping uvscope (live)', () => {
  const apps: App[] = [];
  let server: ChildProcess | undefined;
  let dir = '';
  // Filled in beforeAll: the stretch measured and what each app saw over it.
  let t1 = 0;
  const observed = new Map<string, Observed>();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-prometheus-'));
    apps.push(
      ...(await Promise.all([
        startApp('prom-a', 'prometheus'),
        startApp('prom-b', 'prometheus'),
        startApp('otel', 'opentelemetry'),
      ])),
    );
    const port = await freePort();
    const target = (app: App) => `'127.0.0.1:${app.port}'`;
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 900ms',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: uvscope-prometheus',
        `    static_configs: [{ targets: [${apps.filter((a) => a.mode === 'prometheus').map(target).join(', ')}] }]`,
        '  - job_name: uvscope-opentelemetry',
        `    static_configs: [{ targets: [${apps.filter((a) => a.mode === 'opentelemetry').map(target).join(', ')}] }]`,
        '',
      ].join('\n'),
    );
    server = spawn(
      BINARY!,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=error',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], env: withoutSanitizer() },
    );
    prometheusUrl = `http://127.0.0.1:${port}`;
    await until('prometheus to be ready', async () => (await fetch(`${prometheusUrl}/-/ready`)).ok);
    await until('every target scraped and up', async () => {
      const up = await query('up', Date.now() / 1000);
      return up.length === apps.length && up.every((s) => s.value[1] === '1');
    });

    // The stretch: each app restarts its own measurement, the test waits, each app reports.
    await Promise.all(apps.map((app) => appRequest(app, '/mark', 'POST')));
    await sleep(WINDOW_MS);
    t1 = Date.now() / 1000;
    const reports = await Promise.all(apps.map((app) => appRequest<Observed>(app, '/observed')));
    apps.forEach((app, i) => observed.set(app.name, reports[i]));
    // Until every target has been scraped after t1.
    await until('a scrape of every target after the stretch', async () => {
      const last = await query('timestamp(up)', Date.now() / 1000);
      return last.length === apps.length && last.every((s) => Number(s.value[1]) >= t1);
    });
  }, 60_000);

  afterAll(async () => {
    const exits = [...apps.map((a) => a.child), ...(server ? [server] : [])].map(
      (child) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve()))),
    );
    for (const app of apps) app.child.kill('SIGTERM');
    server?.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const child of [...apps.map((a) => a.child), server]) child?.kill('SIGKILL');
    }, 5000);
    await Promise.all(exits);
    clearTimeout(killer);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const instance = (name: string) => `127.0.0.1:${apps.find((a) => a.name === name)!.port}`;
  const range = () => `${Math.round(observed.get('prom-a')!.sinceMark)}ms`;

  test('the scraped series are consistent: one read-out per scrape (exact)', async () => {
    // _count, the +Inf bucket and the iteration counter come from the same read-out.
    for (const name of ['prom-a', 'prom-b']) {
      const sel = `{instance="${instance(name)}"}`;
      const count = await scalar(`uvscope_eventloop_iteration_seconds_count${sel}`, t1);
      expect(count).toBeGreaterThan(0);
      expect(await scalar(`uvscope_eventloop_iteration_seconds_bucket{instance="${instance(name)}", le="+Inf"}`, t1)).toBe(count);
      expect(await scalar(`uvscope_eventloop_iterations_total${sel}`, t1)).toBe(count);
      // Cumulative buckets never decrease with le.
      const buckets = (await query(`uvscope_eventloop_iteration_seconds_bucket${sel}`, t1))
        .map((s) => [s.metric.le === '+Inf' ? Infinity : Number(s.metric.le), Number(s.value[1])])
        .sort((a, b) => a[0] - b[0]);
      expect(buckets).toHaveLength(DEFAULT_LOOP_BUCKETS.length + 1);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i][1]).toBeGreaterThanOrEqual(buckets[i - 1][1]);
    }
    const otel = `{instance="${instance('otel')}"}`;
    const otelCount = await scalar(`uvscope_eventloop_iteration_duration_count${otel}`, t1);
    expect(await scalar(`uvscope_eventloop_iteration_duration_bucket{instance="${instance('otel')}", le="+Inf"}`, t1)).toBe(otelCount);
    expect(await scalar(`uvscope_eventloop_iterations_total${otel}`, t1)).toBe(otelCount);
  });

  test('rate() of jobs and iterations agrees with what each process counted itself (within 15%)', async () => {
    // Tolerance: rate() extrapolates the increase between the first and last scrape inside the
    // range (1 s apart) to the range's edges from their average slope, while each process
    // counted exactly over the stretch; a 15 ms timer on a shared machine does not fire at a
    // perfectly even pace, so the two differ by a few percent.
    const seconds = (o: Observed) => o.sinceMark / 1000;
    let fleetJobs = 0;
    let fleetIterations = 0;
    for (const app of apps) {
      const own = observed.get(app.name)!;
      const jobsPerSecond = own.settledJobs / seconds(own);
      const iterationsPerSecond = own.loop.iterations / seconds(own);
      fleetJobs += jobsPerSecond;
      fleetIterations += iterationsPerSecond;
      expect(jobsPerSecond).toBeGreaterThan(20); // the workload ran
      const sel = `{instance="${instance(app.name)}"}`;
      const jobs = await scalar(`sum(rate(uvscope_threadpool_jobs_total${sel}[${range()}]))`, t1);
      expectNear(`${app.name} jobs/s`, jobs, jobsPerSecond);
      const iterations = await scalar(`sum(rate(uvscope_eventloop_iterations_total${sel}[${range()}]))`, t1);
      expectNear(`${app.name} iterations/s`, iterations, iterationsPerSecond);
    }
    const jobs = await scalar(`sum(rate(uvscope_threadpool_jobs_total[${range()}]))`, t1);
    expectNear('fleet jobs/s', jobs, fleetJobs);
    const iterations = await scalar(`sum(rate(uvscope_eventloop_iterations_total[${range()}]))`, t1);
    expectNear('fleet iterations/s', iterations, fleetIterations);
  });

  test('pool threads: rate() of CPU plus run-queue time agrees with each process\'s own schedstat reading and holds its spin load; no reset, every thread observed', async () => {
    // Tolerance: 15% as above (rate() extrapolates). The load is a lower bound only: every
    // other job's thread time (hashes, probes, the wake-up of a thread from idle) adds to it.
    const names = {
      prometheus: ['uvscope_threadpool_thread_cpu_seconds_total', 'uvscope_threadpool_thread_run_queue_wait_seconds_total'],
      opentelemetry: ['uvscope_threadpool_thread_cpu_time_total', 'uvscope_threadpool_thread_run_queue_wait_total'],
    };
    const size = parsePoolSize(process.env.UV_THREADPOOL_SIZE);
    let fleetOwn = 0;
    for (const app of apps) {
      const own = observed.get(app.name)!;
      const seconds = own.sinceMark / 1000;
      const sel = `{instance="${instance(app.name)}"}`;
      const [cpu, wait] = names[app.mode];
      const promql = await scalar(`sum(rate(${cpu}${sel}[${range()}])) + sum(rate(${wait}${sel}[${range()}]))`, t1);
      expect(own.spinSeconds / seconds).toBeGreaterThan(0.05); // the load ran
      expectNear(`${app.name} pool thread s/s`, promql, own.poolThreadSeconds / seconds);
      expect({ app: app.name, promql, load: own.spinSeconds / seconds, holdsLoad: promql >= 0.85 * (own.spinSeconds / seconds) })
        .toEqual({ app: app.name, promql, load: own.spinSeconds / seconds, holdsLoad: true });
      // Monotonic over the whole run, as Prometheus saw it.
      for (const counter of [cpu, wait]) expect([counter, await scalar(`resets(${counter}${sel}[1m])`, t1)]).toEqual([counter, 0]);
      expect(await scalar(`uvscope_threadpool_threads_observed${sel}`, t1)).toBe(size);
      // The busy ratio of docs/metrics.md: a share of the pool, at most 1.
      const busy = await scalar(`sum(rate(${cpu}${sel}[${range()}])) / sum(uvscope_threadpool_threads_observed${sel})`, t1);
      expect(busy).toBeGreaterThan(0);
      expect(busy).toBeLessThanOrEqual(1);
      if (app.mode === 'prometheus') fleetOwn += own.poolThreadSeconds / seconds;
    }
    const [cpu, wait] = names.prometheus;
    const fleet = await scalar(`sum(rate(${cpu}[${range()}])) + sum(rate(${wait}[${range()}]))`, t1);
    expectNear('fleet pool thread s/s', fleet, fleetOwn);
  });

  test('histogram_quantile() of the iteration histograms lands in the bucket of each process\'s own p99', async () => {
    // Tolerance: histogram_quantile() interpolates linearly inside the bucket that holds the
    // quantile, so it can only say which bucket (10-25 ms for this workload's 15 ms turns); a
    // native bucket straddling a bound counts above it (up to 1/64 of the bound).
    const ownP99 = (name: string) => observed.get(name)!.loop.iteration.p99 / 1e9;
    const perInstance: [string, string][] = [
      ['prom-a', 'uvscope_eventloop_iteration_seconds_bucket'],
      ['prom-b', 'uvscope_eventloop_iteration_seconds_bucket'],
      ['otel', 'uvscope_eventloop_iteration_duration_bucket'],
    ];
    for (const [name, metric] of perInstance) {
      const p99 = await scalar(
        `histogram_quantile(0.99, sum by (le) (rate(${metric}{instance="${instance(name)}"}[${range()}])))`, t1);
      const [low, high] = bucketAround(ownP99(name), 64 / 63);
      expect({ name, own: ownP99(name), p99 }).toEqual({ name, own: ownP99(name), p99: expect.any(Number) });
      expect([name, low <= p99 && p99 <= high]).toEqual([name, true]);
    }
    // The fleet's p99 lies between the processes' own p99s (a mixture's quantile does).
    const fleet = await scalar(`histogram_quantile(0.99, sum by (le) (rate(uvscope_eventloop_iteration_seconds_bucket[${range()}])))`, t1);
    const [low] = bucketAround(Math.min(ownP99('prom-a'), ownP99('prom-b')));
    const [, high] = bucketAround(Math.max(ownP99('prom-a'), ownP99('prom-b')), 64 / 63);
    expect(fleet).toBeGreaterThanOrEqual(low);
    expect(fleet).toBeLessThanOrEqual(high);
  });

  test('every expression of dashboards/uvscope.json returns data', async () => {
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'dashboards', 'uvscope.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[]; panels?: unknown[] }[];
      templating: { list: { name: string; type: string; definition?: string }[] };
    };
    const substitute = (expr: string) =>
      expr.replaceAll('$__rate_interval', range()).replaceAll('$job', '.*').replaceAll('$instance', '.*');
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((t) => [panel.title, t.expr] as const));
    expect(exprs.length).toBeGreaterThanOrEqual(20);
    for (const [title, expr] of exprs) {
      const result = await query(substitute(expr), t1);
      const values = result.map((s) => Number(s.value[1])).filter((v) => Number.isFinite(v));
      expect({ title, expr, samples: values.length > 0 }).toEqual({ title, expr, samples: true });
    }
    // The template variables: label_values(metric{selector}, label) is Grafana's, answered by
    // Prometheus' label values API.
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      const m = /^label_values\((.+), (\w+)\)$/.exec(variable.definition ?? '');
      expect(m).not.toBeNull();
      const values = await api<string[]>(`label/${m![2]}/values`, { 'match[]': substitute(m![1]) });
      expect({ variable: variable.name, values: values.length > 0 }).toEqual({ variable: variable.name, values: true });
    }
  });
});
