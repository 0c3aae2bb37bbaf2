/**
 * A thread's CPU samples in a trace file: the profile V8 took (cpu-profiler.ts) with an
 * `(idle)` sample where each of the loop's waits for I/O begins (withIdleSamples), written as
 * one `Profile` event and its `ProfileChunk`s, as Chrome writes them (profileEvents). format.ts
 * calls both for each thread. Pure functions.
 * @internal
 * @module
 */
import type { CpuProfile } from './cpu-profiler';
import type { TraceEvent } from './trace-event';

/** Samples per ProfileChunk event. */
const CHUNK_SAMPLES = 20_000;

/**
 * The profile with an '(idle)' sample where each poll wait (absolute µs, V8's clock) begins, as
 * far as the samples tell. The sampled thread's loop waits with SIGPROF blocked
 * (cpu-profiler.ts), so V8 takes no sample inside a wait; DevTools draws a sample until the next
 * one, and the function sampled last before a wait would seem to run on across it. A wait is
 * drawn from its prepare marker, code may still run there before epoll (prepare listeners,
 * libuv), and the signal held during the wait is taken as it ends, inside it: the (idle) sample
 * goes where the wait's longest stretch without a sample begins (1 µs after the sample before
 * it, or at the wait's start), when that stretch is longer than a sampling interval. Waits
 * shorter than an interval are left alone (a gap no longer than the sampling's own). The
 * input is not changed.
 */
export function withIdleSamples(profile: CpuProfile, waitsUs: readonly { startUs: number; endUs: number }[]): CpuProfile {
  const deltas = profile.timeDeltas.filter((d) => d > 0).sort((a, b) => a - b);
  const intervalUs = deltas.length ? deltas[deltas.length >> 1] : 1000;
  const waits = waitsUs.filter((w) => w.endUs - w.startUs >= intervalUs).sort((a, b) => a.startUs - b.startUs);
  if (!waits.length) return profile;
  const n = profile.samples.length;
  const timesUs = new Array<number>(n);
  for (let i = 0, t = profile.startTime; i < n; i++) timesUs[i] = t += profile.timeDeltas[i];
  let nodes = profile.nodes;
  let idle = nodes.find((node) => node.callFrame.functionName === '(idle)' && !node.callFrame.url);
  // (idle) samples to add: before sample `before`, at `atUs`, in time order.
  const added: { before: number; atUs: number }[] = [];
  let i = 0;
  for (const wait of waits) {
    while (i < n && timesUs[i] < wait.startUs) i++;
    let k = i;
    while (k < n && timesUs[k] < wait.endUs) k++;
    // The samples inside split the wait: code before epoll at its start, the signal held
    // during the wait at its end. The longest stretch without a sample is where it slept.
    const until = (m: number) => Math.min(m < n ? timesUs[m] : profile.endTime, wait.endUs);
    let gapFrom = -1; // the sample that begins it; -1: the wait's start
    let gapUs = until(i) - wait.startUs;
    for (let m = i; m < k; m++) {
      const us = until(m + 1) - timesUs[m];
      if (us > gapUs) [gapFrom, gapUs] = [m, us];
    }
    if (gapUs <= intervalUs || (gapFrom >= 0 && profile.samples[gapFrom] === idle?.id)) continue;
    // Whole µs, as V8 writes them.
    const atUs = gapFrom >= 0 ? timesUs[gapFrom] + 1 : Math.ceil(wait.startUs);
    const before = gapFrom >= 0 ? gapFrom + 1 : i;
    const previousUs = added.length ? added[added.length - 1].atUs : -Infinity;
    if (atUs > previousUs && atUs >= profile.startTime && (before < n ? timesUs[before] : profile.endTime) > atUs) added.push({ before, atUs });
    i = k;
  }
  if (!added.length) return profile;
  if (!idle) {
    const root = nodes[0];
    idle = { id: Math.max(...nodes.map((node) => node.id)) + 1, callFrame: { functionName: '(idle)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 }, hitCount: 0, children: [] };
    nodes = [{ ...root, children: [...(root.children ?? []), idle.id] }, ...nodes.slice(1), idle];
  }
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let lastUs = profile.startTime; // V8's first delta counts from startTime
  const push = (id: number, atUs: number) => {
    samples.push(id);
    timeDeltas.push(atUs - lastUs);
    lastUs = atUs;
  };
  let a = 0;
  for (let s = 0; s <= n; s++) {
    for (; a < added.length && added[a].before === s; a++) push(idle.id, added[a].atUs);
    if (s < n) push(profile.samples[s], timesUs[s]);
  }
  return { ...profile, nodes, samples, timeDeltas };
}

/**
 * A CPU profile as one `Profile` event and `ProfileChunk` events, the form Chrome writes them in
 * a performance trace: nodes with their parent (not children), samples with time deltas, the
 * first delta from the Profile's `ts`.
 */
export function profileEvents(pid: number, tid: number, profile: CpuProfile, originNs: bigint): TraceEvent[] {
  const originUs = Number(originNs / 1000n) + Number(originNs % 1000n) / 1000;
  const id = `0x${(tid + 1).toString(16)}`;
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const nodes = profile.nodes.map((node) => ({
    id: node.id,
    callFrame: node.callFrame,
    ...(parent.has(node.id) ? { parent: parent.get(node.id) } : {}),
  }));
  const startTs = profile.startTime - originUs;
  const events: TraceEvent[] = [{ name: 'Profile', ph: 'P', id, pid, tid, ts: startTs, cat: 'disabled-by-default-v8.cpu_profiler', args: { data: { startTime: startTs } } }];
  let timeUs = startTs;
  for (let from = 0; from < profile.samples.length || from === 0; from += CHUNK_SAMPLES) {
    const samples = profile.samples.slice(from, from + CHUNK_SAMPLES);
    const timeDeltas = profile.timeDeltas.slice(from, from + CHUNK_SAMPLES);
    for (const delta of timeDeltas) timeUs += delta;
    events.push({
      name: 'ProfileChunk',
      ph: 'P',
      id,
      pid,
      tid,
      ts: timeUs,
      cat: 'disabled-by-default-v8.cpu_profiler',
      args: { data: { cpuProfile: { ...(from === 0 ? { nodes } : {}), samples }, timeDeltas } },
    });
    if (samples.length === 0) break;
  }
  return events;
}
