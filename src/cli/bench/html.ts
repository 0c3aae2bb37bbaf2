/**
 * The self-contained HTML report of `uvscope bench`: inline SVG charts (one per metric), no
 * scripts from anywhere, no network.
 * @internal
 * @module
 */
import type { PoolThreadFigures } from './protocol';
import type { BenchReport } from './report';

const COLORS = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6'];

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

interface Series {
  name: string;
  values: number[];
}

const W = 560;
const H = 300;
const PAD = { left: 64, right: 16, top: 36, bottom: 48 };

function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / p) * p;
}

function axes(title: string, yLabel: string, yMax: number): string {
  const innerH = H - PAD.top - PAD.bottom;
  let out = `<text x="${W / 2}" y="20" text-anchor="middle" class="title">${esc(title)}</text>`;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + innerH - (innerH * i) / 4;
    out += `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" class="grid"/>`;
    out += `<text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${num((yMax * i) / 4)}</text>`;
  }
  out += `<text transform="translate(14 ${PAD.top + innerH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`;
  return out;
}

/** Grouped bars: one group per pool size, one bar per series. */
export function barChart(metric: string, title: string, yLabel: string, sizes: number[], series: Series[]): string {
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite))));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const group = innerW / sizes.length;
  const bar = (group * 0.7) / series.length;
  let body = axes(title, yLabel, yMax);
  sizes.forEach((size, i) => {
    const x0 = PAD.left + i * group + group * 0.15;
    series.forEach((s, j) => {
      const v = s.values[i];
      const h = Number.isFinite(v) ? (innerH * v) / yMax : 0;
      body += `<rect x="${(x0 + j * bar).toFixed(1)}" y="${(PAD.top + innerH - h).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[j % COLORS.length]}" data-size="${size}" data-series="${esc(s.name)}" data-value="${v}"><title>${esc(s.name)}, size ${size}: ${num(v)}</title></rect>`;
    });
    body += `<text x="${(PAD.left + i * group + group / 2).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${size}</text>`;
  });
  body += `<text x="${PAD.left + innerW / 2}" y="${H - 10}" text-anchor="middle">UV_THREADPOOL_SIZE</text>`;
  return svg(metric, body, series.length > 1 ? series.map((s) => s.name) : []);
}

/** Cumulative distribution of samples, one line per pool size. */
export function cdfChart(metric: string, title: string, xLabel: string, sizes: number[], samples: number[][]): string {
  const xMax = niceMax(Math.max(0, ...samples.flat()));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  let body = `<text x="${W / 2}" y="20" text-anchor="middle" class="title">${esc(title)}</text>`;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + innerH - (innerH * i) / 4;
    const x = PAD.left + (innerW * i) / 4;
    body += `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" class="grid"/>`;
    body += `<text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end">${i * 25}%</text>`;
    body += `<text x="${x}" y="${H - PAD.bottom + 16}" text-anchor="middle">${num((xMax * i) / 4)}</text>`;
  }
  body += `<text x="${PAD.left + innerW / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`;
  sizes.forEach((size, k) => {
    const sorted = [...samples[k]].sort((a, b) => a - b);
    if (!sorted.length) return;
    const points = sorted.map((v, i) => `${(PAD.left + (innerW * v) / xMax).toFixed(1)},${(PAD.top + innerH - (innerH * (i + 1)) / sorted.length).toFixed(1)}`);
    body += `<polyline points="${points.join(' ')}" fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" data-size="${size}" data-points="${sorted.length}"/>`;
  });
  return svg(metric, body, sizes.map((s) => `size ${s}`));
}

function svg(metric: string, body: string, legend: string[]): string {
  const items = legend
    .map((name, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(name)}</span>`)
    .join('');
  return `<figure><svg class="chart" data-metric="${esc(metric)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${body}</svg>${items ? `<figcaption>${items}</figcaption>` : ''}</figure>`;
}

const percent = (ratio: number | undefined) => (ratio === undefined ? '-' : `${(ratio * 100).toFixed(1)}%`);

/** The pool threads' busy and run-queue ratios per size (monitorThreads in the measured processes). */
export function poolChart(sizes: number[], pools: (PoolThreadFigures | undefined)[]): string {
  return barChart('poolThreads', 'Pool threads: on a CPU, and waiting for one', '% of threads × time', sizes, [
    { name: 'busy', values: pools.map((p) => (p ? p.busyRatio * 100 : NaN)) },
    { name: 'waiting for a CPU (run queue)', values: pools.map((p) => (p?.runQueueRatio !== undefined ? p.runQueueRatio * 100 : NaN)) },
  ]);
}

export function renderBenchHtml(report: BenchReport): string {
  const sizes = report.sizes.map((s) => s.size);
  const pick = (f: (s: BenchReport['sizes'][number]) => number | undefined) => report.sizes.map((s) => f(s) ?? NaN);
  const charts = [
    barChart('throughput', 'Throughput', 'jobs/s', sizes, [{ name: 'jobs/s', values: pick((s) => s.jobsPerSec) }]),
    barChart('latency', 'Job latency (submit to settle)', 'ms', sizes, [
      { name: 'p50', values: pick((s) => s.latencyP50Ms) },
      { name: 'p99', values: pick((s) => s.latencyP99Ms) },
    ]),
    cdfChart('queueWait', 'Queue wait distribution (all rounds)', 'queue wait, ms', sizes, report.sizes.map((s) => s.runs.flatMap((r) => r.queueWaitSamplesMs))),
    barChart('loopUtilization', 'Event loop utilization', '%', sizes, [{ name: 'utilization', values: pick((s) => s.loopUtilization * 100) }]),
    barChart('loopDelay', 'Event loop delay p99', 'ms', sizes, [{ name: 'p99', values: pick((s) => s.loopDelayP99Ms) }]),
  ];
  if (report.sizes.some((s) => s.pool)) charts.push(poolChart(sizes, report.sizes.map((s) => s.pool)));
  if (report.workload === 'mixed') {
    charts.push(
      barChart('fsLatency', 'fs.readFile latency beside the jobs', 'ms', sizes, [
        { name: 'p50', values: pick((s) => s.fsP50Ms) },
        { name: 'p99', values: pick((s) => s.fsP99Ms) },
      ]),
      barChart('dnsLatency', "dns.lookup('localhost') latency beside the jobs", 'ms', sizes, [
        { name: 'p50', values: pick((s) => s.dnsP50Ms) },
        { name: 'p99', values: pick((s) => s.dnsP99Ms) },
      ]),
    );
  }
  const rows = report.sizes
    .map(
      (s) =>
        `<tr><td>${s.size}</td><td>${s.measuredSize}</td><td>${s.jobsPerSec.toFixed(0)}</td><td>${s.latencyP50Ms.toFixed(2)}</td><td>${s.latencyP99Ms.toFixed(2)}</td><td>${s.queueWaitP50Ms.toFixed(2)}</td><td>${s.queueWaitP99Ms.toFixed(2)}</td><td>${percent(s.pool?.busyRatio)}</td><td>${percent(s.pool?.runQueueRatio)}</td><td>${(s.loopUtilization * 100).toFixed(1)}%</td><td>${s.loopDelayP99Ms.toFixed(2)}</td></tr>`,
    )
    .join('');
  const intro = `Node ${report.node}, libuv ${report.uv}, ${report.cpus} CPUs.`;
  const table = `<table><tr><th>size</th><th>measured</th><th>jobs/s</th><th>latency p50 ms</th><th>latency p99 ms</th><th>queue wait p50 ms</th><th>queue wait p99 ms</th><th>pool threads busy</th><th>pool threads waiting for a CPU</th><th>loop utilization</th><th>loop delay p99 ms</th></tr>${rows}</table>`;
  return pageHtml(`uvscope bench: ${report.workload}, ${report.jobs} jobs per run, medians of ${report.repeat} rounds`, intro, table, report.best, charts);
}

/** A self-contained page: a heading, an intro line, the verdict, a table (HTML, or text shown as is), the charts. */
export function pageHtml(title: string, intro: string, table: string, best: { size: number; reason: string } | undefined, charts: string[]): string {
  const tableHtml = table.startsWith('<table') ? table : `<pre>${esc(table)}</pre>`;
  const verdict = best ? ` Best size: <strong>${best.size}</strong> (${esc(best.reason)}).` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}figure{display:inline-block;margin:4px;border:1px solid #ddd;padding:8px}
svg text{font-size:11px;fill:#444}svg .title{font-size:13px;font-weight:600;fill:#222}
.grid{stroke:#eee}figcaption span{margin-right:12px}figcaption i{display:inline-block;width:10px;height:10px;margin-right:4px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${esc(intro)}${verdict}</p>
${tableHtml}
${charts.join('\n')}
</body></html>
`;
}
