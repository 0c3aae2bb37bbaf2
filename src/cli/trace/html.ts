/**
 * `uvscope trace --html`: one self-contained page (no network, no external viewer) read from
 * the trace file's content: a zoomable canvas timeline (a row per thread with its loop phases,
 * poll's wait for I/O drawn apart from its work, stalls; a row per thread for its HTTP requests,
 * those in flight at once stacked; a row per process for Node's pool requests; a row per pool
 * thread for uvscope's jobs), loop utilization over time (SVG), the pool threads' busy and
 * run-queue ratios over time per process (SVG, from the `pool threads` counter), the long
 * iterations with their phase split and top functions, the longest stalls, and the slowest HTTP
 * requests with the stalls, long iterations and pool work of their time (a click on a row zooms
 * the timeline to it); per thread an interactive CPU flame graph (flame-graph-html.ts) of the
 * whole run, narrowed to a long iteration or stall by a click on its row or on the timeline.
 * Pure function of the trace; the page's script draws from data embedded in it.
 * @internal
 * @module
 */
import { analyzeTrace } from '../../trace/analysis';
import { requestsByKind, SlowRequest, slowestRequests } from '../../trace/model-queries';
import { byTimeText } from '../../trace/summary';
import type { TraceFile, TraceModel } from '../../trace/trace-model';
import { flameGraphData, spanIndex } from './flame-graph-data';
import { FLAME_CSS, flameGraphSection } from './flame-graph-html';

/** Slices kept per thread in the page (the longest, when there are more). */
const MAX_SLICES = 200_000;
const PHASES = ['startup', 'poll', 'check', 'timers', 'pending'];
/** HTTP requests in flight at once drawn stacked in their row, at most this many high (the rest on the last). */
const MAX_HTTP_LANES = 6;
/** Rows of the slowest-requests table. */
const SLOW_REQUESTS = 20;
/** Rows of the stalls table (the longest), and per thread. */
const STALLS = 50;
const STALLS_PER_THREAD = 20;

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const r3 = (v: number) => Math.round(v * 1000) / 1000;

/** One row of the slowest-requests table (a click zooms the timeline to the request). */
function slowRequestRow(r: SlowRequest, t0: number): string {
  const q = r.request;
  const stallText = (s: SlowRequest['stalls'][number]) =>
    `${s.own ? '<b>its own</b>' : 'waited for'}: ${s.durationMs.toFixed(2)} ms in ${esc(s.phase)}${s.onCpu !== undefined ? `, ${Math.round(s.onCpu * 100)}% on CPU` : ''}${!s.own && s.request ? ` <span class="muted">(${esc(s.request)})</span>` : ''}`;
  const stalls = r.stalls.map(stallText).join('<br>') || '<span class="muted">none</span>';
  const long = r.long.map((l) => `${l.iteration}: ${l.durationMs.toFixed(2)} ms${l.own ? ' (its stall)' : ''}`).join('<br>') || '<span class="muted">none</span>';
  const pool = [
    r.pool.count ? `${r.pool.count} Node pool request${r.pool.count === 1 ? '' : 's'}${byTimeText(r.pool.byTime)}, latency ${r.pool.latencyMs.toFixed(2)} ms in all, longest ${esc(r.pool.longest!.kind)} ${r.pool.longest!.latencyMs.toFixed(2)} ms` : '',
    r.jobs.count ? `${r.jobs.count} uvscope job${r.jobs.count === 1 ? '' : 's'}${byTimeText(r.jobs.byTime)}, queue wait ${r.jobs.queueWaitMs.toFixed(2)} ms in all` : '',
  ]
    .filter(Boolean)
    .join('<br>') || '<span class="muted">none</span>';
  const from = ((q.startUs - t0) / 1000).toFixed(3);
  return `<tr class="http" data-from="${from}" data-to="${(Number(from) + q.durationMs).toFixed(3)}"><td>${esc(q.name)}</td><td>${esc(r.thread.name)}<br><span class="muted">pid ${r.thread.pid}</span></td><td>${q.durationMs.toFixed(2)}${q.inFlight ? '<br><span class="muted">so far</span>' : ''}</td><td>${q.inFlight ? '<b>in flight</b><br><span class="muted">when the trace ended</span>' : `${q.status || 'none'}${q.completed ? '' : '<br><span class="muted">not completed</span>'}`}</td><td>${stalls}</td><td>${long}</td><td>${pool}</td></tr>`;
}

/** `model`: the file's analyzeTrace(), when the caller has it already. */
export function renderTraceHtml(file: TraceFile, model: TraceModel = analyzeTrace(file)): string {
  const t0 = model.startUs;
  const flame = flameGraphData(file, model);
  const flameIndex = new Map(flame.threads.map((t, i) => [t.key, i]));
  // A long iteration's or stall's graph, as row attributes: a click on the row narrows the thread's flame graph to it.
  const flameAttributes = (key: string, kind: 'long' | 'stall', startUs: number) => {
    const ti = flameIndex.get(key);
    const si = ti === undefined ? -1 : spanIndex(flame.threads[ti], kind, (startUs - t0) / 1000);
    return si < 0 ? '' : ` data-thread="${ti}" data-span="${si}"`;
  };
  const rows: { label: string; kind: 'loop' | 'requests' | 'jobs' | 'http'; items: number[][]; lanes?: number; flame?: number }[] = [];
  for (const t of model.threads) {
    let loop = t.loop;
    if (loop.length > MAX_SLICES) loop = [...loop].sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, MAX_SLICES);
    // [start, dur, phase index, poll wait] in ms from the start of the trace; stalls as phase -1.
    const items = loop.map((e) => [r3((e.ts! - t0) / 1000), r3((e.dur ?? 0) / 1000), PHASES.indexOf(e.name), r3(Number(e.args?.waitMs ?? 0))]);
    for (const s of t.stalls) items.push([r3((s.ts! - t0) / 1000), r3((s.dur ?? 0) / 1000), -1, 0]);
    rows.push({ label: `${t.process}: ${t.name}`, kind: 'loop', items, ...(flameIndex.has(t.key) ? { flame: flameIndex.get(t.key) } : {}) });
    if (t.httpRequests.length) {
      // [start, dur, lane, 1 when a stall of its own blocked it]; each on the first lane free at its start.
      const laneEnds: number[] = [];
      const own = new Set(t.stalls.map((st) => st.args?.requestId).filter((id) => typeof id === 'number'));
      const http = t.httpRequests.slice(0, MAX_SLICES).map((r) => {
        let lane = laneEnds.findIndex((end) => end <= r.startUs);
        if (lane === -1) lane = laneEnds.length < MAX_HTTP_LANES ? laneEnds.push(0) - 1 : MAX_HTTP_LANES - 1;
        laneEnds[lane] = Math.max(laneEnds[lane], r.endUs);
        return [r3((r.startUs - t0) / 1000), r3(r.durationMs), lane, own.has(r.id) ? 1 : 0];
      });
      rows.push({ label: `${t.name} (pid ${t.pid}): HTTP requests`, kind: 'http', items: http, lanes: laneEnds.length });
    }
    if (t.requests.length) {
      rows.push({ label: `${t.name} (pid ${t.pid}): Node pool requests`, kind: 'requests', items: t.requests.slice(0, MAX_SLICES).map((r) => [r3((r.startUs - t0) / 1000), r3((r.endUs - r.startUs) / 1000)]) });
    }
    const pools = new Map<string, number[][]>();
    for (const j of t.jobs) {
      const key = `pid ${t.pid}: libuv pool thread ${Number(j.tid) - 1_000_000}`;
      pools.set(key, [...(pools.get(key) ?? []), [r3((j.ts! - t0) / 1000), r3((j.dur ?? 0) / 1000)]]);
    }
    for (const [label, items] of [...pools.entries()].sort()) rows.push({ label: `${label} (uvscope jobs)`, kind: 'jobs', items });
  }
  const utilization = model.threads
    .filter((t) => t.utilization.length > 1)
    .map((t) => ({ label: `${t.name} (pid ${t.pid})`, points: t.utilization.map((u) => [r3((u.us - t0) / 1000), r3(u.value)]) }));
  const long = model.threads
    .flatMap((t) => t.long.slice(0, 20).map((l) => ({ t, l })))
    .sort((a, b) => b.l.durationMs - a.l.durationMs)
    .slice(0, 50);
  const durationMs = (model.endUs - model.startUs) / 1000;
  // Counter values hold until the next (the last until the end): drawn as steps.
  const steps = (points: { us: number; value: number }[]) => {
    const out = points.flatMap((p, i) => [...(i ? [[r3((p.us - t0) / 1000), r3(points[i - 1].value)]] : []), [r3((p.us - t0) / 1000), r3(p.value)]]);
    if (points.length) out.push([r3((model.endUs - t0) / 1000), r3(points[points.length - 1].value)]);
    return out;
  };
  const pools = model.pools.flatMap((p) => [
    { label: `pid ${p.pid}: pool threads busy`, points: steps(p.points.map((x) => ({ us: x.us, value: x.busy }))) },
    ...(p.points.every((x) => x.runq !== undefined) ? [{ label: `pid ${p.pid}: waiting for a CPU`, points: steps(p.points.map((x) => ({ us: x.us, value: x.runq! }))) }] : []),
  ]);
  const data = { durationMs, phases: PHASES, rows, utilization, pools };

  const longRows = long
    .map(({ t, l }) => {
      const s = l.split;
      const parts: [string, number, string][] = [
        ['startup', s.startupMs, '#8e6fc1'],
        ['poll: waiting', s.pollWaitMs, '#d9dde3'],
        ['poll: I/O callbacks', s.pollWorkMs, '#3b7dd8'],
        ['check', s.checkMs, '#e3a21a'],
        ['timers', s.timersMs, '#d0452f'],
        ['pending', s.pendingMs, '#4aa564'],
      ];
      const total = parts.reduce((sum, p) => sum + p[1], 0) || 1;
      let x = 0;
      const bars = parts
        .filter((p) => p[1] > 0)
        .map(([name, v, color]) => {
          const w = (v / total) * 240;
          const rect = `<rect x="${x.toFixed(1)}" y="2" width="${Math.max(w, 0.5).toFixed(1)}" height="14" fill="${color}"><title>${name}: ${v.toFixed(2)} ms</title></rect>`;
          x += w;
          return rect;
        })
        .join('');
      const split = parts.filter((p) => p[1] > 0).map(([name, v]) => `${name} ${v.toFixed(2)}`).join(', ');
      const top = l.top.map((f) => `${esc(f.name)} ${f.selfMs.toFixed(2)} ms`).join('<br>') || '<span class="muted">no samples</span>';
      const from = ((l.startUs - t0) / 1000).toFixed(3);
      return `<tr class="long" data-from="${from}" data-to="${(Number(from) + l.durationMs).toFixed(3)}"${flameAttributes(t.key, 'long', l.startUs)}><td>${esc(t.name)}<br><span class="muted">pid ${t.pid}</span></td><td>${l.iteration === 0 ? 'startup' : l.iteration}</td><td>${l.durationMs.toFixed(2)}</td><td><svg class="split" width="240" height="18">${bars}</svg><br><span class="muted">${split}</span></td><td>${top}</td></tr>`;
    })
    .join('\n');
  const stallRows = model.threads
    .flatMap((t) => [...t.stalls].sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, STALLS_PER_THREAD).map((s) => ({ t, s })))
    .sort((a, b) => (b.s.dur ?? 0) - (a.s.dur ?? 0))
    .slice(0, STALLS)
    .map(({ t, s }) => {
      const from = ((s.ts! - t0) / 1000).toFixed(3);
      const a = s.args ?? {};
      const onCpu = typeof a.onCpu === 'number' ? `${Math.round(a.onCpu * 100)}%` : '<span class="muted">unknown</span>';
      const request = typeof a.request === 'string' ? esc(a.request) : '<span class="muted">none</span>';
      return `<tr class="stall" data-from="${from}" data-to="${(Number(from) + (s.dur ?? 0) / 1000).toFixed(3)}"${flameAttributes(t.key, 'stall', s.ts!)}><td>${esc(t.name)}<br><span class="muted">pid ${t.pid}</span></td><td>${Number(from).toFixed(1)}</td><td>${((s.dur ?? 0) / 1000).toFixed(2)}</td><td>${esc(String(a.phase ?? ''))}</td><td>${onCpu}</td><td>${request}</td></tr>`;
    })
    .join('\n');
  const slowRows = slowestRequests(model, SLOW_REQUESTS)
    .map((r) => slowRequestRow(r, t0))
    .join('\n');
  const kinds = requestsByKind(model)
    .map(([kind, k]) => `<tr><td>${esc(kind)}</td><td>${k.count}</td><td>${k.failed}</td><td>${k.p50Ms.toFixed(2)}</td><td>${k.p99Ms.toFixed(2)}</td></tr>`)
    .join('');
  const title = file.uvscope?.command ?? model.threads[0]?.process ?? 'trace';
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>uvscope trace: ${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:20px;color:#222}h2{margin-top:28px}.muted{color:#777;font-size:12px}
#timeline{width:100%;height:auto;border:1px solid #ccc;cursor:grab;display:block}td,th{border:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}
table{border-collapse:collapse}tr.long,tr.http,tr.stall{cursor:pointer}tr.long:hover,tr.http:hover,tr.stall:hover{background:#f3f6fb}tr.selected{background:#fdf1dc}
${FLAME_CSS}.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:2px 6px;font-size:12px;display:none}</style>
</head><body><h1>uvscope trace: ${esc(title)}</h1>
<p>${durationMs.toFixed(1)} ms, ${new Set(model.threads.map((t) => t.pid)).size} Node process(es), ${model.threads.length} thread(s). Long: busy (not waiting for I/O) for more than ${model.blockMs} ms.</p>
<h2>Timeline</h2>
<p class="legend"><span><i style="background:#8e6fc1"></i>startup</span><span><i style="background:#d9dde3"></i>poll: waiting for I/O</span><span><i style="background:#3b7dd8"></i>poll: I/O callbacks</span><span><i style="background:#e3a21a"></i>check</span><span><i style="background:#d0452f"></i>timers</span><span><i style="background:#4aa564"></i>pending</span><span><i style="background:#000"></i>stall</span><span><i style="background:#e67e22"></i>long iteration (click: its flame graph)</span><span><i style="background:#7a5"></i>pool request / job</span><span><i style="background:#5b8fd9"></i>HTTP request</span><span><i style="background:#c0392b"></i>HTTP request with its own stall</span>
<button id="reset">show all</button> <span class="muted">wheel: zoom, drag: pan</span></p>
<canvas id="timeline" width="1200" height="${40 + rows.length * 34}"></canvas><div id="tip"></div>
${flameGraphSection(flame)}
<h2>Loop utilization</h2>
<svg class="utilization" width="1200" height="180" viewBox="0 0 1200 180"></svg>
${pools.length ? '<h2>Pool threads</h2>\n<p class="muted">Share of the pool threads\' time on a CPU (busy) and runnable but waiting for one (run queue), per 100 ms, whoever\'s work they ran.</p>\n<svg class="pool-threads" width="1200" height="180" viewBox="0 0 1200 180"></svg>' : ''}
<h2>Long iterations</h2>
${long.length ? `<table id="long"><tr><th>thread</th><th>iteration</th><th>ms</th><th>phase split (ms)</th><th>top functions (self time)</th></tr>\n${longRows}</table>` : '<p>None.</p>'}
<h2>Stalls</h2>
${stallRows ? `<p class="muted">The loop blocked past the watchdog's threshold (the longest ${STALLS}). A click shows it on the timeline and its CPU samples in the flame graph.</p>\n<table id="stalls"><tr><th>thread</th><th>at ms</th><th>ms</th><th>phase</th><th>on CPU</th><th>request</th></tr>\n${stallRows}</table>` : '<p>None.</p>'}
<h2>Slowest HTTP requests</h2>
${slowRows ? `<p class="muted">Stalls: its own when a report of the stall named the request (its code blocked the loop), else one it waited for. Long iterations: on its thread while it was in flight. Pool work: what it submitted, by the request id in the pool work's record; work whose record names no request (submitted where the request tracker could not tell, or before it ran) counts for every request in flight when it was submitted, shown as linked by time only.</p>\n<table id="http-requests"><tr><th>request</th><th>thread</th><th>ms</th><th>status</th><th>stalls</th><th>long iterations</th><th>pool work</th></tr>\n${slowRows}</table>` : '<p>None (no HTTP server request finished, or was in flight at the end, in a traced thread).</p>'}
<h2>Node pool requests</h2>
${kinds ? `<table id="requests"><tr><th>kind</th><th>count</th><th>failed</th><th>p50 ms</th><th>p99 ms</th></tr>${kinds}</table>` : '<p>None.</p>'}
<script type="application/json" id="data">${json}</script>
<script>
'use strict';
const data = JSON.parse(document.getElementById('data').textContent);
const canvas = document.getElementById('timeline');
const ctx = canvas.getContext('2d');
const LABEL = 260, ROW = 34, TOP = 30;
const COLORS = { startup: '#8e6fc1', poll: '#3b7dd8', check: '#e3a21a', timers: '#d0452f', pending: '#4aa564' };
let view = { from: 0, to: Math.max(data.durationMs, 1) };
function x(ms) { return LABEL + ((ms - view.from) / (view.to - view.from)) * (canvas.width - LABEL - 10); }
function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#555';
  const step = niceStep((view.to - view.from) / 8);
  for (let t = Math.ceil(view.from / step) * step; t <= view.to; t += step) {
    const px = x(t);
    ctx.fillStyle = '#eee'; ctx.fillRect(px, TOP - 4, 1, canvas.height);
    ctx.fillStyle = '#555'; ctx.fillText(t.toFixed(step < 1 ? 2 : 0) + ' ms', px + 2, 14);
  }
  data.rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    ctx.fillStyle = '#222';
    ctx.fillText(row.label.length > 42 ? row.label.slice(0, 40) + '…' : row.label, 4, y + 18);
    for (const item of row.items) {
      const [start, dur, phase, wait] = item;
      if (start + dur < view.from || start > view.to) continue;
      const x0 = Math.max(x(start), LABEL), w = Math.max(x(start + dur) - x0, 1);
      if (row.kind === 'http') {
        const h = 22 / row.lanes;
        ctx.fillStyle = item[3] ? '#c0392b' : '#5b8fd9';
        ctx.fillRect(x0, y + 6 + phase * h, w, Math.max(h - 1, 1));
        continue;
      }
      if (row.kind !== 'loop') { ctx.fillStyle = '#7a5'; ctx.fillRect(x0, y + 6, w, 18); continue; }
      if (phase === -1) { ctx.fillStyle = '#000'; ctx.fillRect(x0, y + 1, w, 4); continue; }
      ctx.fillStyle = COLORS[data.phases[phase]] || '#999';
      ctx.fillRect(x0, y + 6, w, 22);
      if (wait > 0) { ctx.fillStyle = '#d9dde3'; ctx.fillRect(x0, y + 6, Math.max(x(start + Math.min(wait, dur)) - x0, 1), 22); }
    }
    // Long iterations with a flame graph of their own: a band under the row (a click there narrows the graph).
    if (row.kind === 'loop' && row.flame !== undefined && window.uvscopeFlame) {
      ctx.fillStyle = '#e67e22';
      for (const [from, to, kind] of window.uvscopeFlame.spans(row.flame)) {
        if (kind !== 'long' || to < view.from || from > view.to) continue;
        const x0 = Math.max(x(from), LABEL);
        ctx.fillRect(x0, y + 29, Math.max(x(to) - x0, 2), 3);
      }
    }
  });
}
function niceStep(raw) { const p = Math.pow(10, Math.floor(Math.log10(raw))); for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p; return 10 * p; }
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  const rect = canvas.getBoundingClientRect();
  const px = (e.clientX - rect.left) * (canvas.width / rect.width);
  const at = view.from + ((px - LABEL) / (canvas.width - LABEL - 10)) * (view.to - view.from);
  const k = e.deltaY < 0 ? 0.8 : 1.25;
  view = { from: at - (at - view.from) * k, to: at + (view.to - at) * k };
  draw();
}, { passive: false });
let drag = null;
canvas.addEventListener('mousedown', (e) => { drag = { x: e.clientX, view: { ...view } }; dragged = false; });
let dragged = false;
// A click (not a drag) on a thread's loop row inside a long iteration or stall narrows its flame graph to it.
canvas.addEventListener('click', (e) => {
  if (dragged || !window.uvscopeFlame) return;
  const rect = canvas.getBoundingClientRect();
  const px = (e.clientX - rect.left) * (canvas.width / rect.width), py = (e.clientY - rect.top) * (canvas.height / rect.height);
  const index = Math.floor((py - TOP) / ROW), row = data.rows[index];
  if (px < LABEL || !row || row.kind !== 'loop' || row.flame === undefined) return;
  const ms = view.from + ((px - LABEL) / (canvas.width - LABEL - 10)) * (view.to - view.from);
  const slack = 3 * (view.to - view.from) / (canvas.width - LABEL - 10);
  // On the stall bar (the row's top): the stall; below: the long iteration around it.
  const first = py - (TOP + index * ROW) < 6 ? 'stall' : 'long';
  let span = window.uvscopeFlame.spanAt(row.flame, ms, first);
  if (span < 0) span = window.uvscopeFlame.spanAt(row.flame, ms);
  if (span < 0) span = window.uvscopeFlame.spanAt(row.flame, ms - slack);
  if (span < 0) span = window.uvscopeFlame.spanAt(row.flame, ms + slack);
  if (span >= 0) window.uvscopeFlame.narrow(row.flame, span);
});
window.addEventListener('mouseup', () => { drag = null; });
window.addEventListener('mousemove', (e) => {
  if (!drag) return;
  if (Math.abs(e.clientX - drag.x) > 3) dragged = true;
  const rect = canvas.getBoundingClientRect();
  const dms = ((e.clientX - drag.x) * (canvas.width / rect.width) / (canvas.width - LABEL - 10)) * (drag.view.to - drag.view.from);
  view = { from: drag.view.from - dms, to: drag.view.to - dms };
  draw();
});
document.getElementById('reset').addEventListener('click', () => { view = { from: 0, to: Math.max(data.durationMs, 1) }; draw(); });
for (const tr of document.querySelectorAll('tr.long, tr.http, tr.stall')) {
  tr.addEventListener('click', () => {
    const from = Number(tr.dataset.from), to = Number(tr.dataset.to), pad = (to - from) * 0.2 + 0.05;
    view = { from: from - pad, to: to + pad };
    draw();
    for (const other of document.querySelectorAll('tr.selected')) other.classList.remove('selected');
    tr.classList.add('selected');
    // A long iteration or stall with CPU samples: its flame graph (the timeline, zoomed, is just above).
    if (tr.dataset.span !== undefined && window.uvscopeFlame) {
      window.uvscopeFlame.narrow(Number(tr.dataset.thread), Number(tr.dataset.span));
      window.uvscopeFlame.element(Number(tr.dataset.thread)).scrollIntoView({ block: 'nearest' });
    } else canvas.scrollIntoView({ behavior: 'smooth' });
  });
}
function drawLines(svg, list) {
  if (!svg) return;
  const NS = 'http://www.w3.org/2000/svg', W = 1200, H = 180, L = 40, B = 20;
  const colors = ['#3b7dd8', '#d0452f', '#4aa564', '#e3a21a', '#8e6fc1', '#444'];
  for (const v of [0, 0.5, 1]) {
    const y = H - B - v * (H - B - 10);
    const line = document.createElementNS(NS, 'line');
    line.setAttribute('x1', L); line.setAttribute('x2', W); line.setAttribute('y1', y); line.setAttribute('y2', y); line.setAttribute('stroke', '#eee');
    svg.appendChild(line);
    const label = document.createElementNS(NS, 'text');
    label.setAttribute('x', 2); label.setAttribute('y', y + 4); label.setAttribute('font-size', '11'); label.textContent = (v * 100) + '%';
    svg.appendChild(label);
  }
  list.forEach((series, i) => {
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('fill', 'none'); line.setAttribute('stroke', colors[i % colors.length]); line.setAttribute('stroke-width', '1.5');
    line.setAttribute('points', series.points.map(([t, u]) => (L + (t / Math.max(data.durationMs, 1)) * (W - L - 10)).toFixed(1) + ',' + (H - B - u * (H - B - 10)).toFixed(1)).join(' '));
    const title = document.createElementNS(NS, 'title'); title.textContent = series.label; line.appendChild(title);
    svg.appendChild(line);
    const label = document.createElementNS(NS, 'text');
    label.setAttribute('x', L + 10 + i * 200); label.setAttribute('y', H - 4); label.setAttribute('font-size', '11'); label.setAttribute('fill', colors[i % colors.length]);
    label.textContent = series.label; svg.appendChild(label);
  });
}
draw();
drawLines(document.querySelector('svg.utilization'), data.utilization);
drawLines(document.querySelector('svg.pool-threads'), data.pools);
</script></body></html>
`;
}
