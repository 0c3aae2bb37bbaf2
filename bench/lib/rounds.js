'use strict';
/**
 * Rounds of contenders for the benchmarks: the rotated order of each round (so no contender
 * always runs first or last), one contender's run timed with the loop delay measured beside it,
 * and the round loop that logs each round's throughput and delay.
 */
const { monitorEventLoopDelay } = require('node:perf_hooks');

/** Rotates `items` left by `by`: round r runs contenders in rotated order. */
function rotate(items, by) {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/**
 * Times `run()` (which returns a promise) over `mebibytes` of input: wall ms, the ms the call
 * itself blocked the loop, MiB/s, process CPU ms, and monitorEventLoopDelay({ resolution: 1 })
 * p50/p99/max and its sample count (unless `monitor` is false). Resolves with
 * `{ ...numbers, result }`.
 */
async function measureRun(run, { mebibytes, monitor = true, gc = () => {} }) {
  gc();
  const h = monitorEventLoopDelay({ resolution: 1 });
  if (monitor) h.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const running = run();
  const callMs = performance.now() - t0; // the loop is blocked at least this long
  const result = await running;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  h.disable();
  return {
    ms,
    callMs,
    mibPerSecond: mebibytes / (ms / 1000),
    delayP99Ms: h.percentile(99) / 1e6,
    delayP50Ms: h.percentile(50) / 1e6,
    delayMaxMs: h.max / 1e6,
    delaySamples: h.count,
    processCpuMs: (cpu.user + cpu.system) / 1000,
    result,
  };
}

const throughputAndDelay = (m) => `${m.mibPerSecond.toFixed(0)} MiB/s (delay p99 ${m.delayP99Ms.toFixed(2)} ms)`;

/**
 * `rounds` rounds of every contender in rotated order: [{ round, [name]: measure(c) }], each
 * round logged with `describe(measurement)` per contender.
 */
async function runRounds(contenders, rounds, measure, log, describe = throughputAndDelay) {
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const round = { round: r };
    for (const c of rotate(contenders, r)) round[c.name] = await measure(c);
    results.push(round);
    log(
      `  round ${r + 1}/${rounds}: ${contenders
        .map((c) => `${c.name} ${describe(round[c.name])}`)
        .join(', ')}`,
    );
  }
  return results;
}

module.exports = { rotate, measureRun, runRounds };
