/**
 * A thread's CPU samples folded into one call tree: a node per distinct stack path (function,
 * file, line, column), with the samples that stopped in it (self). It holds every sample of a
 * recording, also those whose times were not kept (a bounded trace keeps sample times only
 * around long iterations and stalls), so a flame graph of the whole run needs only the tree.
 * Its size grows with the distinct stack paths, not with time. In a trace file: a thread's
 * `cpuTree` in the `uvscope` section. Pure data and functions; lifetime: its owner's.
 * @internal
 * @module
 */
import type { CpuProfile } from './cpu-profiler';

export interface CpuTreeNode {
  /** 1 is the root, `(root)`; ids are this tree's own, not V8's. */
  id: number;
  /** 0 for the root. */
  parent: number;
  functionName: string;
  url: string;
  /** 0-based, as V8 gives them; -1 when unknown. */
  lineNumber: number;
  columnNumber: number;
  /** Samples taken while this frame was the leaf. */
  selfSamples: number;
}

export interface CpuTree {
  /** The sampling interval asked for, µs (a sample stands for about this long). */
  intervalUs: number;
  /** Samples folded in (the sum of `selfSamples`). */
  samples: number;
  /** Parents before children. */
  nodes: CpuTreeNode[];
}

/** Builds a tree incrementally: `addProfile` for each profile (or a part of one), `tree()` to read it. */
export class CpuTreeBuilder {
  readonly #nodes: CpuTreeNode[] = [{ id: 1, parent: 0, functionName: '(root)', url: '', lineNumber: -1, columnNumber: -1, selfSamples: 0 }];
  /** `${parentId}\0${functionName}\0${url}\0${line}\0${column}` → node id. */
  readonly #index = new Map<string, number>();
  #samples = 0;

  constructor(readonly intervalUs: number) {}

  /** The node for a frame under `parent`, made when new. */
  #child(parent: number, frame: { functionName: string; url: string; lineNumber: number; columnNumber: number }): number {
    const key = `${parent}\0${frame.functionName}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`;
    let id = this.#index.get(key);
    if (id === undefined) {
      id = this.#nodes.length + 1;
      this.#nodes.push({ id, parent, functionName: frame.functionName, url: frame.url, lineNumber: frame.lineNumber, columnNumber: frame.columnNumber, selfSamples: 0 });
      this.#index.set(key, id);
    }
    return id;
  }

  /**
   * Folds in the samples of `profile` taken in [fromUs, toUs) (µs on the profile's clock; all
   * when omitted). V8's root node is this tree's root.
   */
  addProfile(profile: CpuProfile, fromUs = -Infinity, toUs = Infinity): void {
    const byV8Id = new Map(profile.nodes.map((node) => [node.id, node]));
    const parentOf = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
    const rootId = profile.nodes[0]?.id;
    const mapped = new Map<number, number>();
    const ours = (v8Id: number): number => {
      const known = mapped.get(v8Id);
      if (known !== undefined) return known;
      // Walk up to a mapped ancestor (or the root), then map back down.
      const path: number[] = [];
      let at: number | undefined = v8Id;
      while (at !== undefined && at !== rootId && !mapped.has(at)) {
        path.push(at);
        at = parentOf.get(at);
      }
      let id = at === undefined || at === rootId ? 1 : mapped.get(at)!;
      for (let i = path.length - 1; i >= 0; i--) {
        id = this.#child(id, byV8Id.get(path[i])!.callFrame);
        mapped.set(path[i], id);
      }
      return id;
    };
    mapped.set(rootId, 1);
    let timeUs = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      timeUs += profile.timeDeltas[i];
      if (timeUs < fromUs || timeUs >= toUs) continue;
      this.#nodes[ours(profile.samples[i]) - 1].selfSamples++;
      this.#samples++;
    }
  }

  tree(): CpuTree {
    return { intervalUs: this.intervalUs, samples: this.#samples, nodes: this.#nodes.map((node) => ({ ...node })) };
  }
}
