/**
 * Histogram bucket boundaries of the exporters: the defaults per group of metrics and the
 * validation of the `buckets` option (seconds, as Prometheus and OpenTelemetry write them).
 * @module
 */
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';

/**
 * Default upper bounds (seconds) of the event loop histograms (iterations and phases):
 * 10 µs to 10 s, 1-2.5-5 per decade.
 */
export const DEFAULT_LOOP_BUCKETS: readonly number[] = Object.freeze([
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
  1, 2.5, 5, 10,
]);

/**
 * Default upper bounds (seconds) of the thread pool job histograms (queue wait, run time,
 * return delay): 10 µs to 60 s, 1-2.5-5 per decade, then 30 s and 60 s.
 */
export const DEFAULT_JOB_BUCKETS: readonly number[] = Object.freeze([...DEFAULT_LOOP_BUCKETS, 30, 60]);

/**
 * Bucket boundaries, in seconds: one list for every histogram, or a list per group
 * (`loop`: iterations and loop phases; `threadpool`: job queue wait, run time and return
 * delay), each falling back to its default. Each list: finite numbers > 0, strictly
 * increasing, at most 100 of them; `+Inf` is always added.
 */
export type UvBuckets = readonly number[] | { loop?: readonly number[]; threadpool?: readonly number[] };

/** Validated boundaries, seconds. */
export interface ResolvedBuckets {
  loop: readonly number[];
  threadpool: readonly number[];
}

function validateList(name: string, value: unknown): readonly number[] {
  if (!Array.isArray(value)) throw invalidArgType(name, 'an array of numbers', value);
  if (value.length === 0 || value.length > 100) throw outOfRange(`${name}.length`, 'from 1 to 100 boundaries', value.length);
  value.forEach((bound: unknown, i) => {
    if (typeof bound !== 'number') throw invalidArgType(`${name}[${i}]`, 'of type number', bound);
    if (!Number.isFinite(bound) || bound <= 0) {
      throw outOfRange(`${name}[${i}]`, 'a finite number of seconds > 0', bound);
    }
    if (i > 0 && bound <= value[i - 1]) {
      throw outOfRange(`${name}[${i}]`, `greater than the boundary before it (${value[i - 1]}): the list must be strictly increasing`, bound);
    }
  });
  return Object.freeze([...(value as number[])]);
}

/** Checks `options.buckets` (undefined: the defaults). */
export function validateBuckets(value: unknown, name = 'options.buckets'): ResolvedBuckets {
  if (value === undefined) return { loop: DEFAULT_LOOP_BUCKETS, threadpool: DEFAULT_JOB_BUCKETS };
  if (Array.isArray(value)) {
    const list = validateList(name, value);
    return { loop: list, threadpool: list };
  }
  if (value === null || typeof value !== 'object') {
    throw invalidArgType(name, 'an array of numbers or an object { loop, threadpool }', value);
  }
  const { loop, threadpool, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw invalidArgValue(`${name}.${unknown}`, 'is not a bucket group (loop, threadpool)', rest[unknown]);
  return {
    loop: loop === undefined ? DEFAULT_LOOP_BUCKETS : validateList(`${name}.loop`, loop),
    threadpool: threadpool === undefined ? DEFAULT_JOB_BUCKETS : validateList(`${name}.threadpool`, threadpool),
  };
}
