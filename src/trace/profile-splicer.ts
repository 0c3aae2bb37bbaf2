/**
 * The CPU samples a bounded recording keeps with their times: those inside the detail spans
 * (the turns around long iterations and stalls), taken from the profile's rotating chunks
 * (each chunk a V8 profile with node ids of its own) into one profile with nodes of its own
 * (a node per distinct stack path, as cpu-tree.ts folds them). After each span an `(idle)`
 * sample ends the span's last sample at the span's end, so that a viewer does not draw it on
 * across the time that was not kept. Samples outside the spans are counted (`omitted`), the
 * oldest kept ones dropped past `maxSamples` (counted too). Lifetime: its recorder's.
 * @internal
 * @module
 */
import type { CpuProfile, CpuProfileNode } from './cpu-profiler';

interface Span {
  startNs: bigint;
  endNs: bigint;
}

const toUs = (ns: bigint) => Number(ns / 1000n) + Number(ns % 1000n) / 1000;

export class ProfileSplicer {
  readonly #nodes: CpuProfileNode[] = [{ id: 1, callFrame: { functionName: '(root)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 }, children: [] }];
  readonly #index = new Map<string, number>();
  #idleId = 0;
  /** Kept samples: node ids and absolute times (µs, V8's clock), oldest first. */
  #ids: number[] = [];
  #timesUs: number[] = [];
  #from = 0;
  omitted = 0;
  dropped = 0;

  constructor(readonly maxSamples: number) {}

  #child(parent: number, frame: CpuProfileNode['callFrame']): number {
    const key = `${parent}\0${frame.functionName}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`;
    let id = this.#index.get(key);
    if (id === undefined) {
      id = this.#nodes.length + 1;
      this.#nodes.push({ id, callFrame: { ...frame }, children: [] });
      this.#nodes[parent - 1].children!.push(id);
      this.#index.set(key, id);
    }
    return id;
  }

  #idle(): number {
    if (!this.#idleId) this.#idleId = this.#child(1, { functionName: '(idle)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 });
    return this.#idleId;
  }

  #push(id: number, us: number): void {
    this.#ids.push(id);
    this.#timesUs.push(us);
    if (this.#ids.length - this.#from > this.maxSamples) {
      this.#from++;
      this.dropped++;
      if (this.#from > 65_536 && this.#from * 2 > this.#ids.length) this.#compact();
    }
  }

  #compact(): void {
    this.#ids = this.#ids.slice(this.#from);
    this.#timesUs = this.#timesUs.slice(this.#from);
    this.#from = 0;
  }

  /** Keeps the samples of `profile` inside `spans` (sorted, monotonic ns), counts the others. */
  add(profile: CpuProfile, spans: readonly Span[]): void {
    const spansUs = spans.map((s) => [toUs(s.startNs), toUs(s.endNs)] as const);
    const parentOf = new Map<number, number>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const rootId = profile.nodes[0]?.id;
    const mapped = new Map<number, number>([[rootId, 1]]);
    const ours = (v8Id: number): number => {
      const known = mapped.get(v8Id);
      if (known !== undefined) return known;
      const path: number[] = [];
      let at: number | undefined = v8Id;
      while (at !== undefined && !mapped.has(at)) {
        path.push(at);
        at = parentOf.get(at);
      }
      let id = at === undefined ? 1 : mapped.get(at)!;
      for (let i = path.length - 1; i >= 0; i--) {
        id = this.#child(id, byId.get(path[i])!.callFrame);
        mapped.set(path[i], id);
      }
      return id;
    };
    let timeUs = profile.startTime;
    let span = 0;
    let open = -1; // the span whose samples are being kept
    for (let i = 0; i < profile.samples.length; i++) {
      timeUs += profile.timeDeltas[i];
      while (span < spansUs.length && spansUs[span][1] < timeUs) span++;
      const inside = span < spansUs.length && spansUs[span][0] <= timeUs;
      if (open >= 0 && open !== span) {
        this.#push(this.#idle(), spansUs[open][1]);
        open = -1;
      }
      if (!inside) {
        this.omitted++;
        continue;
      }
      open = span;
      this.#push(ours(profile.samples[i]), timeUs);
    }
    if (open >= 0) this.#push(this.#idle(), Math.min(spansUs[open][1], profile.endTime));
  }

  /** Kept samples. */
  get samples(): number {
    return this.#ids.length - this.#from;
  }

  /** Forgets the kept samples before `ns` (the flight recorder's horizon), not counted as dropped. */
  forgetBefore(ns: bigint): void {
    const us = toUs(ns);
    while (this.#from < this.#ids.length && this.#timesUs[this.#from] < us) this.#from++;
    if (this.#from > 65_536 && this.#from * 2 > this.#ids.length) this.#compact();
  }

  /** The kept samples as one profile (undefined when none). */
  profile(): CpuProfile | undefined {
    const n = this.#ids.length - this.#from;
    if (n === 0) return undefined;
    const samples = this.#ids.slice(this.#from);
    const times = this.#timesUs.slice(this.#from);
    const startTime = Math.floor(times[0]) - 1;
    const timeDeltas = new Array<number>(n);
    let last = startTime;
    for (let i = 0; i < n; i++) {
      timeDeltas[i] = times[i] - last;
      last = times[i];
    }
    const nodes = this.#nodes.map((node) => ({ ...node, children: [...(node.children ?? [])] }));
    return { nodes, startTime, endTime: Math.ceil(last), samples, timeDeltas };
  }
}
