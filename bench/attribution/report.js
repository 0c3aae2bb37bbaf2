'use strict';
// The report of bench/attribution.js: part (a) per block kind and contender (shares of blocks
// named live, named by the end, misnamed, classified; first-report latencies past the
// threshold), the goals against it, and part (b) (server CPU per request against the
// same round's watchdog-alone run). Stateless.

const statsLib = require('../lib/stats');
const { renderTable, formatRatio } = require('../lib/table');
const { KINDS } = require('./blocks');

const finite = (values) => values.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
const fmt = (v, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));

/** "median (min..max)" of the finite values; n/a for none. */
function medRange(values, digits = 1) {
  const v = finite(values);
  if (!v.length) return 'n/a';
  return `${fmt(statsLib.median(v), digits)} (${fmt(statsLib.min(v), digits)}..${fmt(statsLib.max(v), digits)})`;
}

/** "k/n" of the scores where pick(score) is true; n/a when no score has the figure (null). */
function share(scores, pick) {
  const known = scores.filter((s) => pick(s) !== null && pick(s) !== undefined);
  if (!known.length) return 'n/a';
  return `${known.filter(pick).length}/${scores.length}`;
}

/** Per contender and kind (and all kinds), the figures of the table and of the goals. */
function summarizeAttribution(scores, contenders) {
  const groups = [];
  for (const contender of contenders) {
    for (const kind of [...Object.keys(KINDS), 'all']) {
      const mine = scores.filter((s) => !s.short && s.contender === contender && (kind === 'all' || s.kind === kind));
      if (!mine.length) continue;
      groups.push({
        contender,
        kind,
        blocks: mine.length,
        reported: mine.filter((s) => s.reports > 0).length,
        namedLive: mine.filter((s) => s.namedLive).length,
        namedByEnd: mine.filter((s) => s.namedByEnd).length,
        misnamed: mine.reduce((sum, s) => sum + s.misnamed, 0),
        contextLive: mine.filter((s) => s.contextLive).length,
        contextByEnd: mine.filter((s) => s.contextByEnd).length,
        classifiedRight: contender === 'uvscope' ? mine.filter((s) => s.classifiedRight === true).length : null,
        worstFirstReportMs: statsLib.max(mine.map((s) => s.firstReportMs ?? Infinity)),
        scores: mine,
      });
    }
  }
  return groups;
}

function attributionTable(groups) {
  const headers = ['kind', 'contender', 'blocks', 'block ms', 'reported', 'named live', 'named by end', 'misnamed',
    'context live/end', 'culprit live', 'CPU/wait right', 'cpu/elapsed', 'first report +ms', 'own +ms', 'first naming +ms'];
  const rows = groups.map((g) => {
    const s = g.scores;
    const uv = g.contender === 'uvscope';
    return [
      g.kind,
      g.contender,
      String(g.blocks),
      medRange(s.map((x) => x.blockMs), 0),
      `${g.reported}/${g.blocks}`,
      `${g.namedLive}/${g.blocks}`,
      `${g.namedByEnd}/${g.blocks}`,
      String(g.misnamed),
      `${g.contextLive}/${g.contextByEnd}/${g.blocks}`,
      share(s, (x) => x.culpritLive),
      uv ? share(s, (x) => x.classifiedRight) : 'n/a',
      uv ? medRange(s.map((x) => x.cpuRatio), 2) : 'n/a',
      medRange(s.map((x) => x.firstReportMs)),
      medRange(s.map((x) => x.firstReportOwnMs)),
      medRange(s.map((x) => x.firstNamedMs)),
    ];
  });
  return renderTable(headers, rows);
}

/** The goals for uvscope, checked against the groups. */
function attributionGoals(groups, opts) {
  const out = [];
  const slack = 20;
  for (const g of groups.filter((x) => x.contender === 'uvscope' && x.kind !== 'all')) {
    const interruptible = g.scores.some((s) => s.inNative === false);
    const live = g.namedLive === g.blocks;
    const byEnd = g.namedByEnd === g.blocks;
    const naming = live ? 'all named live' : byEnd ? `all named by the end (${g.namedLive}/${g.blocks} live)` : `NOT all named (${g.namedByEnd}/${g.blocks} by the end)`;
    out.push(`  uvscope ${g.kind.padEnd(8)} ${naming}${interruptible ? '' : ' [inside a native call: live reports say inNative]'}; ` +
      `classified ${g.classifiedRight}/${g.blocks}${g.classifiedRight === g.blocks ? '' : ' MISSED'}; ` +
      `first report worst ${g.worstFirstReportMs >= 0 ? '+' : ''}${fmt(g.worstFirstReportMs)} ms past the threshold (goal <= ${slack}): ${g.worstFirstReportMs <= slack ? 'met' : 'MISSED'}` +
      (g.misnamed ? `; ${g.misnamed} MISNAMED` : ''));
  }
  return out;
}

function costTable(summary) {
  const headers = ['config', 'server cpu µs/req', 'range', 'vs watchdog', 'ratio range', 'vs none', 'req/s', 'client p99 ms'];
  const rows = summary.map((s) => [
    s.config,
    fmt(s.values.median, 2),
    `${fmt(s.values.min, 2)}-${fmt(s.values.max, 2)}`,
    s.vsWatchdog ? formatRatio(s.vsWatchdog.median) : '',
    s.vsWatchdog ? `${s.vsWatchdog.min.toFixed(3)}-${s.vsWatchdog.max.toFixed(3)}` : '',
    s.vsNone ? formatRatio(s.vsNone.median) : '',
    fmt(s.requestsPerSecond, 0),
    fmt(s.clientP99Ms, 1),
  ]);
  return renderTable(headers, rows);
}

/** The alternating windows: CPU per request off and on, and the per-pair ratios. */
function alternatingText({ windows, load }, opts) {
  const off = windows.filter((w) => !w.on).map((w) => w.cpuUsPerRequest);
  const on = windows.filter((w) => w.on).map((w) => w.cpuUsPerRequest);
  const pairs = [...new Set(windows.map((w) => w.pair))].map((pair) => {
    const mine = windows.filter((w) => w.pair === pair);
    return mine.find((w) => w.on).cpuUsPerRequest / mine.find((w) => !w.on).cpuUsPerRequest;
  });
  const ratio = statsLib.median(pairs);
  return [
    `In one server (the watchdog alone throughout; the request tracker switched on and off between windows, ${opts.altPairs} pairs of ` +
      `${opts.altWindowMs} ms, off-on then on-off; ${load.generator}, client p99 ${fmt(load.latencyP99Ms, 1)} ms):`,
    renderTable(['tracker', 'server cpu µs/req', 'range', 'windows'], [
      ['off', fmt(statsLib.median(off), 2), `${fmt(statsLib.min(off), 2)}-${fmt(statsLib.max(off), 2)}`, String(off.length)],
      ['on', fmt(statsLib.median(on), 2), `${fmt(statsLib.min(on), 2)}-${fmt(statsLib.max(on), 2)}`, String(on.length)],
    ]),
    `on / off per pair: median ${formatRatio(ratio)} (quartiles ${statsLib.quantile(pairs, 0.25).toFixed(3)}-${statsLib.quantile(pairs, 0.75).toFixed(3)}, ` +
      `range ${statsLib.min(pairs).toFixed(3)}-${statsLib.max(pairs).toFixed(3)}); ` +
      `+${fmt(statsLib.median(on) - statsLib.median(off), 2)} µs per request: target <= 1.03x ${ratio <= 1.03 ? 'met' : 'MISSED'}`,
  ].join('\n');
}

module.exports = { summarizeAttribution, attributionTable, attributionGoals, costTable, alternatingText };
