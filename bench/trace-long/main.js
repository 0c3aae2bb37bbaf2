'use strict';
/*
 * What does a long `uvscope trace` cost, and is the whole run in its file? `uvscope trace
 * --duration S` runs (a) a busy loop (busy-loop.js: one iteration per setImmediate turn, an
 * fs.stat every 100 turns) and (b) an HTTP server (http-server.js) driven at a fixed rate by a
 * load generator in another process (bench/requests/load-child.js, its steady keep-alive loop).
 * Per run it reports:
 *   - seconds of the run present in the timeline: seconds of the traced main thread's life
 *     overlapped by a loop slice or a window of its track (cat `loop*` slices, and the thread's
 *     `windows` in the uvscope section), of all its seconds;
 *   - file MB per traced minute per busy thread (one busy thread in both: the main thread);
 *   - the traced process's resident memory growth: its peak (VmHWM, read every second and every
 *     10 ms once the CLI stops it) over its VmRSS 2 s after it started; also its peak before the
 *     stop (the run itself, before the trace is built and written);
 *   - beside it, the same growth of the command untraced (`node script`, the same load for the
 *     same time, then SIGINT; skipped with --no-baseline): what Node and the command grow by
 *     themselves, so that traced less untraced is what uvscope adds;
 *   - the CLI's peak resident memory (getrusage maxrss, written at its exit by peak-rss.js);
 *   - seconds from the traced process's exit to the CLI's (the file is complete then);
 *   - whether Chrome DevTools' trace engine parses the file (test/trace/fixtures/trace-engine.mjs).
 * Targets (issue #27): all seconds present, ≤ 10 MB/min/busy thread, growth ≤ 100 MB, CLI ≤
 * 300 MB, ≤ 5 s from exit to file, parsed. Runs are one after the other, not pinned (nothing here
 * compares per-iteration costs); the machine should be otherwise quiet.
 *
 *   node bench/trace-long.js [--minutes N] [--seconds S] [--rate R] [--connections C]
 *                            [--scenarios busy,http] [--keep DIR] [--no-baseline] [--quick]
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const { flag, parseFlags, usageText } = require('../lib/args');
const { runChild } = require('../lib/children');
const { benchMain, requireBuilt, LIB, ROOT } = require('../lib/main');
const { renderTable } = require('../lib/table');

const cli = path.join(LIB, 'cli', 'main.js');
const engine = path.join(ROOT, 'test', 'trace', 'fixtures', 'trace-engine.mjs');
const loadChild = path.join(__dirname, '..', 'requests', 'load-child.js');

const DEFAULTS = { minutes: 10, seconds: 0, rate: 2000, connections: 10, scenarios: ['busy', 'http'], keep: '' };
const QUICK = { seconds: 20 };
const TARGETS = { mbPerMinute: 10, growthMb: 100, cliMb: 300, exitToFileS: 5 };

const FLAGS = {
  '--minutes': flag.int('minutes', 1, 'N', `traced minutes per scenario (default ${DEFAULTS.minutes})`),
  '--seconds': flag.int('seconds', 5, 'S', 'traced seconds per scenario (instead of --minutes)'),
  '--rate': flag.int('rate', 1, 'R', `HTTP requests per second the load generator sends (default ${DEFAULTS.rate})`),
  '--connections': flag.int('connections', 1, 'C', `keep-alive connections of the load generator (default ${DEFAULTS.connections})`),
  '--scenarios': flag.list('scenarios', 'LIST', 'busy, http (default both)'),
  '--keep': flag.string('keep', 'DIR', 'keep the trace files in DIR (default: deleted)'),
  '--no-baseline': flag.on('noBaseline', 'skip the untraced run of each scenario (same load, same time) that the traced growth is read beside'),
  '--quick': flag.on('quick', `smoke test: ${QUICK.seconds} s per scenario (explicit flags win)`),
};
const USAGE = usageText('bench/trace-long.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  const o = { ...DEFAULTS, ...(opts.quick && opts.minutes === undefined ? QUICK : {}), ...opts };
  for (const s of o.scenarios) if (!['busy', 'http'].includes(s)) throw new Error(`--scenarios: unknown scenario '${s}' (busy, http)`);
  return o;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** VmRSS and VmHWM of a live process, KiB; undefined once it is gone or a zombie. */
function memoryKb(pid) {
  let text;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  if (/^State:\s+Z/m.test(text)) return undefined;
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1]);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** Seconds of the traced main thread's life covered by its loop slices and windows (streamed from the file). */
function timelineCoverage(file, pid) {
  const { openTrace } = require(path.join(LIB, 'trace', 'trace-reader.js'));
  const source = openTrace(file);
  const spans = [];
  let startUs = Infinity;
  let endUs = -Infinity;
  let events = 0;
  for (const e of source.events()) {
    events++;
    if (e.pid !== pid || e.tid !== 0 || e.ts === undefined || e.ph === 'M') continue;
    startUs = Math.min(startUs, e.ts);
    endUs = Math.max(endUs, e.ts + (e.dur ?? 0));
    if (e.ph === 'X' && typeof e.cat === 'string' && e.cat.startsWith('loop')) spans.push([e.ts, e.ts + (e.dur ?? 0)]);
  }
  // The quiet stretches kept at reduced resolution (contract 2: ThreadInfo.windows), whatever
  // their exact field names: a start and an end or a duration, in µs or ms.
  const info = source.uvscope?.processes?.find((p) => p.pid === pid)?.threads?.find((t) => t.tid === 0);
  let windows = 0;
  for (const w of Array.isArray(info?.windows) ? info.windows : []) {
    const from = w.startUs ?? w.fromUs ?? (w.startMs !== undefined ? w.startMs * 1000 : undefined);
    const to = w.endUs ?? w.toUs ?? (w.endMs !== undefined ? w.endMs * 1000 : w.durationMs !== undefined && from !== undefined ? from + w.durationMs * 1000 : w.durationUs !== undefined && from !== undefined ? from + w.durationUs : undefined);
    if (from === undefined || to === undefined) continue;
    windows++;
    spans.push([from, to]);
    startUs = Math.min(startUs, from);
    endUs = Math.max(endUs, to);
  }
  if (!Number.isFinite(startUs)) return { seconds: 0, covered: 0, events, windows };
  const seconds = Math.max(1, Math.ceil((endUs - startUs) / 1e6));
  const covered = new Uint8Array(seconds);
  for (const [from, to] of spans) {
    const a = Math.max(0, Math.floor((from - startUs) / 1e6));
    const b = Math.min(seconds - 1, Math.floor((Math.max(from, to - 1e-3) - startUs) / 1e6));
    for (let s = a; s <= b; s++) covered[s] = 1;
  }
  return { seconds, covered: covered.reduce((sum, c) => sum + c, 0), events, windows, layout: source.layout };
}

/** Whether DevTools' trace engine parses the file (in a child), and how long it took. */
function devtoolsParses(file) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--max-old-space-size=4096', engine, file], { cwd: ROOT, encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 30 });
  const seconds = (Date.now() - t0) / 1000;
  if (r.status !== 0) return { parsed: false, seconds, why: (r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`).slice(0, 120) };
  try {
    const result = JSON.parse(r.stdout);
    const threads = result.processes.reduce((sum, p) => sum + p.threads.length, 0);
    return { parsed: threads > 0, seconds, threads, why: threads > 0 ? '' : 'no thread found' };
  } catch (error) {
    return { parsed: false, seconds, why: error.message.slice(0, 120) };
  }
}

/**
 * Samples a process's VmRSS and VmHWM until it is gone: once a second, every 10 ms from 0.5 s
 * before `stopAt` (the write's peak, its exit). `baseKb`: VmRSS 2 s after `startedAt`;
 * `runPeakKb`: VmHWM at the last reading before `stopAt` (the run itself, before its trace is
 * built and written); `peakKb`: VmHWM at the last reading (the write included).
 */
function sampleMemory(pid, startedAt, seconds) {
  const memory = { baseKb: undefined, runPeakKb: 0, peakKb: 0 };
  const stopAt = startedAt + seconds * 1000;
  let exitedAt;
  const sampler = (async () => {
    const readyAt = Date.now();
    for (;;) {
      const now = Date.now();
      const m = memoryKb(pid);
      if (!m) {
        exitedAt = Date.now();
        return;
      }
      // An exiting process's status may lack the memory lines.
      if (Number.isFinite(m.hwm)) {
        memory.peakKb = Math.max(memory.peakKb, m.hwm);
        if (now < stopAt) memory.runPeakKb = memory.peakKb;
      }
      if (memory.baseKb === undefined && now - readyAt >= 2000 && Number.isFinite(m.rss)) memory.baseKb = m.rss;
      await sleep(now - startedAt >= seconds * 1000 - 500 ? 10 : 1000);
    }
  })();
  return { memory, sampler, exited: () => exitedAt };
}

/** Growth figures of a sampled process, MB. */
function growth(memory) {
  const mb = (kb) => kb / 1024;
  const none = memory.baseKb === undefined;
  return {
    growthMb: none ? NaN : mb(memory.peakKb - memory.baseKb),
    runGrowthMb: none ? NaN : mb(memory.runPeakKb - memory.baseKb),
    tracedBaseMb: mb(memory.baseKb),
    tracedPeakMb: mb(memory.peakKb),
  };
}

/** The command's `ready <pid> [<port>]` line on `child`'s stdout; rejects with `why()` when `exited` comes first. */
function readyLine(child, exited, why) {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (c) => {
      text += c;
      const m = /ready (\d+)(?: (\d+))?/.exec(text);
      if (m) resolve({ pid: Number(m[1]), port: m[2] && Number(m[2]) });
    });
    exited.then(() => reject(new Error(why())));
  });
}

/**
 * The same command untraced (plain `node script`), the same load for the same time, then
 * SIGINT: the growth of Node and of the command itself, beside which the traced growth is read.
 */
async function runBaseline(scenario, opts) {
  const seconds = opts.seconds || opts.minutes * 60;
  const script = path.join(__dirname, scenario === 'busy' ? 'busy-loop.js' : 'http-server.js');
  const startedAt = Date.now();
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const ready = await readyLine(child, exit, () => `${scenario}: the untraced command exited before it was ready`);
  child.stdout.resume();
  const { memory, sampler } = sampleMemory(ready.pid, startedAt, seconds);
  const load = scenario === 'http'
    ? runChild(loadChild, { url: `http://127.0.0.1:${ready.port}/`, rate: opts.rate, connections: opts.connections, seconds: Math.max(1, seconds - 2), generator: 'steady' }, { label: 'load' })
    : undefined;
  const stop = setTimeout(() => child.kill('SIGINT'), Math.max(0, startedAt + seconds * 1000 - Date.now()));
  const { code, signal } = await exit;
  clearTimeout(stop);
  await sampler;
  const loadResult = load ? await load : undefined;
  return { scenario, failed: signal === 'SIGINT' ? undefined : `exited with ${code ?? signal}`, seconds, ...growth(memory), load: loadResult };
}

/** One traced run of a scenario. */
async function runScenario(scenario, opts, dir) {
  const seconds = opts.seconds || opts.minutes * 60;
  const out = path.join(dir, `trace-${scenario}.json`);
  const peakFile = path.join(dir, `cli-peak-${scenario}.txt`);
  const script = path.join(__dirname, scenario === 'busy' ? 'busy-loop.js' : 'http-server.js');
  const args = ['--require', path.join(__dirname, 'peak-rss.js'), cli, 'trace', '--duration', String(seconds), '--out', out, '--', script];
  const startedAt = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UVSCOPE_BENCH_PEAK_RSS_FILE: peakFile } });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-20_000)));
  const cliExit = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const ready = await readyLine(child, cliExit, () => `${scenario}: uvscope trace exited before the command was ready: ${stderr.slice(-2000)}`);
  child.stdout.resume();
  const { pid } = ready;
  const { memory, sampler, exited } = sampleMemory(pid, startedAt, seconds);
  let load;
  if (scenario === 'http') {
    load = runChild(loadChild, { url: `http://127.0.0.1:${ready.port}/`, rate: opts.rate, connections: opts.connections, seconds: Math.max(1, seconds - 2), generator: 'steady' }, { label: 'load' });
  }
  const exit = await cliExit;
  await sampler;
  const tracedExitAt = exited();
  const loadResult = load ? await load : undefined;
  // A traced process that does not write its trace within the CLI's escalation (SIGTERM 5 s,
  // SIGKILL 10 s after SIGINT) is killed: the run is reported as failed, with what was measured.
  const failed = exit.code !== 0 ? `uvscope trace exited with ${exit.code ?? exit.signal}` : undefined;
  if (failed) process.stderr.write(`${scenario}: ${failed}: ${stderr.slice(-600)}\n`);
  const bytes = fs.existsSync(out) ? fs.statSync(out).size : 0;
  const cliPeakKb = fs.existsSync(peakFile) ? Number(fs.readFileSync(peakFile, 'utf8')) : NaN;
  const empty = { seconds: 0, covered: 0, events: 0, windows: 0 };
  const coverage = bytes ? timelineCoverage(out, pid) : empty;
  const devtools = bytes ? devtoolsParses(out) : { parsed: false, seconds: 0, why: 'no trace file' };
  const result = {
    scenario,
    failed,
    seconds,
    covered: coverage.covered,
    runSeconds: coverage.seconds,
    windows: coverage.windows,
    events: coverage.events,
    fileMb: bytes / 1e6,
    mbPerMinute: bytes / 1e6 / (seconds / 60),
    ...growth(memory),
    cliPeakMb: cliPeakKb / 1024,
    stopToExitS: tracedExitAt === undefined ? NaN : (tracedExitAt - (startedAt + seconds * 1000)) / 1000,
    exitToFileS: tracedExitAt === undefined ? NaN : (exit.at - tracedExitAt) / 1000,
    devtools,
    load: loadResult,
    summary: stderr.split('\n').filter((l) => /dropped|left out|^trace:|iterations|HTTP requests:/.test(l)).slice(0, 8),
  };
  if (!opts.keep) fs.rmSync(out, { force: true });
  return result;
}

/** The untraced run's growth, with its base and peak. */
function baselineCell(b) {
  if (!b) return '-';
  return `${b.growthMb.toFixed(0)} (${b.tracedBaseMb.toFixed(0)}→${b.tracedPeakMb.toFixed(0)})`;
}

async function run(opts) {
  requireBuilt();
  const dir = opts.keep ? path.resolve(opts.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-long-'));
  fs.mkdirSync(dir, { recursive: true });
  const results = [];
  const baselines = new Map();
  try {
    for (const scenario of opts.scenarios) {
      if (!opts.noBaseline) {
        process.stderr.write(`${scenario}: untraced ${opts.seconds || opts.minutes * 60} s...\n`);
        const b = await runBaseline(scenario, opts);
        baselines.set(scenario, b);
        process.stderr.write(`${scenario} untraced: ${JSON.stringify(b)}\n`);
      }
      process.stderr.write(`${scenario}: tracing ${opts.seconds || opts.minutes * 60} s...\n`);
      const r = await runScenario(scenario, opts, dir);
      results.push(r);
      process.stderr.write(`${scenario}: ${JSON.stringify(r)}\n`);
    }
  } finally {
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  const mark = (ok) => (ok ? '' : ' !');
  console.log(`uvscope trace over a long run: Node ${process.version}, ${os.cpus().length} CPUs; targets: every second present, ≤ ${TARGETS.mbPerMinute} MB/min/busy thread, traced growth ≤ ${TARGETS.growthMb} MB, CLI ≤ ${TARGETS.cliMb} MB, exit→file ≤ ${TARGETS.exitToFileS} s, DevTools parses (! misses a target)`);
  const rows = results.map((r) => [
    r.scenario === 'busy' ? 'busy loop' : `HTTP ${opts.rate} req/s`,
    `${r.seconds}`,
    `${r.covered}/${r.runSeconds}${mark(r.covered >= r.runSeconds)}`,
    `${r.fileMb.toFixed(1)}`,
    `${r.mbPerMinute.toFixed(2)}${mark(r.mbPerMinute <= TARGETS.mbPerMinute)}`,
    `${r.growthMb.toFixed(0)} (${r.tracedBaseMb.toFixed(0)}→${r.tracedPeakMb.toFixed(0)})${mark(r.growthMb <= TARGETS.growthMb)}`,
    `${r.runGrowthMb.toFixed(0)}`,
    baselineCell(baselines.get(r.scenario)),
    baselines.get(r.scenario) ? `${(r.growthMb - baselines.get(r.scenario).growthMb).toFixed(0)}` : '-',
    `${r.cliPeakMb.toFixed(0)}${mark(r.cliPeakMb <= TARGETS.cliMb)}`,
    `${r.stopToExitS.toFixed(2)}`,
    `${r.exitToFileS.toFixed(2)}${mark(r.exitToFileS <= TARGETS.exitToFileS)}`,
    `${r.devtools.parsed ? 'yes' : `no${mark(false)}`} (${r.devtools.seconds.toFixed(0)} s)`,
  ]);
  console.log(renderTable(['run', 's traced', 's in timeline', 'file MB', 'MB/min/thread', 'traced growth MB', 'before stop', 'untraced growth MB', 'uvscope MB', 'CLI peak MB', 'stop→exit s', 'exit→file s', 'DevTools parses'], rows));
  console.log('traced growth: the peak with the trace built and written; before stop: the peak while the run lasted; untraced: the same command, load and time without uvscope (its peak, before stop); uvscope: traced growth less untraced growth');
  for (const r of results) {
    const b = baselines.get(r.scenario);
    if (b?.load) console.log(`${r.scenario} untraced: load ${b.load.generator}: ${b.load.sent} sent, ${b.load.completed} completed, ${b.load.errors} errors, p99 ${b.load.latencyP99Ms?.toFixed(2)} ms`);
    if (b?.failed) console.log(`${r.scenario} untraced: ${b.failed}`);
    if (r.load) console.log(`${r.scenario}: load ${r.load.generator}: ${r.load.sent} sent, ${r.load.completed} completed, ${r.load.errors} errors, p99 ${r.load.latencyP99Ms?.toFixed(2)} ms`);
    if (r.failed) console.log(`${r.scenario}: ${r.failed}`);
    if (!r.devtools.parsed) console.log(`${r.scenario}: DevTools engine: ${r.devtools.why}`);
    for (const line of r.summary) console.log(`${r.scenario}: ${line.trim()}`);
  }
}

benchMain('trace-long', { parse: parseArgs, usage: USAGE, run });
