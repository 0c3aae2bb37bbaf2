/** Small helpers shared by the test files (not a test file itself: jest runs *.test.ts). */

/** Runs `fn`, returning what it threw synchronously (fails the test if it did not throw). */
export function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a synchronous throw');
}

/** Awaits a promise expected to reject, returning the reason. */
export async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}

/** What `npm run test:asan` (scripts/sanitize.js) sets for every process of the suite. */
const SANITIZER_VARIABLES = ['LD_PRELOAD', 'ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS', 'UVSCOPE_ADDON', 'UVSCOPE_STACK_ADDON', 'UVSCOPE_SANITIZER'];

/**
 * `env` without the sanitizer run's variables, for children that are not uvscope under test
 * (npm, compilers, Chromium): LeakSanitizer would fail them for their own allocations.
 */
export function withoutSanitizer(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of SANITIZER_VARIABLES) delete copy[name];
  return copy;
}

/**
 * How many times slower than native this suite runs: 40 under valgrind (`npm run
 * test:valgrind`), 1 otherwise. Stretches deadlines and slack (child kill timers, waits for a
 * condition, the slack for a scrape's own time, the long-iteration test's block and threshold),
 * not the bounds a test measures.
 */
export const SLOWDOWN = process.env.UVSCOPE_SANITIZER === 'valgrind' ? 40 : 1;
