'use strict';
// Small, dependency-free statistics for benchmark harnesses: every function takes a plain
// array of finite numbers and never mutates it.

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

module.exports = { median, quantile, mean, min, max, summarize };
