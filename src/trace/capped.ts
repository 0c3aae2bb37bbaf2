/**
 * The bounded collections a trace analysis keeps a trace of any length in: `Largest`, the `n`
 * items with the largest keys (in arrival order); `Halving`, a series of points that drops every
 * other point whenever it reaches its cap. Each counts what it dropped (`dropped`). Lifetime: one
 * per kept series, as long as the fold that fills it. Nothing of the trace format.
 * @internal
 * @module
 */

/**
 * The `n` items with the largest keys, in arrival order at the end. Below `n` items, all of
 * them (no heap work); past it, a min-heap on the key.
 */
export class Largest<T> {
  #items: { key: number; seq: number; value: T }[] = [];
  #heap = false;
  #seq = 0;
  dropped = 0;

  constructor(readonly n: number) {}

  get size(): number {
    return this.#items.length;
  }

  /** Whether an item with this key would be kept now (push() it then; else count it with skip()). */
  wouldKeep(key: number): boolean {
    const items = this.#items;
    if (items.length < this.n) return true;
    if (!this.#heap) {
      this.#heap = true;
      for (let i = (items.length >> 1) - 1; i >= 0; i--) this.#down(i);
    }
    return this.n > 0 && key > items[0].key;
  }

  /** An item not kept (wouldKeep() said so). */
  skip(): void {
    this.#seq++;
    this.dropped++;
  }

  push(key: number, value: T): void {
    const item = { key, seq: this.#seq++, value };
    const items = this.#items;
    if (items.length < this.n) {
      items.push(item);
      return;
    }
    this.dropped++;
    if (!this.#heap) {
      this.#heap = true;
      for (let i = (items.length >> 1) - 1; i >= 0; i--) this.#down(i);
    }
    // Ties keep the earlier one (as the uncapped order would).
    if (this.n === 0 || key <= items[0].key) return;
    items[0] = item;
    this.#down(0);
  }

  #down(i: number): void {
    const items = this.#items;
    const less = (a: number, b: number) => items[a].key < items[b].key || (items[a].key === items[b].key && items[a].seq > items[b].seq);
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < items.length && less(l, m)) m = l;
      if (r < items.length && less(r, m)) m = r;
      if (m === i) return;
      [items[i], items[m]] = [items[m], items[i]];
      i = m;
    }
  }

  values(): T[] {
    const items = this.#heap ? [...this.#items].sort((a, b) => a.seq - b.seq) : this.#items;
    return items.map((item) => item.value);
  }
}

/** A series of points that halves itself (every other point dropped) whenever it reaches `max`. */
export class Halving<T> {
  points: T[] = [];
  #stride = 1;
  #skip = 0;
  dropped = 0;

  constructor(readonly max: number) {}

  push(point: T): void {
    if (this.#skip > 0) {
      this.#skip--;
      this.dropped++;
      return;
    }
    this.points.push(point);
    this.#skip = this.#stride - 1;
    if (this.points.length >= this.max) {
      const kept = this.points.filter((_, i) => i % 2 === 0);
      this.dropped += this.points.length - kept.length;
      this.points = kept;
      this.#stride *= 2;
      this.#skip = this.#stride - 1;
    }
  }
}
