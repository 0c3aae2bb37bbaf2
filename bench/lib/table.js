'use strict';
// Plain-text table for benchmark output: columns sized to their content, numbers right-aligned.

/**
 * @param {string[]} headers
 * @param {Array<Array<string|number>>} rows  cells already formatted, or numbers (right-aligned)
 * @param {{ align?: Array<'l'|'r'> }} [options]  per-column alignment; default: text left,
 *   cells that look numeric right
 */
function renderTable(headers, rows, options = {}) {
  const cells = rows.map((row) => row.map((cell) => (cell === undefined || cell === null ? '' : String(cell))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => (row[i] ?? '').length)));
  const numeric = /^[-+]?[\d.,]+(?:[e][-+]?\d+)?\s*[%×x]?$/i;
  const alignOf = (i, text) => options.align?.[i] ?? (numeric.test(text) ? 'r' : 'l');
  const pad = (text, i) => (alignOf(i, text) === 'r' ? text.padStart(widths[i]) : text.padEnd(widths[i]));
  const line = (row) => row.map((text, i) => pad(text ?? '', i)).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...cells.map(line)].join('\n');
}

/** 1234567.8 -> "1,234,568" (digits grouped, rounded to `digits` decimals). */
function formatNumber(value, digits = 0) {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio as "1.043×". */
function formatRatio(value, digits = 3) {
  return Number.isFinite(value) ? `${value.toFixed(digits)}×` : 'n/a';
}

/** A fraction as a percentage: 0.123 -> "12%". */
function formatPercent(value, digits = 0) {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : 'n/a';
}

/** Milliseconds or seconds, whichever reads better. */
function formatDuration(ms) {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

module.exports = { renderTable, formatNumber, formatRatio, formatPercent, formatDuration };
