/**
 * The report's flame graphs as HTML: a section with one interactive canvas graph per thread
 * (flame-graph-data.ts), its data embedded as JSON (every `<` escaped, so no name can close the
 * script element) and the script that draws it. Root at the top, callees below, widest first.
 * On the page: hover shows a frame's function, file:line, total and self time (samples × the
 * sampling interval) and share; a click on a frame zooms into it (its subtree fills the width)
 * and the breadcrumb goes back; the search box highlights matching frames and says their share;
 * colours by kind with a legend; (idle) hidden unless asked (the graph is about where the CPU
 * went; uvscope's traces mark a loop's wait with one (idle) sample, not its length). A long
 * iteration or stall narrows a graph to its samples (`window.uvscopeFlame.narrow`, called by the
 * report's table rows and timeline); "whole run" goes back. Names reach the page only as JSON
 * data and canvas text or textContent: never as markup. Pure function of the data.
 * @internal
 * @module
 */
import type { FlameData } from './flame-graph-data';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Base colours of the kinds (FUNCTION_KINDS order), for the legend; frames vary their lightness. */
const KIND_HSL: [number, number, number][] = [
  [18, 80, 58], // user code: orange
  [48, 75, 50], // node_modules: gold
  [130, 40, 52], // node: internals: green
  [210, 22, 62], // native / V8: blue-grey
  [0, 0, 82], // (idle): light grey
];

export function flameGraphSection(data: FlameData): string {
  if (!data.threads.length) return '<h2>CPU flame graphs</h2>\n<p>None (no CPU samples in this trace).</p>';
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const legend = data.kinds.map((kind, i) => `<span><i style="background:hsl(${KIND_HSL[i][0]},${KIND_HSL[i][1]}%,${KIND_HSL[i][2]}%)"></i>${esc(kind)}</span>`).join('') + '<span><i style="background:#bbb"></i>narrow frames merged</span><span><i style="background:#e020e0"></i>search match</span>';
  const blocks = data.threads
    .map((t, i) => {
      const options = t.spans.map((s, k) => `<option value="${k}">${esc(s.label)} at ${s.fromMs.toFixed(1)} ms</option>`).join('');
      return `<div class="flame" id="flame-${i}" data-thread="${esc(t.key)}"><h3>${esc(t.label)}</h3>
<div class="flame-controls"><select class="flame-span"><option value="-1">whole run</option>${options}</select> <button class="flame-whole" hidden>back to the whole run</button>
<input class="flame-search" type="search" placeholder="search functions" size="24"> <label><input class="flame-idle" type="checkbox"> show (idle)</label></div>
<div class="flame-crumbs"></div><div class="flame-status muted"></div>
<canvas class="flame-canvas" width="1200" height="32"></canvas></div>`;
    })
    .join('\n');
  return `<h2>CPU flame graphs</h2>
<p class="muted">Per thread, the CPU samples of the whole run, or of one long iteration or stall (click one in the tables or on the timeline, or pick it in the list). Width: samples (each about one sampling interval); callers above their callees. Click a frame to zoom into it; hover for times.</p>
<p class="legend">${legend}</p>
${blocks}
<div id="flame-tip"></div>
<script type="application/json" id="flame-data">${json}</script>
<script>${FLAME_SCRIPT}</script>`;
}

/** The CSS the section needs (html.ts puts it in the page's style element). */
export const FLAME_CSS = `.flame{margin:14px 0 24px}.flame h3{margin:6px 0;font-size:15px}.flame-canvas{width:100%;display:block;border:1px solid #ccc;cursor:pointer}
.flame-controls{margin:4px 0}.flame-crumbs{margin:4px 0;font-size:12px}.flame-crumbs button{font-size:12px;margin-right:2px}
#flame-tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #999;padding:4px 8px;font-size:12px;display:none;white-space:pre;max-width:700px;overflow:hidden;z-index:2}`;

const FLAME_SCRIPT = String.raw`
(function () {
'use strict';
const F = JSON.parse(document.getElementById('flame-data').textContent);
const HSL = ${JSON.stringify(KIND_HSL)};
const ROW = 17, W = 1200, MAX_DEPTH = 250, FIELDS = 6;
const tip = document.getElementById('flame-tip');
function frameAt(g, k) { const f = g.frames, o = k * FIELDS; return { k: k, depth: f[o], x: f[o + 1], w: f[o + 2], self: f[o + 3], fn: f[o + 4], merged: f[o + 5] }; }
function nameOf(fr) { return fr.fn < 0 ? '(' + fr.merged + ' narrower frame' + (fr.merged === 1 ? '' : 's') + ')' : (fr.depth === 0 ? 'all' : F.functions[fr.fn][0]); }
function hash(s) { let h = 0; for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0; return h; }
function colorOf(fr) {
  if (fr.fn < 0) return '#bbb';
  if (fr.depth === 0) return '#cfd4da';
  const fn = F.functions[fr.fn], c = HSL[fn[3]];
  const d = (Math.abs(hash(fn[0])) % 15) - 7;
  return 'hsl(' + c[0] + ',' + c[1] + '%,' + Math.max(20, Math.min(90, c[2] + d)) + '%)';
}
function ms(samples, g) { const v = samples * g.intervalUs / 1000; return (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2)) + ' ms'; }
function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(1) + '%' : '0%'; }

function Graph(thread, ti) {
  const el = document.getElementById('flame-' + ti);
  const canvas = el.querySelector('canvas'), ctx = canvas.getContext('2d');
  const select = el.querySelector('.flame-span'), back = el.querySelector('.flame-whole');
  const search = el.querySelector('.flame-search'), idleBox = el.querySelector('.flame-idle');
  const crumbs = el.querySelector('.flame-crumbs'), status = el.querySelector('.flame-status');
  const st = { span: -1, zoom: -1, query: '', idle: false, drawn: [], range: [0, 0], matched: 0 };
  const graph = () => st.span < 0 ? thread.whole : thread.spans[st.span].graph;
  const matches = (fr) => {
    if (!st.query || fr.fn < 0 || fr.depth === 0) return false;
    const fn = F.functions[fr.fn];
    return fn[0].toLowerCase().includes(st.query) || fn[1].toLowerCase().includes(st.query);
  };
  function base(g) { return [0, st.idle ? g.samples : g.samples - g.idleSamples]; }
  function render() {
    const g = graph(), n = g.frames.length / FIELDS;
    const zoom = st.zoom >= 0 ? frameAt(g, st.zoom) : null;
    const b = base(g);
    const r0 = zoom ? zoom.x : b[0], r1 = zoom ? zoom.x + zoom.w : b[1];
    st.range = [r0, r1];
    const span = Math.max(r1 - r0, 1e-9);
    // What to draw: frames overlapping the range (ancestors of the zoomed frame span the width).
    const list = [];
    let maxDepth = 0;
    // Matched samples: frames that match with no matching ancestor (a stack counts once).
    let matched = 0;
    const matchedUntil = []; // by depth: x end of the matching ancestor on the current path
    for (let k = 0; k < n; k++) {
      const fr = frameAt(g, k);
      if (fr.depth > MAX_DEPTH) continue;
      if (fr.x >= r1 || fr.x + fr.w <= r0 || fr.w <= 0) continue;
      if (zoom && fr.depth < zoom.depth && !(fr.x <= zoom.x && fr.x + fr.w >= zoom.x + zoom.w)) continue;
      if (!st.idle && fr.depth === 1 && fr.fn >= 0 && F.functions[fr.fn][3] === 4) continue;
      const x0 = Math.max(fr.x, r0), x1 = Math.min(fr.x + fr.w, r1);
      const px = (x0 - r0) / span * W, pw = (x1 - x0) / span * W;
      const hit = matches(fr);
      if (hit) {
        let inside = false;
        for (let d = 0; d < fr.depth; d++) if (matchedUntil[d] !== undefined && matchedUntil[d] > fr.x) { inside = true; break; }
        if (!inside) matched += x1 - x0;
        matchedUntil[fr.depth] = fr.x + fr.w;
      } else matchedUntil[fr.depth] = undefined;
      if (pw < 0.3) continue;
      if (fr.depth > maxDepth) maxDepth = fr.depth;
      list.push({ fr: fr, px: px, pw: pw, hit: hit });
    }
    st.matched = matched;
    canvas.height = (maxDepth + 1) * ROW + 2;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    st.drawn = [];
    for (const d of list) {
      const y = d.fr.depth * ROW;
      ctx.fillStyle = d.hit ? '#e020e0' : colorOf(d.fr);
      ctx.fillRect(d.px, y, Math.max(d.pw - 0.5, 0.5), ROW - 1);
      if (d.pw > 28) {
        const label = nameOf(d.fr) + (d.fr.depth === 0 ? ': ' + ms(r1 - r0, g) : '');
        const room = Math.floor((d.pw - 6) / 6.2);
        ctx.fillStyle = '#111';
        ctx.fillText(label.length > room ? label.slice(0, Math.max(room - 1, 1)) + '…' : label, d.px + 3, y + ROW / 2);
      }
      st.drawn.push({ k: d.fr.k, name: nameOf(d.fr), x: d.px, y: y, w: d.pw, h: ROW - 1 });
    }
    // Controls and text.
    select.value = String(st.span);
    back.hidden = st.span < 0;
    crumbs.textContent = '';
    const path = [];
    if (zoom) for (let k = 0; k < n; k++) { const fr = frameAt(g, k); if (fr.depth <= zoom.depth && fr.x <= zoom.x && fr.x + fr.w >= zoom.x + zoom.w && (fr.depth < zoom.depth || fr.k === zoom.k)) path[fr.depth] = fr; }
    (path.length ? path : [frameAt(g, 0)]).forEach((fr, i) => {
      if (!fr) return;
      if (i) crumbs.appendChild(document.createTextNode(' › '));
      const button = document.createElement('button');
      button.textContent = i === 0 ? 'all' : nameOf(fr);
      button.disabled = fr.k === (zoom ? zoom.k : 0);
      button.addEventListener('click', () => { st.zoom = i === 0 ? -1 : fr.k; render(); });
      crumbs.appendChild(button);
    });
    const what = st.span < 0 ? 'whole run' + (thread.source === 'cpuTree' ? ' (every sample of the run)' : ' (the trace\'s timed samples)') : thread.spans[st.span].label;
    const total = b[1] - b[0];
    let text = what + ': ' + total + ' samples, ' + ms(total, g) + ' at ' + (g.intervalUs / 1000).toFixed(2) + ' ms a sample';
    if (g.idleSamples) text += '; (idle): ' + g.idleSamples + ' samples' + (st.idle ? '' : ', hidden');
    if (g.mergedNodes) text += '; frames under ' + g.minSamples + ' samples merged (' + g.mergedNodes + ')';
    if (!g.samples) text += ' (no CPU samples in this span: the thread was not sampled then)';
    if (st.query) text += '; matches "' + st.query + '": ' + pct(matched, r1 - r0) + ' of ' + Math.round(r1 - r0) + ' samples shown';
    status.textContent = text;
  }
  function hitTest(e) {
    const rect = canvas.getBoundingClientRect();
    const x = (e.clientX - rect.left) * (canvas.width / rect.width), y = (e.clientY - rect.top) * (canvas.height / rect.height);
    for (const d of st.drawn) if (x >= d.x && x < d.x + d.w && y >= d.y && y < d.y + d.h) return d;
    return null;
  }
  canvas.addEventListener('click', (e) => {
    const d = hitTest(e);
    if (!d) return;
    st.zoom = d.k === 0 ? -1 : d.k;
    render();
  });
  canvas.addEventListener('mousemove', (e) => {
    const d = hitTest(e);
    if (!d) { tip.style.display = 'none'; return; }
    const g = graph(), fr = frameAt(g, d.k), all = base(g)[1] - base(g)[0];
    const lines = [nameOf(fr)];
    if (fr.fn >= 0 && fr.depth > 0) {
      const fn = F.functions[fr.fn];
      lines.push(fn[1] ? fn[1] + (fn[2] ? ':' + fn[2] : '') : F.kinds[fn[3]]);
    }
    lines.push('total: ' + ms(fr.w, g) + ' (' + fr.w + ' samples), ' + pct(fr.w, all) + ' of this graph' + (st.zoom >= 0 ? ', ' + pct(fr.w, st.range[1] - st.range[0]) + ' of the zoomed frame' : ''));
    lines.push('self: ' + ms(fr.self, g) + ' (' + fr.self + ' samples)');
    if (fr.fn < 0) lines.push('merged: ' + fr.merged + ' call-tree nodes, each under ' + g.minSamples + ' samples');
    tip.textContent = lines.join('\n');
    tip.style.display = 'block';
    tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 320) + 'px';
    tip.style.top = (e.clientY + 14) + 'px';
  });
  canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
  select.addEventListener('change', () => narrow(Number(select.value)));
  back.addEventListener('click', () => narrow(-1));
  search.addEventListener('input', () => { st.query = search.value.trim().toLowerCase(); render(); });
  idleBox.addEventListener('change', () => { st.idle = idleBox.checked; st.zoom = -1; render(); });
  function narrow(span) { st.span = span >= 0 && span < thread.spans.length ? span : -1; st.zoom = -1; render(); }
  render();
  return {
    el: el,
    narrow: narrow,
    spanAt: (ms, kind) => {
      let best = -1;
      thread.spans.forEach((s, i) => { if (ms >= s.fromMs && ms <= s.toMs && (!kind || s.kind === kind) && (best < 0 || s.toMs - s.fromMs < thread.spans[best].toMs - thread.spans[best].fromMs)) best = i; });
      return best;
    },
    spans: () => thread.spans.map((s) => [s.fromMs, s.toMs, s.kind]),
    state: () => ({ span: st.span, zoom: st.zoom, samples: st.range[1] - st.range[0], matched: st.matched, drawn: st.drawn.map((d) => ({ name: d.name, x: d.x, y: d.y, w: d.w, h: d.h })) }),
  };
}
const graphs = F.threads.map(Graph);
const byKey = new Map(F.threads.map((t, i) => [t.key, i]));
window.uvscopeFlame = {
  threads: F.threads.length,
  index: (key) => byKey.has(key) ? byKey.get(key) : -1,
  narrow: (ti, span) => { const g = graphs[ti]; if (g) g.narrow(span); return g; },
  spanAt: (ti, ms, kind) => graphs[ti] ? graphs[ti].spanAt(ms, kind) : -1,
  spans: (ti) => graphs[ti] ? graphs[ti].spans() : [],
  state: (ti) => graphs[ti] ? graphs[ti].state() : undefined,
  element: (ti) => graphs[ti] ? graphs[ti].el : undefined,
};
})();
`;
