/**
 * The flame graphs' data preparation (src/cli/trace/flame-graph-*.ts), checked against an
 * independent fold of the raw samples: a trace's timed samples read back from Profile /
 * ProfileChunk events (nodes spread over chunks, several profiles per thread), folded over the
 * whole run or a span, laid out (totals equal the samples, children inside their parents, self
 * plus children equal a frame's width), bounded (merging of narrow frames, the frame cap),
 * (idle) last at the root; the whole run from a thread's cpuTree when there is one; spans for
 * long iterations and stalls; names that are markup stay data in the page; the page's size for
 * a big profile.
 */
import type { CpuProfile, CpuProfileNode } from '../../src/trace/cpu-profiler';
import { CpuTree, CpuTreeBuilder } from '../../src/trace/cpu-tree';
import { profileEvents } from '../../src/trace/profile-events';
import type { TraceEvent } from '../../src/trace/trace-event';
import { analyzeTrace } from '../../src/trace/analysis';
import type { TraceFile } from '../../src/trace/trace-model';
import { FunctionTable } from '../../src/cli/trace/flame-graph-functions';
import { FRAME_FIELDS, FlameLayout, layoutFlameGraph, WHOLE_RUN_LIMITS } from '../../src/cli/trace/flame-graph-layout';
import { foldSamples, threadSamples } from '../../src/cli/trace/flame-graph-samples';
import { flameGraphData } from '../../src/cli/trace/flame-graph-data';
import { renderTraceHtml } from '../../src/cli/trace/html';

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const UNLIMITED = { maxFrames: Infinity, minFraction: 0 };

/**
 * A V8-shaped profile: `nodes` call-tree nodes under a (root) (an (idle) child among them),
 * names drawn from a small set so that paths repeat, `samples` samples about 1 ms apart with
 * some longer gaps, starting at `startUs`.
 */
function syntheticProfile(seed: number, nodes: number, samples: number, startUs = 1_000_000): CpuProfile {
  const rnd = random(seed);
  const frame = (functionName: string, url = '', line = -1): CpuProfileNode['callFrame'] => ({ functionName, scriptId: '1', url, lineNumber: line, columnNumber: line < 0 ? -1 : 4 });
  const list: CpuProfileNode[] = [
    { id: 1, callFrame: frame('(root)'), children: [] },
    { id: 2, callFrame: frame('(idle)'), children: [] },
    { id: 3, callFrame: frame('(program)'), children: [] },
    { id: 4, callFrame: frame('(garbage collector)'), children: [] },
  ];
  list[0].children!.push(2, 3, 4);
  const urls = ['file:///app/server.js', 'node:internal/timers', 'file:///app/node_modules/lib/index.js', ''];
  // Parents among the earlier nodes (not the leaves (idle), (program), GC), biased to recent ones: deep trees.
  const candidates = [list[0]];
  for (let id = 5; id <= nodes; id++) {
    const parent = candidates[Math.max(0, candidates.length - 1 - Math.floor(rnd() ** 3 * candidates.length))];
    const k = Math.floor(rnd() * 12);
    const node: CpuProfileNode = { id, callFrame: frame(k === 11 ? '' : `fn${k}`, urls[k % 4], k * 10), children: [] };
    list.push(node);
    candidates.push(node);
    parent.children!.push(id);
  }
  const ids: number[] = [];
  const deltas: number[] = [];
  for (let i = 0; i < samples; i++) {
    ids.push(rnd() < 0.05 ? 2 : 1 + Math.floor(rnd() ** 0.7 * nodes)); // 5% (idle)
    deltas.push(i === 0 ? 50 : rnd() < 0.02 ? 5_000 + Math.floor(rnd() * 20_000) : 900 + Math.floor(rnd() * 200));
  }
  let endUs = startUs;
  for (const d of deltas) endUs += d;
  return { nodes: list, startTime: startUs, endTime: endUs, samples: ids, timeDeltas: deltas };
}

/** Chrome's form of a profile (nodes with their parent, spread over chunks of `chunk` samples: each chunk declares the nodes its samples first use). */
function chromeEvents(pid: number, tid: number, id: string, profile: CpuProfile, chunk: number): TraceEvent[] {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const declared = new Set<number>();
  const events: TraceEvent[] = [{ name: 'Profile', ph: 'P', id, pid, tid, ts: profile.startTime, args: { data: { startTime: profile.startTime } } }];
  for (let from = 0; from < profile.samples.length; from += chunk) {
    const samples = profile.samples.slice(from, from + chunk);
    const nodes: { id: number; parent?: number; callFrame: CpuProfileNode['callFrame'] }[] = [];
    const declare = (nodeId: number) => {
      if (declared.has(nodeId)) return;
      if (parent.has(nodeId)) declare(parent.get(nodeId)!);
      declared.add(nodeId);
      nodes.push({ id: nodeId, callFrame: byId.get(nodeId)!.callFrame, ...(parent.has(nodeId) ? { parent: parent.get(nodeId) } : {}) });
    };
    samples.forEach(declare);
    events.push({ name: 'ProfileChunk', ph: 'P', id, pid, tid, ts: profile.startTime, args: { data: { cpuProfile: { nodes, samples }, timeDeltas: profile.timeDeltas.slice(from, from + chunk) } } });
  }
  return events;
}

const key = (functionName: string, url: string, line: number) => `${functionName || '(anonymous)'}@${url.replace(/^file:\/\//, '')}:${line >= 0 ? line + 1 : 0}`;

/** Independent fold: samples per root-to-leaf path (the root left out), of samples at times in [fromUs, toUs). */
function rawFold(profiles: CpuProfile[], fromUs = -Infinity, toUs = Infinity): Map<string, number> {
  const out = new Map<string, number>();
  for (const profile of profiles) {
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      t += profile.timeDeltas[i];
      if (t < fromUs || t >= toUs) return;
      const names: string[] = [];
      for (let at: number | undefined = id; at !== undefined && parent.has(at); at = parent.get(at)) {
        const f = byId.get(at)!.callFrame;
        names.unshift(key(f.functionName, f.url, f.lineNumber));
      }
      const path = names.join(';');
      out.set(path, (out.get(path) ?? 0) + 1);
    });
  }
  return out;
}

type Frame = { depth: number; x: number; w: number; self: number; fn: number; merged: number };
const framesOf = (layout: FlameLayout): Frame[] => {
  const out: Frame[] = [];
  for (let o = 0; o < layout.frames.length; o += FRAME_FIELDS) {
    const [depth, x, w, self, fn, merged] = layout.frames.slice(o, o + FRAME_FIELDS);
    out.push({ depth, x, w, self, fn, merged });
  }
  return out;
};

/** Self samples per root-to-frame path, read back from the laid-out frames (merged frames as `(merged)`). */
function layoutFold(layout: FlameLayout, table: FunctionTable): Map<string, number> {
  const rows = table.rows();
  const out = new Map<string, number>();
  const path: string[] = [];
  for (const f of framesOf(layout)) {
    if (f.depth === 0) {
      // Samples of the root itself (a profile's (root) node sampled): the empty path.
      if (f.self) out.set('', f.self);
      continue;
    }
    path.length = f.depth - 1;
    path.push(f.fn < 0 ? '(merged)' : `${rows[f.fn][0]}@${rows[f.fn][1]}:${rows[f.fn][2]}`);
    if (f.self) out.set(path.join(';'), (out.get(path.join(';')) ?? 0) + f.self);
  }
  return out;
}

/** The layout's invariants: the root spans every sample, a frame's children lie inside it and with its self time fill it. */
function checkGeometry(layout: FlameLayout): void {
  const frames = framesOf(layout);
  expect(frames[0]).toMatchObject({ depth: 0, x: 0, w: layout.samples });
  const stack: (Frame & { childWidth: number; nextX: number })[] = [];
  const close = (until: number) => {
    while (stack.length > until) {
      const f = stack.pop()!;
      expect(f.childWidth + f.self).toBe(f.w);
    }
  };
  for (const f of frames) {
    close(f.depth);
    if (f.depth > 0) {
      const parent = stack[f.depth - 1];
      expect(parent).toBeDefined();
      expect(f.x).toBe(parent.nextX); // siblings side by side, from the parent's left edge
      expect(f.x + f.w).toBeLessThanOrEqual(parent.x + parent.w);
      parent.childWidth += f.w;
      parent.nextX += f.w;
    }
    expect(f.w).toBeGreaterThan(0);
    stack.push({ ...f, childWidth: 0, nextX: f.x });
  }
  close(0);
}

function traceFile(events: TraceEvent[], threads: Record<string, unknown>[] = [{ tid: 0, name: 'main thread', longIterations: [], dropped: {}, cpuSamples: 0, complete: true }]): TraceFile {
  return {
    traceEvents: [
      { name: 'process_name', ph: 'M', pid: 7, args: { name: 'node app.js' } },
      { name: 'thread_name', ph: 'M', pid: 7, tid: 0, args: { name: 'main thread' } },
      ...events,
    ],
    uvscope: { blockMs: 20, processes: [{ pid: 7, threads } as never] },
  };
}

describe('flame graph data: timed samples read back and folded', () => {
  const a = syntheticProfile(1, 300, 9_000);
  const b = syntheticProfile(2, 120, 3_000, a.endTime + 50_000);
  // Two profiles on one thread (the second one's id reused, as a rotating recorder may), nodes over several chunks.
  const events = [...chromeEvents(7, 0, '0x1', a, 1_000), ...chromeEvents(7, 0, '0x1', b, 700), ...chromeEvents(7, 3, '0x4', syntheticProfile(3, 50, 500), 100)];

  test('every sample of every profile of the thread, at its time', () => {
    const samples = threadSamples(events);
    expect([...samples.keys()].sort()).toEqual(['7:0', '7:3']);
    const main = samples.get('7:0')!;
    expect(main.profiles).toHaveLength(2);
    expect(main.samples).toBe(12_000);
    expect(main.intervalUs).toBeGreaterThanOrEqual(900);
    expect(main.intervalUs).toBeLessThanOrEqual(1_100);
  });

  test('the whole run: the layout has every sample, on the paths of an independent fold', () => {
    const table = new FunctionTable();
    const layout = layoutFlameGraph(foldSamples(threadSamples(events).get('7:0')!), table, UNLIMITED);
    expect(layout.samples).toBe(12_000);
    expect(layout.mergedNodes).toBe(0);
    checkGeometry(layout);
    expect(layoutFold(layout, table)).toEqual(rawFold([a, b]));
  });

  test('a span counts only its samples (one profile, across two profiles, none)', () => {
    const main = threadSamples(events).get('7:0')!;
    const spans: [number, number][] = [
      [a.startTime + 2_000_000, a.startTime + 2_130_000],
      [a.endTime - 400_000, b.startTime + 300_000],
      [a.endTime + 1, a.endTime + 40_000],
    ];
    for (const [fromUs, toUs] of spans) {
      const table = new FunctionTable();
      const layout = layoutFlameGraph(foldSamples(main, fromUs, toUs), table, UNLIMITED);
      const raw = rawFold([a, b], fromUs, toUs);
      const expected = [...raw.values()].reduce((s, v) => s + v, 0);
      expect(layout.samples).toBe(expected);
      if (expected) {
        checkGeometry(layout);
        expect(layoutFold(layout, table)).toEqual(raw);
      } else expect(layout.frames.slice(0, 3)).toEqual([0, 0, 0]);
    }
    // The first span is a real narrowing: fewer samples than the run, more than none.
    expect(foldSamples(main, spans[0][0], spans[0][1]).samples).toBeGreaterThan(50);
    expect(foldSamples(main, spans[0][0], spans[0][1]).samples).toBeLessThan(500);
  });

  test("the trace writer's own form (profile-events.ts profileEvents) reads back the same", () => {
    const originNs = 400_000_000n;
    const written = profileEvents(7, 0, a, originNs);
    const main = threadSamples(written).get('7:0')!;
    const table = new FunctionTable();
    const layout = layoutFlameGraph(foldSamples(main), table, UNLIMITED);
    expect(layoutFold(layout, table)).toEqual(rawFold([a]));
    // Times on the trace's clock: the profile's µs less the origin.
    const fromUs = a.startTime - 400_000 + 1_000_000;
    const toUs = fromUs + 250_000;
    expect(foldSamples(main, fromUs, toUs).samples).toBe([...rawFold([a], fromUs + 400_000, toUs + 400_000).values()].reduce((s, v) => s + v, 0));
  });

  test('samples naming a node no chunk declared count as (unknown) under the root', () => {
    const events2: TraceEvent[] = [
      { name: 'Profile', ph: 'P', id: '0x9', pid: 1, tid: 0, ts: 0 },
      { name: 'ProfileChunk', ph: 'P', id: '0x9', pid: 1, tid: 0, ts: 0, args: { data: { cpuProfile: { nodes: [{ id: 1, callFrame: { functionName: '(root)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 } }, { id: 2, parent: 1, callFrame: { functionName: 'f', scriptId: '1', url: 'file:///a.js', lineNumber: 0, columnNumber: 0 } }], samples: [2, 99, 2] }, timeDeltas: [1, 1000, 1000] } } },
    ];
    const table = new FunctionTable();
    const layout = layoutFlameGraph(foldSamples(threadSamples(events2).get('1:0')!), table, UNLIMITED);
    expect(layoutFold(layout, table)).toEqual(new Map([['f@/a.js:1', 2], ['(unknown)@:0', 1]]));
  });
});

describe('flame graph layout: bounded', () => {
  const big = syntheticProfile(5, 30_000, 200_000);
  const builder = new CpuTreeBuilder(1000);
  builder.addProfile(big);
  const tree = builder.tree();

  test('over the frame cap: narrow frames merged per parent, the totals and geometry kept, (idle) kept last', () => {
    const table = new FunctionTable();
    const layout = layoutFlameGraph(tree, table, { maxFrames: 2_000, minFraction: 0 });
    const frames = framesOf(layout);
    expect(frames.length).toBeLessThanOrEqual(2_000);
    expect(frames.length).toBeGreaterThan(500); // the threshold rises only as far as it must
    expect(layout.samples).toBe(200_000);
    expect(layout.mergedNodes).toBeGreaterThan(0);
    checkGeometry(layout);
    for (const f of frames) if (f.depth > 0 && f.fn >= 0 && table.rows()[f.fn][0] !== '(idle)') expect(f.w).toBeGreaterThanOrEqual(layout.minSamples);
    // Merged frames are leaves standing for whole subtrees; the samples of the paths they end add up.
    expect(frames.filter((f) => f.fn < 0).every((f) => f.self === f.w && f.merged > 0)).toBe(true);
    const rootChildren = frames.filter((f) => f.depth === 1);
    const idle = rootChildren[rootChildren.length - 1];
    expect(table.rows()[idle.fn][0]).toBe('(idle)');
    expect(idle.x + idle.w).toBe(layout.samples);
    expect(layout.idleSamples).toBe(idle.w);
  });

  test('a tiny (idle) is not merged away', () => {
    const t: CpuTree = {
      intervalUs: 1000,
      samples: 10_001,
      nodes: [
        { id: 1, parent: 0, functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1, selfSamples: 0 },
        { id: 2, parent: 1, functionName: '(idle)', url: '', lineNumber: -1, columnNumber: -1, selfSamples: 1 },
        { id: 3, parent: 1, functionName: 'work', url: 'file:///a.js', lineNumber: 1, columnNumber: 1, selfSamples: 10_000 },
      ],
    };
    const table = new FunctionTable();
    const layout = layoutFlameGraph(t, table, { maxFrames: 100, minFraction: 0.01 });
    expect(framesOf(layout).map((f) => [table.rows()[f.fn][0], f.x, f.w])).toEqual([
      ['(root)', 0, 10_001],
      ['work', 0, 10_000],
      ['(idle)', 10_000, 1],
    ]);
  });

  test('kinds: user code, node_modules, node: internals, native / V8, (idle)', () => {
    const table = new FunctionTable();
    const kinds = [
      { functionName: 'handler', url: 'file:///srv/app.js', lineNumber: 3 },
      { functionName: 'parse', url: 'file:///srv/node_modules/qs/index.js', lineNumber: 3 },
      { functionName: 'listOnTimeout', url: 'node:internal/timers', lineNumber: 3 },
      { functionName: '(garbage collector)', url: '', lineNumber: -1 },
      { functionName: '(idle)', url: '', lineNumber: -1 },
    ].map((f) => table.rows()[table.add(f)][3]);
    expect(kinds).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('flame graph data of a trace: the whole run and its spans', () => {
  const profile = syntheticProfile(9, 200, 4_000, 0);
  const events = chromeEvents(7, 0, '0x1', profile, 1_000);
  // A long iteration and a stall somewhere inside the samples.
  const longEndUs = 1_500_000;
  const stall: TraceEvent = { name: 'stall', cat: 'stall', ph: 'X', pid: 7, tid: 0, ts: 2_000_000, dur: 300_000, args: { phase: 'timers', durationMs: 300 } };
  const slice: TraceEvent = { name: 'timers', cat: 'loop', ph: 'X', pid: 7, tid: 0, ts: 0, dur: 10, args: { iteration: 1 } };
  const thread = { tid: 0, name: 'main thread', longIterations: [{ iteration: 12, endedAtUs: longEndUs, durationMs: 120, pollWaitMs: 0, pollWorkMs: 0, outsidePollMs: 120 }], dropped: {}, cpuSamples: 4_000, complete: true };

  test('from the timed samples when the thread has no cpuTree; spans with exactly their samples', () => {
    const file = traceFile([slice, stall, ...events], [thread]);
    const data = flameGraphData(file, analyzeTrace(file));
    expect(data.threads).toHaveLength(1);
    const t = data.threads[0];
    expect(t.source).toBe('samples');
    expect(t.whole.samples).toBe(4_000);
    const count = (fromUs: number, toUs: number) => [...rawFold([profile], fromUs, toUs).values()].reduce((s, v) => s + v, 0);
    const long = t.spans.find((s) => s.kind === 'long')!;
    expect(long.graph.samples).toBe(count(longEndUs - 120_000, longEndUs));
    expect(long.graph.samples).toBeGreaterThan(0);
    const st = t.spans.find((s) => s.kind === 'stall')!;
    expect(st.graph.samples).toBe(count(2_000_000, 2_300_000));
    expect(st.toMs - st.fromMs).toBeCloseTo(300, 3);
  });

  test("from the thread's cpuTree when there is one (every sample of the run, also those whose times were not kept)", () => {
    const whole = syntheticProfile(10, 400, 50_000);
    const builder = new CpuTreeBuilder(1000);
    builder.addProfile(whole);
    const file = traceFile([slice, stall, ...events], [{ ...thread, cpuTree: builder.tree() }]);
    const data = flameGraphData(file, analyzeTrace(file));
    expect(data.threads[0].source).toBe('cpuTree');
    expect(data.threads[0].whole.samples).toBe(50_000);
    // Spans still come from the timed samples.
    expect(data.threads[0].spans.find((s) => s.kind === 'stall')!.graph.samples).toBe([...rawFold([profile], 2_000_000, 2_300_000).values()].reduce((s, v) => s + v, 0));
  });

  test('a thread without samples has no graph; a trace without any says so', () => {
    const file = traceFile([slice]);
    expect(flameGraphData(file, analyzeTrace(file)).threads).toEqual([]);
    expect(renderTraceHtml(file)).toContain('None (no CPU samples in this trace)');
  });
});

describe('flame graph in the page: names are data', () => {
  const MARKUP = '</script><img src=x onerror=alert(1)>';
  const URL = 'file:///srv/"><script>alert(2)</script>.js';

  test('a function and file named with markup reach the page only escaped, and read back exactly', () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: '(root)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 }, children: [2] },
        { id: 2, callFrame: { functionName: MARKUP, scriptId: '1', url: URL, lineNumber: 0, columnNumber: 0 }, children: [] },
      ],
      startTime: 0,
      endTime: 3000,
      samples: [2, 2, 2],
      timeDeltas: [1000, 1000, 1000],
    };
    const file = traceFile([{ name: 'timers', cat: 'loop', ph: 'X', pid: 7, tid: 0, ts: 0, dur: 10, args: { iteration: 1 } }, ...chromeEvents(7, 0, '0x1', profile, 10)]);
    file.traceEvents[1].args = { name: MARKUP }; // the thread's name too
    const page = renderTraceHtml(file);
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<script>alert');
    // The page's own script elements only: the timeline's data, the flame graph's data and script, the page's script.
    expect(page.match(/<script/g)).toHaveLength(4);
    expect(page.match(/<\/script>/g)).toHaveLength(4);
    const json = /<script type="application\/json" id="flame-data">([^<]*)<\/script>/.exec(page)![1];
    const data = JSON.parse(json);
    expect(data.functions.map((f: unknown[]) => f.slice(0, 2))).toContainEqual([MARKUP, URL.replace('file://', '')]);
    expect(data.threads[0].label).toContain(MARKUP);
  });
});

describe('flame graph size', () => {
  test('a big profile (300,000 call-tree nodes, 2,000,000 samples) embeds at most WHOLE_RUN_LIMITS.maxFrames frames', () => {
    const profile = syntheticProfile(11, 300_000, 2_000_000);
    const builder = new CpuTreeBuilder(1000);
    builder.addProfile(profile);
    const file = traceFile([{ name: 'timers', cat: 'loop', ph: 'X', pid: 7, tid: 0, ts: 0, dur: 10, args: { iteration: 1 } }], [
      { tid: 0, name: 'main thread', longIterations: [], dropped: {}, cpuSamples: 2_000_000, complete: true, cpuTree: builder.tree() },
    ]);
    const started = Date.now();
    const page = renderTraceHtml(file);
    const data = flameGraphData(file, analyzeTrace(file));
    expect(data.threads[0].whole.frames.length / FRAME_FIELDS).toBeLessThanOrEqual(WHOLE_RUN_LIMITS.maxFrames);
    expect(data.threads[0].whole.samples).toBe(2_000_000);
    // Printed for the record (the report's numbers): size of the page, frames, threshold, time.
    process.stdout.write(
      `big profile: ${builder.tree().nodes.length} nodes -> ${data.threads[0].whole.frames.length / FRAME_FIELDS} frames (merged under ${data.threads[0].whole.minSamples} samples), page ${(page.length / 1024).toFixed(0)} KiB, ${Date.now() - started} ms\n`,
    );
    expect(page.length).toBeLessThan(2_000_000);
  }, 60_000);
});
