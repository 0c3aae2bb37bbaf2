/**
 * The verdict of `uvscope bench` (src/cli/bench/verdict.ts) on given figures: the pool threads'
 * busy and run-queue ratios keep it from buying threads that only wait for a CPU, and leave it
 * alone where the bigger pool does more work, gains enough, or was not measured.
 */
import { Candidate, medianPool, verdict } from '../../src/cli/bench/verdict';

const throughput = { name: 'throughput', unit: 'jobs/s', higherIsBetter: true };
const wallTime = { name: 'wall time', unit: 'ms', higherIsBetter: false, digits: 1 };

/** Three rounds around `value`, far enough from the other sizes' to be told apart. */
const rounds = (value: number) => [value * 0.995, value, value * 1.005];

/** CPU-bound work on 2 CPUs: 2 threads fill them, 4 and 8 only queue for them. */
const oversubscribed = (gainAt4: number): Candidate[] => [
  { size: 1, rounds: rounds(1000), loopDelayP99Ms: 1.5, pool: { threads: 1, busyRatio: 0.98, runQueueRatio: 0.01 } },
  { size: 2, rounds: rounds(1900), loopDelayP99Ms: 1.5, pool: { threads: 2, busyRatio: 0.93, runQueueRatio: 0.05 } },
  { size: 4, rounds: rounds(1900 * (1 + gainAt4)), loopDelayP99Ms: 1.5, pool: { threads: 4, busyRatio: 0.47, runQueueRatio: 0.5 } },
  { size: 8, rounds: rounds(1850), loopDelayP99Ms: 1.5, pool: { threads: 8, busyRatio: 0.23, runQueueRatio: 0.72 } },
];

describe('verdict: threads that only wait for a CPU are not bought', () => {
  test('4 leads 2 by 7% on throughput, but its extra threads wait for a CPU and do no more work: 2, and the reason says why', () => {
    const v = verdict(oversubscribed(0.07), throughput);
    expect(v.size).toBe(2);
    expect(v.reason).toMatch(/^4 would be picked \(best throughput: 2033 jobs\/s/);
    expect(v.reason).toMatch(/from 2 to 4 threads throughput gains only 7\.0% \(1900 jobs\/s to 2033 jobs\/s\)/);
    expect(v.reason).toMatch(/run-queue wait rises from 5% to 50% of their time/);
    expect(v.reason).toMatch(/busy CPU stays alike \(1\.86 and 1\.88 CPUs\)/);
    expect(v.reason).toMatch(/the extra threads only wait for a CPU, so 2$/);
  });

  test('without the pool figures the same throughput picks 4', () => {
    const v = verdict(
      oversubscribed(0.07).map(({ pool: _pool, ...c }) => c),
      throughput,
    );
    expect(v.size).toBe(4);
    expect(v.reason).not.toMatch(/run-queue/);
  });

  test('a gain of 10% or more is bought, waiting or not', () => {
    expect(verdict(oversubscribed(0.12), throughput).size).toBe(4);
  });

  test('a bigger pool that does more work (busy CPU up) is bought: its threads do not only wait', () => {
    const c = oversubscribed(0.07);
    c[2].pool = { threads: 4, busyRatio: 0.6, runQueueRatio: 0.3 };
    expect(verdict(c, throughput).size).toBe(4);
  });

  test('run queue not rising (threads blocked, not waiting for a CPU) keeps the choice', () => {
    const c = oversubscribed(0.07);
    c[2].pool = { threads: 4, busyRatio: 0.46, runQueueRatio: 0.06 };
    expect(verdict(c, throughput).size).toBe(4);
  });

  test('each smaller size is measured against the leader: 8 gains 10.3% over 2 (bought) but 6% over 4 (not): 4', () => {
    const c = oversubscribed(0.04);
    c[3].rounds = rounds(2095);
    c[3].pool = { threads: 8, busyRatio: 0.24, runQueueRatio: 0.72 };
    const v = verdict(c, throughput);
    expect(v.size).toBe(4);
    expect(v.reason).toMatch(/^8 would be picked .*from 4 to 8 threads throughput gains only 6\.0%/);
  });

  test('lower-is-better metrics (wall time): 7% faster with waiting threads is not bought', () => {
    const c: Candidate[] = [
      { size: 2, rounds: [428, 430, 433], loopDelayP99Ms: 10, pool: { threads: 2, busyRatio: 0.9, runQueueRatio: 0.03 } },
      { size: 4, rounds: [398, 400, 401], loopDelayP99Ms: 10, pool: { threads: 4, busyRatio: 0.47, runQueueRatio: 0.49 } },
    ];
    const v = verdict(c, wallTime);
    expect(v.size).toBe(2);
    expect(v.reason).toMatch(/from 2 to 4 threads wall time gains only 7\.0% \(430\.0 ms to 400\.0 ms\)/);
  });

  test('medianPool: each field the median of the runs that have it; none measured gives undefined', () => {
    expect(medianPool([undefined, { threads: 0, busyRatio: 0 }])).toBeUndefined();
    expect(
      medianPool([
        { threads: 4, busyRatio: 0.5, runQueueRatio: 0.1 },
        undefined,
        { threads: 4, busyRatio: 0.7, runQueueRatio: 0.3 },
        { threads: 4, busyRatio: 0.6 },
      ]),
    ).toEqual({ threads: 4, busyRatio: 0.6, runQueueRatio: 0.2 });
  });
});
