/** Small helpers shared by the test files (not a test file itself: jest runs *.test.ts). */
import type { Readable } from 'node:stream';
import type { HttpRequestRecord } from '../src/channels';
import type { ThreadBatch } from '../src/trace/thread-recorder';

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

/** Debian's chromium (CI installs it); the HTML report tests are skipped without it. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Opens `file` in headless Chromium and runs `inspect(page)` (a playwright-core Page); returns
 * what it resolved with and what went wrong on the page meanwhile: console errors, page errors,
 * and any request that is not to a file:// URL or that failed.
 */
export async function inChromium<T>(file: string, inspect: (page: any) => Promise<T>): Promise<{ result: T; problems: string[] }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    env: withoutSanitizer(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message: any) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error: Error) => problems.push(error.message));
    page.on('request', (request: any) => {
      if (!request.url().startsWith('file://')) problems.push(`request: ${request.url()}`);
    });
    page.on('requestfailed', (request: any) => problems.push(`request failed: ${request.url()}`));
    await page.goto(`file://${file}`);
    return { result: await inspect(page), problems };
  } finally {
    await browser.close();
  }
}

/**
 * What a spawned child prints, as it prints it: `until(test, what)` resolves once `test` holds
 * of the output so far (checked at each chunk) and rejects after 20 s with what was printed;
 * `exited` resolves with the exit code.
 */
export function watchOutput(child: { stdout: Readable; stderr: Readable; on(event: 'exit', listener: (code: number | null) => void): unknown }) {
  const output = { stdout: '', stderr: '' };
  let changed: () => void = () => {};
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
    changed();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
    changed();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = (test: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what}; stdout: ${output.stdout}; stderr: ${output.stderr}`)),
        20_000 * SLOWDOWN,
      );
      changed = () => {
        if (!test()) return;
        clearTimeout(timer);
        changed = () => {};
        resolve();
      };
      changed();
    });
  return { output, exited, until };
}

/**
 * The JSON lines a child prints on `stdout`, parsed as they come: `received` holds every one so
 * far; `next(match)` resolves with the first (already received or still to come) that matches,
 * and rejects once `ended` resolves without one (with what `ended` resolved with).
 */
export function jsonLines<T>(stdout: Readable, ended: Promise<unknown>) {
  const received: T[] = [];
  const waiters: { match: (line: T) => boolean; resolve: (line: T) => void }[] = [];
  let buffered = '';
  stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffered.slice(0, newline)) as T;
      buffered = buffered.slice(newline + 1);
      received.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  const next = (match: (line: T) => boolean): Promise<T> => {
    const found = received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      waiters.push({ match, resolve });
      ended.then((end) => reject(new Error(`child ended (${JSON.stringify(end)}) before the expected line`)));
    });
  };
  return { received, next };
}

/** A trace thread batch holding nothing but `httpRequests` and `extra` (trace collector tests). */
export function httpBatch(httpRequests: HttpRequestRecord[], extra: Partial<ThreadBatch> = {}): ThreadBatch {
  return {
    threadId: 0,
    markers: { timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) },
    droppedMarkers: 0,
    longIterations: [],
    utilization: [],
    jobs: [],
    requests: [],
    httpRequests,
    stalls: [],
    ...extra,
  };
}

/** A finished GET's record on uvscope:http:request, its times in ms on the trace's clock (answered 200 unless `extra` says otherwise). */
export function httpRecord(id: number, url: string, startMs: number, endMs: number, extra: Partial<HttpRequestRecord> = {}): HttpRequestRecord {
  const ms = 1_000_000n;
  return { id, method: 'GET', url, protocol: 'http', statusCode: 200, completed: true, startedAtNs: BigInt(startMs) * ms, endedAtNs: BigInt(endMs) * ms, ...extra };
}
