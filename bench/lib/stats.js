'use strict';
// Small, dependency-free statistics for benchmark harnesses: every function takes plain
// arrays (of finite numbers, or of runs: objects with `config`, `round` and numbers) and never
// mutates them.

function sorted(values) {
  return Float64Array.from(values).sort();
}

/** Median; NaN for an empty array. The mean of the two middle values for an even count. */
function median(values) {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Quantile q in [0, 1] by linear interpolation between closest ranks; NaN when empty. */
function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = sorted(values);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

function mean(values) {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

function min(values) {
  return values.length ? Math.min(...values) : NaN;
}

function max(values) {
  return values.length ? Math.max(...values) : NaN;
}

/** count, min, median, max, mean and the relative spread (max - min) / median. */
function summarize(values) {
  const m = median(values);
  return {
    count: values.length,
    min: min(values),
    median: m,
    max: max(values),
    mean: mean(values),
    spread: values.length ? (max(values) - min(values)) / m : NaN,
  };
}

/** (max - min) / median of values: how far the rounds disagree; 0 for fewer than two. */
function spread(values) {
  return values.length > 1 ? (max(values) - min(values)) / median(values) : 0;
}

/** { [key]: median of rows[i][key] } for each key: one row per round in, the medians out. */
function medians(rows, keys) {
  return Object.fromEntries(keys.map((key) => [key, median(rows.map((row) => row[key]))]));
}

/**
 * Each configuration's runs against the baseline run of the same round: for every name in
 * `configs`, its runs, summarize() of `metric`, the median's distance from the baseline's
 * median (`extra`) and the ratios: per round (`perRound`), their median, min and max, the
 * ratio of the medians and of the minima (noise on a shared machine only ever adds time, so
 * the fastest runs are the least disturbed).
 */
function againstBaseline(runs, configs, metric, baseline = 'baseline') {
  const baseRuns = runs.filter((r) => r.config === baseline);
  const baseOf = new Map(baseRuns.map((r) => [r.round, r[metric]]));
  const baseValues = baseRuns.map((r) => r[metric]);
  return configs.map((config) => {
    const mine = runs.filter((r) => r.config === config);
    const values = mine.map((r) => r[metric]);
    const perRound = mine.map((r) => r[metric] / baseOf.get(r.round));
    return {
      config,
      runs: mine,
      values: summarize(values),
      extra: median(values) - median(baseValues),
      ratio: {
        median: median(perRound),
        min: min(perRound),
        max: max(perRound),
        perRound,
        ofMedians: median(values) / median(baseValues),
        ofMinima: min(values) / min(baseValues),
      },
    };
  });
}

module.exports = { median, quantile, mean, min, max, summarize, spread, medians, againstBaseline };
