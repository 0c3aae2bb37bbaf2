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
