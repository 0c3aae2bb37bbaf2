/**
 * The pool's size: as libuv reads UV_THREADPOOL_SIZE (`parsePoolSize`, `poolSize`), and as
 * measured with blocking probe jobs (`measureSizeOn`; the public `measureSize` in threadpool.ts
 * runs it on the default pool's queue). Lifetime: the UV_THREADPOOL_SIZE seen at load is kept.
 * @module
 */
import { invalidArgType, validateNumber, validateObject } from '../errors';
import { JobFlag, native, NativeWorkQueue } from '../native';

/** What {@link poolSize} reports. */
export interface PoolSize {
  /** Threads libuv uses (or will use at first pool use), parsed from UV_THREADPOOL_SIZE as libuv 1.46 does. */
  size: number;
  /** The raw UV_THREADPOOL_SIZE value, if set. */
  configured: string | undefined;
  /** Why `size` may not be what the pool actually has, when that applies. */
  warning?: string;
}

const envAtLoad = process.env.UV_THREADPOOL_SIZE;

/**
 * libuv's reading of UV_THREADPOOL_SIZE (1.46 and later): `atoi`, stored unsigned, so 0 or
 * garbage gives 1, negative numbers wrap and clamp to 1024, and above 1024 clamps to 1024.
 */
export function parsePoolSize(value: string | undefined): number {
  if (value === undefined) return 4;
  if (typeof value !== 'string') throw invalidArgType('value', 'of type string', value);
  const match = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(value);
  // atoi is (int)strtol: strtol saturates at the 64-bit long range, the cast keeps the low
  // 32 bits, and libuv stores the result in an unsigned int.
  let parsed = match ? BigInt(match[1]) : 0n;
  const LONG_MAX = 2n ** 63n - 1n;
  if (parsed > LONG_MAX) parsed = LONG_MAX;
  if (parsed < -LONG_MAX - 1n) parsed = -LONG_MAX - 1n;
  const threads = Number(BigInt.asUintN(32, parsed));
  if (threads === 0) return 1;
  return Math.min(threads, 1024);
}

/**
 * The pool size libuv uses, from UV_THREADPOOL_SIZE. libuv reads the variable once, when the
 * pool starts (first fs, dns.lookup, crypto or uvscope job); an ES module entry point starts
 * it before any user code runs, so setting process.env.UV_THREADPOOL_SIZE from JavaScript only
 * works in a CommonJS entry before first pool use. Use `measureSize()` to be sure.
 */
export function poolSize(): PoolSize {
  const configured = process.env.UV_THREADPOOL_SIZE;
  const result: PoolSize = { size: parsePoolSize(configured), configured };
  if (configured !== envAtLoad) {
    result.warning =
      'UV_THREADPOOL_SIZE changed after uvscope loaded; libuv reads it once when the pool starts, ' +
      'so the pool may already run with the earlier value. measureSize() tells.';
  } else if (require.main === undefined && configured !== undefined) {
    result.warning =
      'The entry point is not a CommonJS module: an ES module entry starts the pool before user code ' +
      'runs, so a UV_THREADPOOL_SIZE set from JavaScript is ignored. Set it in the environment.';
  }
  return result;
}

/** @internal `measureSize`'s work, on `queue`. */
export async function measureSizeOn(queue: NativeWorkQueue, options: { settleMs?: number }): Promise<number> {
  validateObject('options', options);
  const settleMs = options?.settleMs ?? 25;
  validateNumber('options.settleMs', settleMs, { min: 1, max: 10_000 });
  let probes = Math.min(1024, parsePoolSize(process.env.UV_THREADPOOL_SIZE)) + 1;
  for (;;) {
    const barrier = new native.NativeBarrier();
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < probes; i++) jobs.push(queue.hold(barrier, JobFlag.ExcludeStats)!);
    let arrived = 0;
    let stableSince = Date.now();
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      const now = barrier.arrived();
      if (now !== arrived || now === 0) {
        arrived = now;
        stableSince = Date.now();
      } else if (Date.now() - stableSince >= settleMs) {
        break;
      }
      if (arrived === probes) break;
    }
    barrier.release();
    await Promise.all(jobs);
    if (arrived < probes || probes >= 1025) return Math.min(arrived, 1024);
    probes = Math.min(1025, probes * 2);
  }
}
