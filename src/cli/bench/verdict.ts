/**
 * The verdict of a pool-size benchmark, stated only as strongly as the rounds allow: sizes whose
 * rounds overlap on the main metric (or are within 5% of each other) cannot be told apart, and
 * among those the one with the lowest loop delay p99 wins (ties within 10%: the smallest size),
 * since more threads that buy nothing measurable still cost the main thread. Then, where the
 * pool threads were measured (`pool busy`, `pool runq`), threads that only wait for a CPU are not
 * bought: a smaller size is preferred when the chosen one gains less than 10% on the main metric
 * over it while its pool threads wait for a CPU more (run-queue ratio up by 5 points or more, and
 * at least 10%) and do no more work (busy CPU, busy ratio × threads, at most 10% higher).
 * @internal
 * @module
 */
import type { PoolThreadFigures } from './protocol';


export interface Candidate {
  size: number;
  /** The main metric, one value per round. */
  rounds: number[];
  /** Median loop delay p99 over the rounds, ms. */
  loopDelayP99Ms: number;
  /** The pool threads' medians over the rounds (absent where they were not measured). */
  pool?: PoolThreadFigures;
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

/** The pool threads' figures of several runs: each field's median over the runs that have it; undefined when none has. */
export function medianPool(runs: readonly (PoolThreadFigures | undefined)[]): PoolThreadFigures | undefined {
  const measured = runs.filter((r): r is PoolThreadFigures => r !== undefined && r.threads > 0);
  if (!measured.length) return undefined;
  const waits = measured.map((r) => r.runQueueRatio).filter((v): v is number => v !== undefined);
  return {
    threads: median(measured.map((r) => r.threads)),
    busyRatio: median(measured.map((r) => r.busyRatio)),
    ...(waits.length ? { runQueueRatio: median(waits) } : {}),
  };
}

/** Below this gain on the main metric a bigger pool whose threads wait for a CPU is not bought. */
export const SMALL_GAIN = 0.1;
/** The run-queue ratio must rise by this much (ratio points) ... */
const RUN_QUEUE_RISE = 0.05;
/** ... and reach this much, for the extra threads to count as waiting for a CPU. */
const RUN_QUEUE_HIGH = 0.1;
/** Busy CPU (busy ratio × threads) within this factor of the smaller size's (and 0.02 CPU): no more work done. */
const BUSY_ALIKE = 1.1;

const pct = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;
/** CPUs' worth of pool work: busy ratio × threads. */
const busyCpus = (pool: PoolThreadFigures) => pool.busyRatio * pool.threads;

/**
 * The smallest size below `chosen` that `chosen` beats by less than SMALL_GAIN while its pool
 * threads wait for a CPU more and work no more, with the sentence that says so; undefined when
 * there is none or the pool threads were not measured.
 */
function waitingThreads(chosen: Candidate, candidates: readonly Candidate[], med: Map<number, number>, metric: MetricSpec, fmt: (v: number) => string): Verdict | undefined {
  const big = chosen.pool;
  if (!big || big.runQueueRatio === undefined || big.threads === 0) return undefined;
  const gain = (small: Candidate) => {
    const from = med.get(small.size)!;
    const to = med.get(chosen.size)!;
    if (from === 0) return Infinity;
    return (metric.higherIsBetter ? to - from : from - to) / Math.abs(from);
  };
  const smaller = candidates
    .filter((c) => c.size < chosen.size && c.pool && c.pool.runQueueRatio !== undefined && c.pool.threads > 0)
    .filter((c) => {
      const small = c.pool!;
      return (
        gain(c) < SMALL_GAIN &&
        big.runQueueRatio! >= small.runQueueRatio! + RUN_QUEUE_RISE &&
        big.runQueueRatio! >= RUN_QUEUE_HIGH &&
        busyCpus(big) <= busyCpus(small) * BUSY_ALIKE + 0.02
      );
    })
    .sort((a, b) => a.size - b.size);
  const pick = smaller[0];
  if (!pick) return undefined;
  const small = pick.pool!;
  const g = gain(pick);
  const gainText = g >= 0 ? `${metric.name} gains only ${(g * 100).toFixed(1)}%` : `${metric.name} is ${(-g * 100).toFixed(1)}% worse`;
  return {
    size: pick.size,
    reason:
      `from ${pick.size} to ${chosen.size} threads ${gainText} (${fmt(med.get(pick.size)!)} to ${fmt(med.get(chosen.size)!)}) ` +
      `while the pool threads' run-queue wait rises from ${pct(small.runQueueRatio!)} to ${pct(big.runQueueRatio!)} of their time ` +
      `and their busy CPU stays alike (${busyCpus(small).toFixed(2)} and ${busyCpus(big).toFixed(2)} CPUs): ` +
      `the extra threads only wait for a CPU, so ${pick.size}`,
  };
}

export function verdict(candidates: readonly Candidate[], metric: MetricSpec): Verdict {
  const first = chooseSize(candidates, metric);
  const fmt = (v: number) => `${v.toFixed(metric.digits ?? 0)} ${metric.unit}`;
  const med = new Map(candidates.map((c) => [c.size, median(c.rounds)]));
  const waiting = waitingThreads(candidates.find((c) => c.size === first.size)!, candidates, med, metric, fmt);
  return waiting ? { size: waiting.size, reason: `${first.size} would be picked (${first.reason}), but ${waiting.reason}` } : first;
}

/** The choice on the main metric and loop delay alone. */
function chooseSize(candidates: readonly Candidate[], metric: MetricSpec): Verdict {
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
