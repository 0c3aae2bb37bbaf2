/**
 * The verdict of a pool-size benchmark, stated only as strongly as the rounds allow: sizes whose
 * rounds overlap on the main metric (or are within 5% of each other) cannot be told apart, and
 * among those the one with the lowest loop delay p99 wins (ties within 10%: the smallest size),
 * since more threads that buy nothing measurable still cost the main thread.
 * @internal
 * @module
 */

export interface Candidate {
  size: number;
  /** The main metric, one value per round. */
  rounds: number[];
  /** Median loop delay p99 over the rounds, ms. */
  loopDelayP99Ms: number;
}

export interface MetricSpec {
  /** `throughput`, `wall time`, ... */
  name: string;
  unit: string;
  higherIsBetter: boolean;
  digits?: number;
}

export interface Verdict {
  size: number;
  reason: string;
}

export const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function verdict(candidates: readonly Candidate[], metric: MetricSpec): Verdict {
  const fmt = (v: number) => `${v.toFixed(metric.digits ?? 0)} ${metric.unit}`;
  const better = (a: number, b: number) => (metric.higherIsBetter ? a > b : a < b);
  const med = new Map(candidates.map((c) => [c.size, median(c.rounds)]));
  const best = candidates.reduce((a, b) => (better(med.get(b.size)!, med.get(a.size)!) ? b : a));
  const bestMedian = med.get(best.size)!;
  const lo = (c: Candidate) => Math.min(...c.rounds);
  const hi = (c: Candidate) => Math.max(...c.rounds);
  const overlaps = (c: Candidate) => lo(c) <= hi(best) && lo(best) <= hi(c);
  const near = (c: Candidate) => Math.abs(med.get(c.size)! - bestMedian) <= Math.abs(bestMedian) * 0.05;
  const tied = candidates.filter((c) => c === best || overlaps(c) || near(c)).sort((a, b) => a.size - b.size);
  const rounds = Math.min(...candidates.map((c) => c.rounds.length));
  const caveat = rounds < 3 ? ` (only ${rounds} round${rounds === 1 ? '' : 's'}: use --repeat 3 or more to see the spread)` : '';
  if (tied.length === 1) {
    const others = candidates.filter((c) => c !== best);
    const runnerUp = others.length ? others.reduce((a, b) => (better(med.get(b.size)!, med.get(a.size)!) ? b : a)) : undefined;
    return {
      size: best.size,
      reason:
        `best ${metric.name}: ${fmt(bestMedian)}` +
        (runnerUp ? `, ${rounds > 1 ? 'every round beyond every round of the others' : 'more than 5% ahead of the others'} (next: size ${runnerUp.size}, ${fmt(med.get(runnerUp.size)!)})` : '') +
        caveat,
    };
  }
  const lowestDelay = Math.min(...tied.map((c) => c.loopDelayP99Ms));
  const chosen = tied.find((c) => c.loopDelayP99Ms <= lowestDelay * 1.1 + 0.05)!;
  const worstDelay = tied.reduce((a, b) => (b.loopDelayP99Ms > a.loopDelayP99Ms ? b : a));
  const delayNote =
    worstDelay.loopDelayP99Ms > chosen.loopDelayP99Ms * 1.1 + 0.05
      ? `; ${chosen.size} has the lowest loop delay p99 (${chosen.loopDelayP99Ms.toFixed(2)} ms, against ${worstDelay.loopDelayP99Ms.toFixed(2)} ms at ${worstDelay.size})`
      : `; their loop delay p99 is alike, so the smallest size`;
  return {
    size: chosen.size,
    reason:
      `sizes ${tied.map((c) => c.size).join(', ')} cannot be told apart by ${metric.name} ` +
      `(rounds overlap or medians within 5% of the best, ${fmt(bestMedian)} at ${best.size})${delayNote}${caveat}`,
  };
}
