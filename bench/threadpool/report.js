'use strict';
// The tables and ratios of bench/threadpool.js, one function per section, from what the
// section's child answered: medians across rounds, ratios taken within a round (medians of the
// per-round ratios), spread = (max - min) / median across rounds. Pure functions; no I/O.

const { median, medians, spread } = require('../lib/stats');
const { renderTable, formatNumber, formatRatio, formatPercent: pct } = require('../lib/table');

/**
 * { [contender]: its medians of `keys` across rounds, extra(per) (keys computed otherwise), and
 * the spread of `spreadKey` } where perOf(name) gives the contender's numbers of each round.
 */
function byContender(contenders, perOf, keys, spreadKey, extra = () => ({})) {
  return Object.fromEntries(contenders.map(({ name }) => {
    const per = perOf(name);
    return [name, { ...medians(per, keys), ...extra(name), spread: spread(per.map((p) => p[spreadKey])) }];
  }));
}

/** (a) and (b): per contender, latency and CPU per job, jobs/s, each against the raw yardstick. */
function summarizeRoundTrip(data) {
  const names = data.contenders.map((c) => c.name);
  const rows = [];
  const seq = byContender(data.contenders, (name) => data.rounds.map((r) => r.sequential[name]),
    ['medianUs', 'p99Us', 'meanUs', 'mainCpuUsPerJob', 'otherCpuUsPerJob'], 'medianUs');
  const ratio = (name, key) => median(data.rounds.map((r) => r.sequential[name][key] / r.sequential.raw[key]));
  for (const c of data.contenders) {
    const s = seq[c.name];
    rows.push([
      c.label,
      s.medianUs.toFixed(2),
      s.p99Us.toFixed(1),
      s.meanUs.toFixed(2),
      s.mainCpuUsPerJob.toFixed(2),
      s.otherCpuUsPerJob.toFixed(2),
      pct(s.spread),
      c.name === 'raw' ? '1.000×' : formatRatio(ratio(c.name, 'medianUs')),
      c.name === 'raw' ? '1.000×' : formatRatio(ratio(c.name, 'p99Us')),
    ]);
  }
  const burstOf = (name) => data.rounds.map((r) => r.burst[name]);
  const burst = byContender(data.contenders, burstOf, ['jobsPerSecond', 'mainCpuUsPerJob', 'otherCpuUsPerJob'], 'jobsPerSecond');
  const burstRows = [];
  for (const c of data.contenders) {
    const r = median(data.rounds.map((round) => round.burst[c.name].jobsPerSecond / round.burst.raw.jobsPerSecond));
    burstRows.push([
      c.label,
      formatNumber(burst[c.name].jobsPerSecond),
      median(burstOf(c.name).map((p) => p.medianMs)).toFixed(1),
      burst[c.name].mainCpuUsPerJob.toFixed(3),
      burst[c.name].otherCpuUsPerJob.toFixed(3),
      pct(burst[c.name].spread),
      c.name === 'raw' ? '1.000×' : formatRatio(r),
    ]);
  }
  const rtRatio = ratio('uvscope', 'medianUs');
  const burstRatio = median(data.rounds.map((r) => r.burst.uvscope.jobsPerSecond / r.burst.raw.jobsPerSecond));
  return {
    names,
    seq,
    burst,
    rtRatio,
    rtP99Ratio: ratio('uvscope', 'p99Us'),
    burstRatio,
    seqTable: renderTable(
      ['contender', 'median µs', 'p99 µs', 'mean µs', 'main CPU µs/job', 'pool+other CPU µs/job', 'spread', 'median ratio', 'p99 ratio'],
      rows,
    ),
    burstTable: renderTable(['contender', 'jobs/s', 'burst ms', 'main CPU µs/job', 'pool+other CPU µs/job', 'spread', 'ratio'], burstRows),
  };
}

/** A cell of the loop-delay columns: off (no monitor ran), no sample (the loop never turned), or ms. */
function delayCell(monitor, b, key) {
  if (monitor === false) return 'off';
  return b.delaySamples > 0 ? b[key].toFixed(2) : 'no sample';
}

/** (c): MiB/s and loop delay per contender; hashMany and hash against createHash and raw. */
function summarizeSha(data) {
  const roundsOf = (name) => (name in data.rounds[0] ? data.rounds : data.copyRounds);
  const by = byContender(data.contenders, (name) => roundsOf(name).map((r) => r[name]),
    ['mibPerSecond', 'ms', 'callMs', 'delaySamples', 'delayP99Ms', 'delayMaxMs', 'processCpuMs'], 'mibPerSecond');
  const rows = data.contenders.map((c) => {
    const b = by[c.name];
    return [
      c.label,
      formatNumber(b.mibPerSecond),
      formatNumber(b.ms),
      b.callMs.toFixed(2),
      delayCell(c.monitor, b, 'delayP99Ms'),
      delayCell(c.monitor, b, 'delayMaxMs'),
      formatNumber(b.processCpuMs),
      pct(b.spread),
    ];
  });
  const ratioTo = (name, base) => median(roundsOf(name).map((r) => r[name].mibPerSecond / r[base].mibPerSecond));
  return {
    by,
    ratio: ratioTo('uvscopeMany', 'createHash'),
    perBufferRatio: ratioTo('uvscope', 'createHash'),
    copyRatio: ratioTo('uvscopeCopy', 'createHash'),
    rawRatio: ratioTo('raw', 'createHash'),
    perBufferToRaw: ratioTo('uvscope', 'raw'),
    manyToRaw: ratioTo('uvscopeMany', 'raw'),
    manyToRawNoMonitor: ratioTo('uvscopeManyNoMonitor', 'rawNoMonitor'),
    manyNoMonitorRatio: ratioTo('uvscopeManyNoMonitor', 'createHash'),
    table: renderTable(['contender', 'MiB/s', 'wall ms', 'call ms', 'delay p99 ms', 'delay max ms', 'process CPU ms', 'spread'], rows),
  };
}

/** (d): hashFile against the stream: throughput, wall time and main-thread CPU ratios. */
function summarizeFile(data) {
  const by = byContender(data.contenders, (name) => data.rounds.map((r) => r[name]),
    ['ms', 'mibPerSecond', 'mainThreadCpuMs', 'processCpuMs'], 'mibPerSecond');
  const rows = data.contenders.map((c) => {
    const b = by[c.name];
    return [c.label, formatNumber(b.ms), formatNumber(b.mibPerSecond), b.mainThreadCpuMs.toFixed(1), formatNumber(b.processCpuMs), pct(b.spread)];
  });
  const ratio = (key) => median(data.rounds.map((r) => r.hashFile[key] / r.stream[key]));
  return {
    by,
    throughputRatio: ratio('mibPerSecond'),
    wallRatio: ratio('ms'),
    cpuRatio: ratio('mainThreadCpuMs'),
    processCpuRatio: ratio('processCpuMs'),
    table: renderTable(['contender', 'wall ms', 'MiB/s', 'main-thread CPU ms', 'process CPU ms', 'spread'], rows),
  };
}

/** (e): MiB/s and loop delay per contender, each against createCipheriv; encrypt against the others. */
function summarizeCipher(data) {
  const by = byContender(data.contenders, (name) => data.rounds.map((r) => r[name]),
    ['mibPerSecond', 'ms', 'callMs', 'delayP99Ms', 'delayMaxMs', 'delaySamples', 'processCpuMs'], 'mibPerSecond',
    (name) => ({ ratio: median(data.rounds.map((r) => r[name].mibPerSecond / r.createCipheriv.mibPerSecond)) }));
  const rows = data.contenders.map((c) => {
    const b = by[c.name];
    return [
      c.label,
      formatNumber(b.mibPerSecond),
      `${b.ratio.toFixed(2)}×`,
      formatNumber(b.ms),
      b.callMs.toFixed(2),
      delayCell(true, b, 'delayP99Ms'),
      delayCell(true, b, 'delayMaxMs'),
      formatNumber(b.processCpuMs),
      pct(b.spread),
    ];
  });
  const vs = (name) => (by[name] ? median(data.rounds.map((r) => r.uvscope.mibPerSecond / r[name].mibPerSecond)) : NaN);
  return {
    by,
    ratio: by.uvscope.ratio,
    delayP99Ms: by.uvscope.delayP99Ms,
    toSubtle: vs('subtle'),
    toRonomon: vs('ronomon'),
    toRonomonReused: vs('ronomonReused'),
    freshRatio: by.uvscopeFresh.ratio,
    freshDelayP99Ms: by.uvscopeFresh.delayP99Ms,
    table: renderTable(
      ['contender', 'MiB/s', 'vs createCipheriv', 'wall ms', 'call ms', 'delay p99 ms', 'delay max ms', 'process CPU ms', 'spread'],
      rows,
    ),
  };
}

module.exports = { summarizeRoundTrip, summarizeSha, summarizeFile, summarizeCipher };
