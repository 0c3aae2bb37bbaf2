'use strict';
// What bench/observer.js prints: each configuration's runs summarized against the same round's
// baseline (configs.js gives targets and references), the stall watchdog issue's targets from
// per-round ratio differences, the per-round table, and the idle-watchdog table. Pure
// functions of the runs; no I/O.

const os = require('node:os');
const statsLib = require('../lib/stats');
const { renderTable, formatNumber, formatRatio, formatDuration } = require('../lib/table');
const { CONFIGS } = require('./configs');

function summarizeRuns(runs, opts) {
  const cpu = statsLib.againstBaseline(runs, opts.configs, 'cpuNsPerTurn');
  const wall = statsLib.againstBaseline(runs, opts.configs, 'wallNsPerTurn');
  const baseCpuOf = new Map(runs.filter((r) => r.config === 'baseline').map((r) => [r.round, r.cpuNsPerTurn]));
  return cpu.map((c, i) => {
    const { config, runs: mine } = c;
    const { target, reference, about } = CONFIGS[config];
    const entry = {
      config,
      about,
      rounds: mine.length,
      cpuNsPerTurn: c.values,
      wallNsPerTurn: wall[i].values,
      extraCpuNsPerTurn: c.extra,
      ratio: {
        medianOfRoundRatios: c.ratio.median,
        ofMedians: c.ratio.ofMedians,
        // Noise on a shared machine only ever adds CPU time: the fastest runs are the least
        // disturbed, so the ratio of the minima is a useful cross-check of the medians.
        ofMinima: c.ratio.ofMinima,
        min: c.ratio.min,
        max: c.ratio.max,
        perRound: c.ratio.perRound,
      },
      wallRatio: { medianOfRoundRatios: wall[i].ratio.median, ofMedians: wall[i].ratio.ofMedians },
      involuntaryCtxSwMedian: statsLib.median(mine.map((r) => r.involuntaryCtxSw)),
    };
    if (target !== undefined) {
      entry.target = target;
      entry.roundsWithinTarget = c.ratio.perRound.filter((r) => r <= target).length;
      entry.meetsTarget = entry.ratio.ofMedians <= target;
    }
    if (reference !== undefined) entry.reference = reference;
    const drains = mine.filter((r) => r.drain);
    if (drains.length) {
      entry.drainCpuNsPerTurn = statsLib.median(drains.map((r) => (r.drain.cpuUs * 1000) / r.turns));
      entry.traceEventsPerTurn = statsLib.median(drains.map((r) => r.traceEvents / r.turns));
      // The same ratio with the CPU time spent inside trace() calls taken out. Not quite
      // "recording alone": garbage collection of the events trace() created partly runs
      // later, outside the calls (the trace-nodrain diagnostic measures recording alone).
      entry.ratioWithoutDrain = statsLib.median(
        drains.map((r) => (r.cpuNsPerTurn - (r.drain.cpuUs * 1000) / r.turns) / baseCpuOf.get(r.round)),
      );
    }
    return entry;
  });
}

/**
 * The stall watchdog issue's targets, from per-round differences of ratios (each ratio against
 * that round's baseline): stats <= datadog, and stats-watchdog - stats <= 0.01.
 */
function compareTargets(summary, runs) {
  const ratioOf = (config, round) => {
    const base = runs.find((r) => r.round === round && r.config === 'baseline');
    const run = runs.find((r) => r.round === round && r.config === config);
    return run && base ? run.cpuNsPerTurn / base.cpuNsPerTurn : NaN;
  };
  const rounds = [...new Set(runs.map((r) => r.round))];
  const has = (config) => summary.some((s) => s.config === config);
  const targets = [];
  const target = (name, a, b, limit) => {
    if (!has(a) || !has(b)) return;
    const diffs = rounds.map((round) => ratioOf(a, round) - ratioOf(b, round));
    const median = statsLib.median(diffs);
    targets.push({
      name, a, b, limit,
      medianDiff: median,
      min: statsLib.min(diffs),
      max: statsLib.max(diffs),
      roundsMet: diffs.filter((d) => d <= limit).length,
      rounds: diffs.length,
      pass: median <= limit,
    });
  };
  target('stats <= datadog', 'stats', 'datadog', 0);
  target('stats-watchdog - stats <= 0.01', 'stats-watchdog', 'stats', 0.01);
  return targets;
}

function watchdogTargetLines(summary, runs) {
  const targets = compareTargets(summary, runs);
  if (!targets.length) return [];
  const sign = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(3)}`;
  return [
    'Targets (stall watchdog issue), per-round ratio differences (a - b, each ratio vs that round\'s baseline):',
    ...targets.map((t) => `  ${t.name.padEnd(32)} ${t.a} - ${t.b}: median ${sign(t.medianDiff)} ` +
      `(range ${sign(t.min)} to ${sign(t.max)}; ${t.roundsMet}/${t.rounds} rounds within) ${t.pass ? 'PASS' : 'FAIL'}`),
  ];
}

function summaryTable(summary) {
  const headers = ['config', 'cpu ns/turn', 'wall ns/turn', '+cpu ns', 'ratio (med)', 'ratio of med', 'range', 'of min', 'target/ref', 'verdict'];
  const rows = summary.map((s) => {
    const isBase = s.config === 'baseline';
    let targetText = '';
    let verdict = '';
    if (s.target !== undefined) {
      targetText = `≤ ${s.target.toFixed(2)}×`;
      verdict = `${s.meetsTarget ? 'meets' : 'OVER'} (${s.roundsWithinTarget}/${s.rounds} rounds ≤)`;
    } else if (s.reference !== undefined) {
      targetText = `ref ${s.reference}`;
    }
    return [
      s.config,
      formatNumber(s.cpuNsPerTurn.median),
      formatNumber(s.wallNsPerTurn.median),
      isBase ? '' : formatNumber(s.extraCpuNsPerTurn),
      isBase ? '' : formatRatio(s.ratio.medianOfRoundRatios),
      isBase ? '' : formatRatio(s.ratio.ofMedians),
      isBase ? '' : `${s.ratio.min.toFixed(3)}-${s.ratio.max.toFixed(3)}`,
      isBase ? '' : formatRatio(s.ratio.ofMinima),
      targetText,
      verdict,
    ];
  });
  return renderTable(headers, rows);
}

function roundsTable(runs, configs) {
  const rounds = [...new Set(runs.map((r) => r.round))];
  const roundRows = rounds.map((round) => {
    const mine = runs.filter((r) => r.round === round);
    const base = mine.find((r) => r.config === 'baseline');
    return [
      String(round + 1),
      base.cpu ?? '-',
      ...configs.map((config) => {
        const r = mine.find((x) => x.config === config);
        return config === 'baseline'
          ? formatNumber(r.cpuNsPerTurn)
          : `${formatNumber(r.cpuNsPerTurn)} (${(r.cpuNsPerTurn / base.cpuNsPerTurn).toFixed(3)})`;
      }),
    ];
  });
  return renderTable(['round', 'cpu', ...configs], roundRows);
}

function report(summary, runs, opts, meta) {
  const out = [];
  out.push(`uvscope LoopObserver overhead: ${formatNumber(opts.turns)} setImmediate turns per run, ` +
    `${opts.rounds} round(s), fresh child per run, warm-up ${formatNumber(opts.warmup)} turns`);
  out.push(`node ${meta.node}, libuv ${meta.uv}, ${meta.cpu}; load average ${meta.loadBefore} before, ${meta.loadAfter} after`);
  out.push(meta.pinningNote);
  out.push('');
  out.push(summaryTable(summary));
  out.push('');
  for (const s of summary) out.push(`  ${s.config.padEnd(16)} ${s.about}`);
  out.push('');
  out.push('cpu = process.cpuUsage() user+system of the child around the chain; medians across rounds.');
  out.push('ratio (med) = median of per-round ratios to that round\'s baseline; ratio of med = median cpu / median baseline cpu;');
  out.push('range = lowest-highest per-round ratio; of min = fastest run / fastest baseline run (least disturbed by other');
  out.push('processes); +cpu ns = median cpu minus median baseline cpu, per turn. Verdicts use the ratio of medians.');
  out.push('Targets (issue): stats ≤ 1.07×, trace ≤ 1.20×. Reference figures measured elsewhere: empty 1.04×, clock pair 1.09-1.10×.');

  out.push(...watchdogTargetLines(summary, runs));

  const traced = summary.filter((s) => s.drainCpuNsPerTurn !== undefined);
  for (const s of traced) {
    out.push(`${s.config}: ${s.traceEventsPerTurn} events/turn, none dropped; trace() drains every ` +
      `${formatNumber(opts.drainEvery)} turns: the trace() calls took ${formatNumber(s.drainCpuNsPerTurn)} cpu ns/turn ` +
      `(${formatRatio(s.ratioWithoutDrain)} without them, GC they cause later still included).`);
  }
  out.push('');
  out.push('per round, cpu ns/turn (ratio to that round\'s baseline); run order rotates each round:');
  out.push(roundsTable(runs, opts.configs));
  out.push('');
  out.push(`total runtime ${formatDuration(meta.totalMs)} (${runs.length} child runs)`);
  if (meta.machine) {
    const m = meta.machine;
    out.push(`other processes used ${m.otherSeconds.toFixed(1)} CPU-s during the run ` +
      `(${(m.otherSeconds / m.wallSeconds).toFixed(2)} CPUs on average of ${os.cpus().length}; ` +
      `${(meta.otherCpusBefore ?? 0).toFixed(2)} just before), hypervisor steal ${m.stealSeconds.toFixed(1)} s` +
      (m.otherSeconds / m.wallSeconds > 0.1 ? ': the machine was not quiet, treat ratios with care' : ''));
  }
  return out.join('\n');
}

function idleReport(idle, opts) {
  const out = [];
  out.push(`StallWatchdog thread (uvscope-wdog) over an idle loop (one ${opts.idleSeconds} s ref'd timer), per minute:`);
  const rows = idle.map((r) => [
    `${r.thresholdMs} ms`,
    r.cpuMsPerMinSchedstat === null ? 'n/a' : r.cpuMsPerMinSchedstat.toFixed(2),
    r.cpuMsPerMinTicks.toFixed(0),
    formatNumber(r.wakeupsPerMin),
    r.processCpuMsPerMin.toFixed(1),
  ]);
  out.push(renderTable(['threshold', 'CPU ms/min (schedstat)', 'utime+stime ms/min', 'wake-ups/min', 'whole process CPU ms/min'], rows));
  out.push('schedstat = the thread\'s run time in ns from /proc/self/task/<tid>/schedstat; utime+stime from its stat file');
  out.push(`counts 10 ms clock ticks, so over ${opts.idleSeconds} s its resolution is ${(600 / opts.idleSeconds).toFixed(0)} ms/min. wake-ups = voluntary context switches.`);
  return out.join('\n');
}

module.exports = { summarizeRuns, compareTargets, report, idleReport };
