/**
 * The flame graph of a real traced run in headless Chromium: `uvscope trace --html` of an app
 * with a hot function (`hotLoop`, 120 ms in one timer: a long iteration and a stall) among light
 * work spread over the run, and a function named with markup. The page draws the whole run's
 * graph with `hotLoop`; a click on the long iteration's row narrows it (fewer samples, hotLoop's
 * share up); a click on a frame zooms into it and the breadcrumb goes back; hover tells the
 * frame's times; a click on the stall on the timeline narrows to the stall; "back to the whole
 * run" returns; (idle) is hidden until its box is checked; the markup name is drawn as text
 * (no element made of it); no console errors, no request. Skipped (with a message) without
 * Chromium.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, inChromium } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const MARKUP = '</script><img src=x onerror=alert(1)>';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-flame-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium) test.skip(`flame graph in headless Chromium: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`, () => {});
const chromium = haveChromium ? test : test.skip;

type State = { span: number; zoom: number; samples: number; matched: number; drawn: { name: string; x: number; y: number; w: number; h: number }[] };

chromium('the flame graph of a traced run: drawn, narrowed to a long iteration and a stall, zoomed, searched, hovered', async () => {
  const out = path.join(dir, 'flame.json');
  const html = path.join(dir, 'flame.html');
  const result = spawnSync(process.execPath, [cli, 'trace', '--stall-ms', '50', '--out', out, '--html', html, '--', process.execPath, path.join(__dirname, 'fixtures', 'flame-app.js')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect({ code: result.status, stderr: result.stderr }).toMatchObject({ code: 0 });
  const page = fs.readFileSync(html, 'utf8');
  expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  expect(page).not.toContain('<img');

  const { result: seen, problems } = await inChromium(html, async (tab) => {
    await tab.setViewportSize({ width: 1400, height: 1000 });
    const state = (): Promise<State> => tab.evaluate(() => (globalThis as any).uvscopeFlame.state(0));
    /** Clicks (or hovers) the middle of the drawn frame named `name` in graph 0. */
    const at = async (name: string) => {
      const s = await state();
      const d = s.drawn.find((f) => f.name === name);
      if (!d) throw new Error(`no frame ${name} drawn: ${s.drawn.map((f) => f.name).join(', ')}`);
      const box = await tab.evaluate(() => {
        const canvas = (globalThis as any).document.querySelector('#flame-0 canvas');
        const r = canvas.getBoundingClientRect();
        return { left: r.left, top: r.top, sx: r.width / canvas.width, sy: r.height / canvas.height };
      });
      return { x: box.left + (d.x + d.w / 2) * box.sx, y: box.top + (d.y + d.h / 2) * box.sy };
    };
    const whole = await state();
    const pixels = await tab.evaluate(() => {
      const canvas = (globalThis as any).document.querySelector('#flame-0 canvas');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
      return painted / (data.length / 4);
    });
    const markupDrawnAsText = whole.drawn.some((f) => f.name === MARKUP);
    const elements = await tab.evaluate(() => (globalThis as any).document.querySelectorAll('img').length);

    // Search: hotLoop's share of the whole run.
    await tab.fill('#flame-0 .flame-search', 'hotLoop');
    const wholeSearched = await state();
    const statusWhole = await tab.textContent('#flame-0 .flame-status');

    // The long iteration's row (hotLoop's: the longest but the startup, which a loaded machine can make longer) narrows the graph.
    await tab.evaluate(() => {
      const rows = [...(globalThis as any).document.querySelectorAll('tr.long[data-span]')];
      rows.find((r: any) => r.cells[1].textContent !== 'startup')?.setAttribute('id', 'hot-row');
    });
    const row = tab.locator('#hot-row');
    const rowText = await row.textContent();
    await row.click();
    const narrowed = await state();
    const selected = await tab.inputValue('#flame-0 .flame-span');

    // Hover over hotLoop: its function, file:line, times.
    const hot = await at('hotLoop');
    await tab.mouse.move(hot.x, hot.y);
    const tip = { visible: await tab.isVisible('#flame-tip'), text: await tab.textContent('#flame-tip') };

    // Zoom into hotLoop's callee `spin`, then back with the breadcrumb.
    const spin = await at('spin');
    await tab.mouse.click(spin.x, spin.y);
    const zoomed = await state();
    const crumbs = await tab.textContent('#flame-0 .flame-crumbs');
    await tab.click('#flame-0 .flame-crumbs button:first-child');
    const unzoomed = await state();

    // Back to the whole run; (idle) hidden until asked for.
    await tab.click('#flame-0 .flame-whole');
    const back = await state();
    await tab.check('#flame-0 .flame-idle');
    const withIdle = await state();
    await tab.uncheck('#flame-0 .flame-idle');

    // A click on the stall on the timeline (its middle, on the stall's bar in the thread's loop row) narrows to the stall.
    await tab.click('#reset');
    const stall = await tab.evaluate(() => {
      const w = globalThis as any;
      const spans = w.uvscopeFlame.spans(0) as [number, number, string][];
      const index = spans.findIndex((s) => s[2] === 'stall');
      if (index < 0) return { index };
      const data = JSON.parse(w.document.getElementById('data').textContent);
      const canvas = w.document.getElementById('timeline');
      const r = canvas.getBoundingClientRect();
      const ms = (spans[index][0] + spans[index][1]) / 2;
      // The timeline's geometry (html.ts): labels 260 px, rows 34 px from 30 px, 10 px right margin.
      const px = 260 + (ms / Math.max(data.durationMs, 1)) * (canvas.width - 270);
      const row = data.rows.findIndex((x: any) => x.kind === 'loop' && x.flame === 0);
      // On the stall's bar, at the top of the row (below it, the long iteration around the stall is picked).
      const y = (dy: number) => r.top + (30 + row * 34 + dy) * (r.height / canvas.height);
      return { index, x: r.left + px * (r.width / canvas.width), y: y(3), band: y(30) };
    });
    if (stall.index >= 0) await tab.mouse.click(stall.x!, stall.y!);
    const onStall = await state();
    // The same time on the long iteration's band, at the bottom of the row: the long iteration around the stall.
    if (stall.index >= 0) await tab.mouse.click(stall.x!, stall.band!);
    const onBand = await state();
    const bandKind = await tab.evaluate((i: number) => (globalThis as any).uvscopeFlame.spans(0)[i]?.[2], onBand.span);
    return { whole, pixels, markupDrawnAsText, elements, wholeSearched, statusWhole, rowText, narrowed, selected, tip, zoomed, crumbs, unzoomed, back, withIdle, stall: stall.index, onStall, onBand, bandKind };
  });

  const { whole, narrowed } = seen;
  // The whole run: frames drawn, hotLoop among them, the markup name drawn as text, no element made of it.
  expect(seen.pixels).toBeGreaterThan(0.05);
  expect(whole.span).toBe(-1);
  expect(whole.drawn.map((f) => f.name)).toEqual(expect.arrayContaining(['all', 'hotLoop', 'spin', 'backgroundWork']));
  expect(seen.markupDrawnAsText).toBe(true);
  expect(seen.elements).toBe(0);
  expect(seen.statusWhole).toMatch(/matches "hotloop": [\d.]+% of \d+ samples shown/);
  // Narrowed to the long iteration: fewer samples, hotLoop's share up (nearly all of it).
  expect(seen.rowText).toMatch(/^main thread.*\d/);
  expect(narrowed.span).toBeGreaterThanOrEqual(0);
  expect(seen.selected).toBe(String(narrowed.span));
  expect(narrowed.samples).toBeGreaterThan(0);
  expect(narrowed.samples).toBeLessThan(seen.wholeSearched.samples);
  const wholeShare = seen.wholeSearched.matched / seen.wholeSearched.samples;
  const spanShare = narrowed.matched / narrowed.samples;
  expect(spanShare).toBeGreaterThan(wholeShare);
  expect(spanShare).toBeGreaterThan(0.6);
  expect(narrowed.drawn.map((f) => f.name)).not.toContain('backgroundWork');
  // Hover.
  expect(seen.tip.visible).toBe(true);
  expect(seen.tip.text).toMatch(/^hotLoop\n.*flame-app\.js:\d+\ntotal: [\d.]+ ms \(\d+ samples\), [\d.]+% of this graph\nself: /);
  // Zoom: spin fills the width, the breadcrumb shows the path; back to all.
  expect(seen.zoomed.zoom).toBeGreaterThan(0);
  expect(seen.zoomed.samples).toBeLessThan(narrowed.samples);
  const spinFrame = seen.zoomed.drawn.find((f) => f.name === 'spin')!;
  expect(spinFrame.x).toBeCloseTo(0, 0);
  expect(spinFrame.w).toBeCloseTo(1200, 0);
  expect(seen.crumbs).toMatch(/all › .*hotLoop › spin/);
  expect(seen.unzoomed).toMatchObject({ zoom: -1, samples: narrowed.samples });
  expect(seen.back).toMatchObject({ span: -1, samples: whole.samples });
  expect(whole.drawn.map((f) => f.name)).not.toContain('(idle)');
  expect(seen.withIdle.samples).toBeGreaterThan(whole.samples);
  expect(seen.withIdle.drawn.map((f) => f.name)).toContain('(idle)');
  // The stall, clicked on the timeline.
  expect(seen.stall).toBeGreaterThanOrEqual(0);
  expect(seen.onStall.span).toBe(seen.stall);
  expect(seen.onStall.samples).toBeLessThan(whole.samples);
  expect(seen.bandKind).toBe('long');
  expect(seen.onBand.samples).toBeGreaterThanOrEqual(seen.onStall.samples);
  expect(problems).toEqual([]);
}, 120_000);
