'use strict';
/*
 * What do uvscope's features cost per unit of work, in instructions? CPU time cannot tell a few
 * percent here: on these VMs the same process's CPU time per request moves 2-3x between windows
 * (vCPU speed, wake-up cost), and there are no hardware counters (perf stat -e instructions:
 * not supported). valgrind counts the instructions a process executes, the same from run to
 * run up to thread interleaving and garbage collection.
 *
 * For each workload (workloads.js) and configuration, the measured process (another bench's
 * server or loop, unchanged) runs under valgrind's callgrind with instrumentation off: startup
 * and a warm-up of many units are not counted. Then counting goes on (tools.js) for windows of
 * units; Ir per unit = the windows' instructions, less those V8 spent compiling (the inclusive
 * Ir of its compilers, where.js), / their units (every thread: the pool thread doing an
 * fs.stat counts). Why not (Ir(N2) - Ir(N1)) / (N2 - N1) of two whole runs: V8 keeps compiling
 * for thousands of requests (natively, Node 20, this bench's JSON server: 128 functions
 * optimized after 2,000 sequential requests, 152 after 4,000, 160 from 10,000 on) and under
 * valgrind for longer still (after 10,000 requests TurboFan's worker thread still executed
 * 60% of a window's instructions), so the difference of two runs held mostly compilation.
 * Each configuration runs --reps times in fresh processes (the spread says how deterministic
 * it is); the ratio is the feature's median over the baseline's, its range the lowest and
 * highest ratio of any feature run to any baseline run; the verdict compares with the issue's
 * target.
 *
 *   http-json  #25: a node:http server, a small JSON answer per request: the request tracker
 *              with the stall watchdog (requests) against the watchdog alone (watchdog);
 *              target <= 1.03x. (--configs none adds uvscope loaded without a watchdog.)
 *   stat-loop  #26 part 3: fs.stat(file, callback) one at a time: monitorPoolRequests()
 *              (monitor) against no monitor (baseline); target <= 1.05x.
 *   http-file  #26 part 3: a node:http server reading a 16 KiB file per request: monitor
 *              against baseline; target <= 1.03x.
 *
 * The HTTP load comes from load-child.js, a plain node process outside valgrind sending the
 * requests one at a time over one keep-alive connection: each request is a loop wake-up of its
 * own, as at a low fixed rate, and the server's work per request does not depend on how much
 * valgrind slows it (at a fixed rate a slowed server would batch requests into fewer loop
 * iterations).
 *
 * Instructions are user space only: the kernel's work (system calls, wake-ups) is not counted,
 * so a ratio of instructions is larger than the ratio of CPU time (the denominator lacks the
 * kernel's share) as long as the feature adds no system call. Hence the second measurement:
 * each configuration once more under strace -f -c (natively), with the windows run once and
 * twice, system calls per unit by name from the difference (--skip-syscalls leaves it out).
 * Under valgrind V8's JIT and garbage collector work as natively (threads run one at a time),
 * and clock_gettime becomes a system call (valgrind hides the vDSO), so a clock read's user
 * instructions (~100) are not counted.
 *
 * Where the feature's extra instructions go: the functions (callgrind_annotate, exclusive Ir)
 * that gain most per unit, from the first run of each configuration, listed for a workload
 * that misses its target (--where all: every workload, none: no list; where.js).
 *
 *   node bench/instructions.js [--quick] [--workloads a,b] [--configs none] [--reps R]
 *        [--http-plan W,N,...] [--stat-plan W,N,...] [--skip-syscalls] [--where missed|all|none]
 *        [--top K] [--keep DIR] [--json FILE]
 *
 * Sanity checks fail the run: every request answered, the server served exactly those; the
 * watchdog runs where configured; the request tracker is subscribed and holds a probe request
 * in its table (http-json requests) and is absent elsewhere; the monitor counted exactly the
 * fs.stat calls (stat-loop) and at least one fs request per HTTP request (http-file).
 */

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const statsLib = require('../lib/stats');
const { flag, parseFlags, usageText, intArg } = require('../lib/args');
const { benchMain, requireBuilt } = require('../lib/main');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('../lib/table');
const { WORKLOADS } = require('./workloads');
const tools = require('./tools');
const { extraByFunction } = require('./where');

const DEFAULTS = { reps: 2, top: 12, where: 'missed' };
const QUICK = { reps: 1 };
const FILE_BYTES = 16 * 1024;

const FLAGS = {
  '--workloads': flag.list('workloads', 'a,b', `workloads (default all): ${Object.keys(WORKLOADS).join(', ')}`),
  '--configs': flag.list('configs', 'a,b', 'extra configurations beside each workload\'s baseline and feature: none (http-json: no watchdog)'),
  '--reps': flag.int('reps', 1, 'R', `runs per configuration, each a fresh process (default ${DEFAULTS.reps}, --quick ${QUICK.reps})`),
  '--http-plan': flag.list('httpPlan', 'W,N,...', `HTTP runs: W warm-up requests, then counted windows of N requests (default ${planText(WORKLOADS['http-json'].plan)}, --quick ${planText(WORKLOADS['http-json'].quickPlan)})`),
  '--stat-plan': flag.list('statPlan', 'W,N,...', `fs.stat runs: W warm-up calls, then counted windows of N calls (default ${planText(WORKLOADS['stat-loop'].plan)}, --quick ${planText(WORKLOADS['stat-loop'].quickPlan)})`),
  '--skip-syscalls': flag.on('skipSyscalls', 'leave out the strace pass (system calls per unit)'),
  '--where': flag.string('where', 'missed|all|none', 'list the functions the feature\'s extra instructions go to for workloads that miss their target (missed, the default), all, or none'),
  '--top': flag.int('top', 1, 'K', `functions listed by --where (default ${DEFAULTS.top})`),
  '--keep': flag.string('keep', 'DIR', 'write the tools\' output files to DIR and keep them (default: a temporary folder, removed)'),
  '--quick': flag.on('quick', `smoke test: ${QUICK.reps} repetition, short warm-up and windows (explicit flags win)`),
  '--json': flag.string('json', 'FILE', 'also write every run and the summary as JSON'),
};
const USAGE = usageText('bench/instructions.js', FLAGS);

function planText(plan) {
  return [plan.warmup, ...plan.windows].join(',');
}

function planArg(name, list) {
  const [warmup, ...windows] = list.map((v) => intArg(name, v, 0));
  if (!windows.length || windows.some((n) => n < 1)) throw new Error(`${name} needs W,N,...: a warm-up and at least one window of at least one unit`);
  return { warmup, windows };
}

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  const base = { ...DEFAULTS, ...(opts.quick ? QUICK : {}) };
  for (const key of Object.keys(base)) opts[key] ??= base[key];
  opts.workloads ??= Object.keys(WORKLOADS);
  for (const w of opts.workloads) if (!Object.hasOwn(WORKLOADS, w)) throw new Error(`unknown workload ${w}; known: ${Object.keys(WORKLOADS).join(', ')}`);
  opts.configs ??= [];
  const optional = new Set(Object.values(WORKLOADS).flatMap((w) => w.optional));
  for (const c of opts.configs) if (!optional.has(c)) throw new Error(`unknown extra configuration ${c}; known: ${[...optional].join(', ')}`);
  if (!['missed', 'all', 'none'].includes(opts.where)) throw new Error('--where takes missed, all or none');
  opts.httpPlan = opts.httpPlan ? planArg('--http-plan', opts.httpPlan) : null;
  opts.statPlan = opts.statPlan ? planArg('--stat-plan', opts.statPlan) : null;
  return opts;
}

/** The plan of `name`'s runs under these options. */
function planOf(name, opts) {
  const given = name === 'stat-loop' ? opts.statPlan : opts.httpPlan;
  return given ?? (opts.quick ? WORKLOADS[name].quickPlan : WORKLOADS[name].plan);
}

/** The configurations `name` runs: the extra ones it knows, baseline, feature. */
function configsOf(name, opts) {
  const w = WORKLOADS[name];
  return [...w.optional.filter((c) => opts.configs.includes(c)), w.baseline, w.feature];
}

const log = (line) => process.stderr.write(`${line}\n`);

async function run(opts) {
  requireBuilt();
  for (const command of ['valgrind', 'callgrind_control', 'callgrind_annotate', ...(opts.skipSyscalls ? [] : ['strace'])]) {
    if (!tools.available(command)) throw new Error(`${command} is not installed (apt-get install ${command === 'callgrind_annotate' ? 'valgrind' : command})`);
  }
  const onSignal = () => {
    tools.killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = Date.now();
  const dir = opts.keep ? path.resolve(opts.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-bench-instructions-'));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'payload.bin');
  fs.writeFileSync(file, require('node:crypto').randomBytes(FILE_BYTES));
  const ctx = { dir, file };
  const valgrindVersion = require('node:child_process').spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).stdout.trim();
  const meta = { date: new Date().toISOString(), node: process.version, uv: process.versions.uv, valgrind: valgrindVersion, cpus: os.cpus().length };
  const results = {};
  try {
    for (const name of opts.workloads) {
      const w = WORKLOADS[name];
      const plan = planOf(name, opts);
      const units = plan.windows.reduce((a, b) => a + b, 0);
      const configs = configsOf(name, opts);
      const r = (results[name] = { plan, configs, instructions: {}, syscalls: {}, checks: {} });
      for (let rep = 0; rep < opts.reps; rep++) {
        for (const config of rep % 2 ? [...configs].reverse() : configs) {
          const t0 = Date.now();
          const result = await w.run(config, plan, 'callgrind', { ...ctx, tag: `r${rep}` });
          const ir = result.windows.reduce((a, x) => a + x.ir, 0);
          const compileIr = result.windows.reduce((a, x) => a + x.compileIr, 0);
          const perUnit = (ir - compileIr) / units;
          (r.instructions[config] ??= []).push({
            perUnit,
            perUnitWithCompilation: ir / units,
            windows: result.windows.map((x) => ({ units: x.units, ir: x.ir, compileIr: x.compileIr, perUnit: (x.ir - x.compileIr) / x.units })),
            files: result.windows.map((x) => x.file),
            ms: Date.now() - t0,
          });
          r.checks[config] = result.checks;
          log(`${name.padEnd(10)} ${config.padEnd(9)} rep ${rep + 1}/${opts.reps}: ${formatNumber(perUnit)} Ir/${w.unit} without compiling, ${formatNumber(ir / units)} with (windows: ${result.windows.map((x) => formatNumber((x.ir - x.compileIr) / x.units)).join(', ')}; ${formatDuration(Date.now() - t0)})`);
        }
      }
      if (!opts.skipSyscalls) {
        // Natively, the windows once and twice: the difference is the windows' system calls.
        const twice = { warmup: plan.warmup, windows: [...plan.windows, ...plan.windows] };
        for (const config of configs) {
          const once = await w.run(config, plan, 'strace', { ...ctx, tag: 'strace1' });
          const more = await w.run(config, twice, 'strace', { ...ctx, tag: 'strace2' });
          const names = new Set([...Object.keys(once.byName), ...Object.keys(more.byName)]);
          const byName = Object.fromEntries([...names].map((n) => [n, ((more.byName[n] ?? 0) - (once.byName[n] ?? 0)) / units]));
          r.syscalls[config] = { perUnit: (more.total - once.total) / units, byName };
          log(`${name.padEnd(10)} ${config.padEnd(9)} strace: ${r.syscalls[config].perUnit.toFixed(2)} system calls/${w.unit}`);
        }
      }
      summarizeWorkload(name, r);
      if (opts.where === 'all' || (opts.where === 'missed' && !r.met)) {
        const first = (config) => ({ files: r.instructions[config][0].files, units });
        r.where = extraByFunction({ baseline: first(w.baseline), feature: first(w.feature) });
      }
      for (const reps of Object.values(r.instructions)) for (const x of reps) delete x.files;
    }
  } finally {
    tools.killAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (!opts.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
  meta.totalMs = Date.now() - started;
  process.stdout.write(`${report(results, meta, opts)}\n`);
  if (opts.json) {
    const { help, ...options } = opts;
    fs.writeFileSync(opts.json, `${JSON.stringify({ meta, options, results }, null, 2)}\n`);
    log(`raw data written to ${opts.json}`);
  }
}

/** Per configuration: median, range and spread of Ir per unit; the feature's ratio and verdict. */
function summarizeWorkload(name, r) {
  const w = WORKLOADS[name];
  r.summary = Object.fromEntries(Object.entries(r.instructions).map(([config, reps]) => [config, statsLib.summarize(reps.map((x) => x.perUnit))]));
  r.withCompilation = Object.fromEntries(Object.entries(r.instructions).map(([config, reps]) => [config, statsLib.median(reps.map((x) => x.perUnitWithCompilation))]));
  const base = r.summary[w.baseline];
  const feat = r.summary[w.feature];
  r.ratio = { median: feat.median / base.median, min: feat.min / base.max, max: feat.max / base.min };
  r.extraPerUnit = feat.median - base.median;
  r.met = r.ratio.median <= w.target;
  r.verdict = r.ratio.max <= w.target ? 'met' : r.ratio.min > w.target ? 'missed' : r.met ? 'met (the range reaches past the target)' : 'missed (the range reaches below the target)';
}

function report(results, meta, opts) {
  const out = [`uvscope instructions per unit of work: node ${meta.node}, libuv ${meta.uv}, ${meta.valgrind} (callgrind, instrumentation on for the counted windows only); ${meta.date}`, ''];
  const rows = [];
  for (const [name, r] of Object.entries(results)) {
    const w = WORKLOADS[name];
    for (const config of r.configs) {
      const s = r.summary[config];
      const isFeature = config === w.feature;
      const sys = r.syscalls[config];
      rows.push([
        config === r.configs[0] ? name : '',
        config === r.configs[0] ? w.issue : '',
        config,
        formatNumber(s.median),
        `${formatNumber(s.min)}-${formatNumber(s.max)}`,
        `${(s.spread * 100).toFixed(2)}%`,
        isFeature ? `${r.extraPerUnit >= 0 ? '+' : ''}${formatNumber(r.extraPerUnit)}` : '',
        isFeature ? formatRatio(r.ratio.median) : config !== w.baseline ? formatRatio(s.median / r.summary[w.baseline].median) : '',
        isFeature ? `${r.ratio.min.toFixed(3)}-${r.ratio.max.toFixed(3)}` : '',
        isFeature ? `<= ${w.target.toFixed(2)}x: ${r.verdict}` : '',
        formatNumber(r.withCompilation[config]),
        sys ? sys.perUnit.toFixed(2) : '',
      ]);
    }
  }
  out.push(renderTable(['workload', 'issue', 'config', 'Ir/unit', 'range', 'spread', '+Ir', 'ratio', 'ratio range', 'target', 'with compiling', 'syscalls/unit'], rows));
  out.push('');
  for (const [name, r] of Object.entries(results)) {
    const w = WORKLOADS[name];
    out.push(`${name}: ${w.what}; unit: one ${w.unit}; each run: ${formatNumber(r.plan.warmup)} uncounted, then ${r.plan.windows.length} counted window(s) of ${r.plan.windows.map((n) => formatNumber(n)).join(', ')}; ${opts.reps} run(s) per configuration`);
    // Window by window: a ratio that drifts from the first window to the last says the code was
    // still changing (tier-up) while counted.
    const windowMedian = (config, i) => statsLib.median(r.instructions[config].map((x) => x.windows[i].perUnit));
    const windowRatios = r.plan.windows.map((_, i) => windowMedian(w.feature, i) / windowMedian(w.baseline, i));
    out.push(`  per window (median over runs): ${w.baseline} ${r.plan.windows.map((_, i) => formatNumber(windowMedian(w.baseline, i))).join(', ')}; ` +
      `${w.feature} ${r.plan.windows.map((_, i) => formatNumber(windowMedian(w.feature, i))).join(', ')}; ratios ${windowRatios.map((x) => formatRatio(x)).join(', ')}`);
    const checks = r.checks[w.feature];
    if (checks && Object.keys(checks).length) out.push(`  ${w.feature} checks (last run): ${JSON.stringify(checks)}`);
    const counted = Object.entries(r.checks).filter(([, x]) => x.stallsWhileCounted > 0);
    if (counted.length) out.push(`  stall reports while counting, last run (their instructions are in the figures): ${counted.map(([c, x]) => `${c} ${x.stallsWhileCounted}`).join(', ')}`);
    if (Object.keys(r.syscalls).length) {
      const base = r.syscalls[w.baseline];
      const feat = r.syscalls[w.feature];
      const names = new Set([...Object.keys(base.byName), ...Object.keys(feat.byName)]);
      const differ = [...names]
        .map((n) => ({ n, d: (feat.byName[n] ?? 0) - (base.byName[n] ?? 0) }))
        .filter(({ d }) => Math.abs(d) >= 0.05)
        .sort((a, b) => Math.abs(b.d) - Math.abs(a.d));
      out.push(`  system calls per ${w.unit}, ${w.feature} minus ${w.baseline}: ${(feat.perUnit - base.perUnit).toFixed(2)}` +
        (differ.length ? ` (${differ.map(({ n, d }) => `${n} ${d >= 0 ? '+' : ''}${d.toFixed(2)}`).join(', ')})` : ' (no system call differs by 0.05 per unit or more)'));
    }
    if (r.where) {
      const total = r.where.reduce((a, x) => a + x.extra, 0);
      out.push(`  where ${w.feature}'s extra instructions per ${w.unit} go (callgrind_annotate, exclusive Ir, first run of each; TurboFan's functions left out; sum over the rest ${formatNumber(total)}):`);
      out.push(renderTable(['  function [object]', `${w.baseline} Ir/unit`, `${w.feature} Ir/unit`, 'extra'],
        r.where.slice(0, opts.top).map((x) => [`  ${x.name.length > 110 ? `${x.name.slice(0, 107)}...` : x.name}`, formatNumber(x.baseline), formatNumber(x.feature), `${x.extra >= 0 ? '+' : ''}${formatNumber(x.extra)}`])));
    }
  }
  out.push('');
  if (opts.quick) out.push('--quick: short warm-up and windows, one run each: the code is still being optimized while counted, so these figures and verdicts only show that the bench works.');
  out.push('Ir/unit = user-space instructions of every thread of the measured process in the counted windows (after startup and warm-up, not counted), less those V8 spent compiling (inclusive Ir of its compilers: under valgrind V8 is still optimizing long after the point where it stops natively), / their units; median over runs, range lowest-highest, spread (max - min) / median. with compiling: the median without that subtraction.');
  out.push('ratio = feature median / baseline median; ratio range = lowest feature / highest baseline .. highest feature / lowest baseline.');
  out.push('Kernel work is not in Ir: with no extra system call, the CPU-time ratio is at most the instruction ratio. syscalls/unit: strace -f -c, natively, (windows run twice - once) / units.');
  out.push(`total ${formatDuration(meta.totalMs)}`);
  return out.join('\n');
}

benchMain('instructions', { parse: parseArgs, usage: USAGE, run });
