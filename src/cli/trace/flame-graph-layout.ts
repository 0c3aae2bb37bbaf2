/**
 * A CpuTree laid out as a flame graph: one frame per call-tree node, with its depth, its left
 * edge and width in samples (a child starts where its previous sibling ends, the first at its
 * parent's left edge; what is left at the right of a frame is its self time), its self samples
 * and its function (an index in a FunctionTable). Children are ordered widest first; the
 * root's `(idle)` child last, so the page can hide it by narrowing the root (no other frame
 * moves). Bounded: the children of a frame narrower than `minSamples` are merged into one
 * frame per parent (`fn` -1, `merged` the number of call-tree nodes it stands for, drawn as
 * a leaf), where `minSamples` is the larger of `samples × minFraction` and what keeps the
 * frames at most `maxFrames`; a root `(idle)` is never merged. Pure functions.
 * @internal
 * @module
 */
import type { CpuTree } from '../../trace/cpu-tree';
import { FunctionTable } from './flame-graph-functions';

/** Numbers per frame in `FlameLayout.frames`: depth, x, width, self, fn, merged. */
export const FRAME_FIELDS = 6;

export interface FlameLayout {
  /** Samples in the graph (the root frame's width), (idle) included. */
  samples: number;
  /** Samples of the root's (idle) child (the last frame at depth 1 when there are any). */
  idleSamples: number;
  /** What a sample stands for, µs. */
  intervalUs: number;
  /**
   * Flat, FRAME_FIELDS numbers a frame, parents before children: depth (0: the root), x and
   * width (samples), self samples, function index (-1: merged narrower frames), merged node count.
   */
  frames: number[];
  /** Nodes narrower than this (samples) were merged into one frame per parent. */
  minSamples: number;
  /** Call-tree nodes merged away (not drawn as their own frame). */
  mergedNodes: number;
}

export interface LayoutLimits {
  /** Frames kept at most (the threshold rises until they fit). */
  maxFrames: number;
  /** Nodes narrower than this share of the graph are merged (e.g. 1/12,000: 0.1 px of a 1,200 px graph). */
  minFraction: number;
}

/** Whole-run graphs: at most 20,000 frames, nothing narrower than 0.1 px of a 1,200 px graph. */
export const WHOLE_RUN_LIMITS: LayoutLimits = { maxFrames: 20_000, minFraction: 1 / 12_000 };
/** A long iteration's or a stall's graph: at most 1,000 frames. */
export const SPAN_LIMITS: LayoutLimits = { maxFrames: 1_000, minFraction: 1 / 12_000 };

export function layoutFlameGraph(tree: CpuTree, functions: FunctionTable, limits: LayoutLimits = WHOLE_RUN_LIMITS): FlameLayout {
  // Index by id (ids are 1..n in a CpuTreeBuilder's tree, but do not rely on it).
  const n = tree.nodes.length;
  const slot = new Map<number, number>();
  tree.nodes.forEach((node, i) => slot.set(node.id, i));
  const parentSlot = new Int32Array(n).fill(-1);
  let rootSlot = -1;
  for (let i = 0; i < n; i++) {
    const p = slot.get(tree.nodes[i].parent);
    if (p === undefined || p === i) {
      if (rootSlot === -1) rootSlot = i;
      else parentSlot[i] = rootSlot; // a second root hangs from the first
    } else parentSlot[i] = p;
  }
  if (rootSlot === -1) return { samples: 0, idleSamples: 0, intervalUs: tree.intervalUs, frames: [], minSamples: 1, mergedNodes: 0 };
  // Children lists (CSR: typed arrays, the trees can have 100,000s of nodes), an order from the
  // root down (a foreign writer may list a child before its parent), totals and subtree sizes.
  const childStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) if (parentSlot[i] >= 0) childStart[parentSlot[i] + 1]++;
  for (let i = 0; i < n; i++) childStart[i + 1] += childStart[i];
  const childList = new Int32Array(childStart[n]);
  const fill = childStart.slice(0, n);
  for (let i = 0; i < n; i++) if (parentSlot[i] >= 0) childList[fill[parentSlot[i]]++] = i;
  const order = new Int32Array(n);
  let reached = 0;
  order[reached++] = rootSlot;
  for (let k = 0; k < reached; k++) for (let c = childStart[order[k]]; c < childStart[order[k] + 1]; c++) order[reached++] = childList[c];
  const total = new Float64Array(n);
  const size = new Float64Array(n);
  for (let k = reached - 1; k >= 0; k--) {
    const i = order[k];
    total[i] += Math.max(0, tree.nodes[i].selfSamples);
    size[i] += 1;
    if (parentSlot[i] >= 0) {
      total[parentSlot[i]] += total[i];
      size[parentSlot[i]] += size[i];
    }
  }
  const rootIdle = new Uint8Array(n);
  for (let c = childStart[rootSlot]; c < childStart[rootSlot + 1]; c++) {
    const node = tree.nodes[childList[c]];
    if (node.functionName === '(idle)' && !node.url) rootIdle[childList[c]] = 1;
  }
  const isRootIdle = (i: number) => rootIdle[i] === 1;
  // Widest first, (idle) last; children without samples sort to the end and are skipped.
  for (let i = 0; i < n; i++) {
    if (childStart[i + 1] - childStart[i] > 1) childList.subarray(childStart[i], childStart[i + 1]).sort((a, b) => (total[a] > 0 ? 0 : 2) + rootIdle[a] - ((total[b] > 0 ? 0 : 2) + rootIdle[b]) || total[b] - total[a]);
  }
  const children = (i: number): Int32Array => {
    let end = childStart[i + 1];
    while (end > childStart[i] && total[childList[end - 1]] <= 0) end--;
    return childList.subarray(childStart[i], end);
  };

  const samples = total[rootSlot];
  const kept = (i: number, min: number) => i === rootSlot || total[i] >= min || isRootIdle(i);
  /** Frames drawn with threshold `min`: kept nodes under kept parents, plus one merged frame per parent that drops any. */
  const stackBuffer = new Int32Array(n);
  const count = (min: number) => {
    let frames = 0;
    let top = 0;
    stackBuffer[top++] = rootSlot;
    while (top) {
      const i = stackBuffer[--top];
      frames++;
      let dropped = false;
      for (let c = childStart[i], end = childStart[i + 1]; c < end; c++) {
        const child = childList[c];
        if (total[child] <= 0) break;
        if (kept(child, min)) stackBuffer[top++] = child;
        else dropped = true;
      }
      if (dropped) frames++;
    }
    return frames;
  };
  // Dropping nodes never adds frames (each dropped subtree becomes at most one merged frame,
  // shared by its dropped siblings), so the smallest threshold that fits is found by bisection.
  let min = Math.max(1, Math.ceil(samples * limits.minFraction));
  if (count(min) > limits.maxFrames) {
    let lo = min;
    let hi = samples + 1; // keeps the root (and (idle)) only: 2 or 3 frames
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (count(mid) <= limits.maxFrames) hi = mid;
      else lo = mid + 1;
    }
    min = lo;
  }

  const frames: number[] = [];
  let mergedNodes = 0;
  // [slot, depth, x]; a merged frame as [-1, depth, x, width, nodes].
  const stack: number[][] = [[rootSlot, 0, 0]];
  while (stack.length) {
    const [i, depth, x, mergedWidth, mergedCount] = stack.pop()!;
    if (i < 0) {
      frames.push(depth, x, mergedWidth, mergedWidth, -1, mergedCount);
      mergedNodes += mergedCount;
      continue;
    }
    const node = tree.nodes[i];
    frames.push(depth, x, total[i], node.selfSamples, functions.add(node), 0);
    const next: number[][] = [];
    let at = x;
    let width = 0;
    let count = 0;
    const list = children(i);
    for (const c of list) {
      if (kept(c, min)) continue;
      width += total[c];
      count += size[c];
    }
    for (const c of list) {
      if (!kept(c, min)) continue;
      // The merged frame goes after the kept children, left of a root (idle) (kept last).
      if (count && isRootIdle(c)) {
        next.push([-1, depth + 1, at, width, count]);
        at += width;
        count = 0;
      }
      next.push([c, depth + 1, at]);
      at += total[c];
    }
    if (count) next.push([-1, depth + 1, at, width, count]);
    // Pushed in reverse so they come out (and are listed) left to right.
    for (let k = next.length - 1; k >= 0; k--) stack.push(next[k]);
  }
  const idleSlot = children(rootSlot).find(isRootIdle);
  return { samples, idleSamples: idleSlot === undefined ? 0 : total[idleSlot], intervalUs: tree.intervalUs, frames, minSamples: min, mergedNodes };
}
