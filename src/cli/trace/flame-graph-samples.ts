/**
 * A trace file's timed CPU samples per thread, for flame graphs of a span of time (a long
 * iteration, a stall): each thread's `Profile` events with their `ProfileChunk`s (Chrome's
 * form: nodes with their parent, spread over the chunks; samples with time deltas, the first
 * from the Profile's `ts`) read back into CPU profiles on the trace's clock (µs), and folded into
 * a CpuTree over [from, to). A thread may have several profiles (a recording that keeps sample
 * times only around long iterations and stalls may write one per kept stretch); samples naming
 * a node no chunk declared count as `(unknown)`. Pure functions of the events.
 * @internal
 * @module
 */
import type { CpuProfile, CpuProfileNode } from '../../trace/cpu-profiler';
import { CpuTree, CpuTreeBuilder } from '../../trace/cpu-tree';
import type { TraceEvent } from '../../trace/format';

/** A thread's timed samples: its profiles, times in the trace's µs. */
export interface ThreadSamples {
  profiles: CpuProfile[];
  /** The median gap between consecutive samples, µs (1000 when there are too few to tell). */
  intervalUs: number;
  /** Samples over every profile. */
  samples: number;
}

type ChunkData = {
  cpuProfile?: { nodes?: { id: number; parent?: number; callFrame: CpuProfileNode['callFrame'] }[]; samples?: number[] };
  timeDeltas?: number[];
};

const UNKNOWN_FRAME: CpuProfileNode['callFrame'] = { functionName: '(unknown)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 };

/** Every thread's timed samples, by `${pid}:${tid}` (threads without a Profile event are absent). */
export function threadSamples(events: readonly TraceEvent[]): Map<string, ThreadSamples> {
  // Chrome pairs a Profile with its chunks by process and id; a later Profile with the same
  // id starts a new profile (the earlier one is complete). In file order.
  type Open = { thread: string; startUs: number; nodes: Map<number, { parent?: number; callFrame: CpuProfileNode['callFrame'] }>; samples: number[]; timeDeltas: number[] };
  const all: Open[] = [];
  const current = new Map<string, Open>();
  for (const e of events) {
    if (e.ph !== 'P' || e.id === undefined) continue;
    const key = `${e.pid}:${e.id}`;
    if (e.name === 'Profile') {
      const p: Open = { thread: `${e.pid}:${e.tid}`, startUs: e.ts ?? 0, nodes: new Map(), samples: [], timeDeltas: [] };
      all.push(p);
      current.set(key, p);
      continue;
    }
    if (e.name !== 'ProfileChunk') continue;
    const profile = current.get(key);
    const data = e.args?.data as ChunkData | undefined;
    if (!profile || !data) continue;
    for (const node of data.cpuProfile?.nodes ?? []) profile.nodes.set(node.id, { parent: node.parent, callFrame: node.callFrame });
    const samples = data.cpuProfile?.samples ?? [];
    const deltas = data.timeDeltas ?? [];
    for (let i = 0; i < samples.length; i++) {
      profile.samples.push(samples[i]);
      profile.timeDeltas.push(Number(deltas[i] ?? 0));
    }
  }
  const byThread = new Map<string, ThreadSamples>();
  const gaps = new Map<string, number[]>();
  for (const p of all) {
    const profile = toCpuProfile(p.startUs, p.nodes, p.samples, p.timeDeltas);
    let entry = byThread.get(p.thread);
    if (!entry) byThread.set(p.thread, (entry = { profiles: [], intervalUs: 1000, samples: 0 }));
    entry.profiles.push(profile);
    entry.samples += profile.samples.length;
    let list = gaps.get(p.thread);
    if (!list) gaps.set(p.thread, (list = []));
    // The first delta counts from the Profile's start, not from a sample.
    for (let i = 1; i < profile.timeDeltas.length; i++) if (profile.timeDeltas[i] > 0) list.push(profile.timeDeltas[i]);
  }
  for (const [thread, list] of gaps) {
    if (!list.length) continue;
    list.sort((a, b) => a - b);
    byThread.get(thread)!.intervalUs = list[list.length >> 1];
  }
  return byThread;
}

/** Chrome's nodes-with-parent form to V8's nodes-with-children form, the parentless root first. */
function toCpuProfile(
  startUs: number,
  declared: Map<number, { parent?: number; callFrame: CpuProfileNode['callFrame'] }>,
  samples: number[],
  timeDeltas: number[],
): CpuProfile {
  const nodes = new Map<number, CpuProfileNode>();
  for (const [id, node] of declared) nodes.set(id, { id, callFrame: node.callFrame, children: [] });
  let root = [...declared].find(([, node]) => node.parent === undefined || !declared.has(node.parent))?.[0];
  if (root === undefined) {
    root = Math.max(0, ...declared.keys()) + 1;
    nodes.set(root, { id: root, callFrame: { ...UNKNOWN_FRAME, functionName: '(root)' }, children: [] });
  }
  for (const [id, node] of declared) {
    if (id === root) continue;
    // Nodes whose parent is missing hang from the root.
    const parent = node.parent !== undefined && nodes.has(node.parent) ? node.parent : root;
    nodes.get(parent)!.children!.push(id);
  }
  let unknown: number | undefined;
  const known = samples.map((id) => {
    if (nodes.has(id)) return id;
    if (unknown === undefined) {
      unknown = Math.max(...nodes.keys()) + 1;
      nodes.set(unknown, { id: unknown, callFrame: UNKNOWN_FRAME, children: [] });
      nodes.get(root!)!.children!.push(unknown);
    }
    return unknown;
  });
  let endUs = startUs;
  for (const d of timeDeltas) endUs += d;
  const rootNode = nodes.get(root)!;
  nodes.delete(root);
  return { nodes: [rootNode, ...nodes.values()], startTime: startUs, endTime: endUs, samples: known, timeDeltas };
}

/** The samples of `thread` taken in [fromUs, toUs) (trace µs; all when omitted), folded into one tree. */
export function foldSamples(thread: ThreadSamples, fromUs = -Infinity, toUs = Infinity, intervalUs = thread.intervalUs): CpuTree {
  const builder = new CpuTreeBuilder(intervalUs);
  for (const profile of thread.profiles) builder.addProfile(profile, fromUs, toUs);
  return builder.tree();
}
