/**
 * Bounded recording's detail spans, driven turn by turn: a ThreadRecorder in a child process
 * whose flushes the script calls at chosen turns (no session timer), so that the two orders a
 * busy server meets by chance are met every time: a flush in the turn right after a long
 * iteration (the span waits for its 50 turns after), and a second long iteration soon after a
 * flush that closed the first span (its 50 turns before reach back into the first span's). Every
 * turn from 50 before to 50 after each long iteration is in the batches, in a span; markers left
 * out between are a gap the batch says where (`markerGaps`).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

// Turns of a setImmediate chain; `block` busy-waits in a turn, `flush` takes a batch. A long
// iteration is 100 ms busy, and a block 150 ms: a loaded machine that holds the process off a
// CPU for a few tens of ms between two turns must not make long iterations the plan has not.
const script = `
  const { ThreadRecorder } = require(${JSON.stringify(path.join(root, 'lib', 'trace', 'thread-recorder'))});
  const recorder = new ThreadRecorder({ blockMs: 100, sampleUs: 0 });
  const plan = JSON.parse(process.argv[1]);
  const batches = [];
  const summary = (b) => ({
    iterations: [...b.markers.iterations],
    timesNs: [...b.markers.timesNs].map(String),
    markerGaps: b.markerGaps ?? [],
    spans: (b.spans ?? []).map((s) => [String(s.startNs), String(s.endNs)]),
    longIterations: b.longIterations.map((l) => l.iteration),
  });
  let turn = 0;
  (function next() {
    turn++;
    if (plan.block.includes(turn)) { const end = Date.now() + 150; while (Date.now() < end); }
    if (plan.flush.includes(turn)) batches.push(summary(recorder.flush()));
    if (turn < plan.turns) return setImmediate(next);
    batches.push(summary(recorder.finish()));
    console.log(JSON.stringify(batches));
  })();`;

interface Batch {
  iterations: number[];
  timesNs: string[];
  markerGaps: number[];
  spans: [string, string][];
  longIterations: number[];
}

function record(plan: { block: number[]; flush: number[]; turns: number }): Batch[] {
  const result = spawnSync(process.execPath, ['-e', script, JSON.stringify(plan)], { encoding: 'utf8', timeout: 60_000 });
  expect(result.stderr).toBe('');
  return JSON.parse(result.stdout);
}

/** The markers of all batches (iteration, time) and the spans. */
function flatten(batches: Batch[]) {
  const markers = batches.flatMap((b) => b.iterations.map((iteration, i) => ({ iteration, timeNs: BigInt(b.timesNs[i]) })));
  const spans = batches.flatMap((b) => b.spans.map(([s, e]) => ({ startNs: BigInt(s), endNs: BigInt(e) })));
  const longIterations = batches.flatMap((b) => b.longIterations);
  return { markers, spans, longIterations };
}

function expectTurnsAround(batches: Batch[], long: number) {
  const { markers, spans } = flatten(batches);
  const turns = new Set(markers.map((m) => m.iteration));
  const missing = [];
  for (let i = long - 50; i <= long + 50; i++) if (!turns.has(i)) missing.push(i - long);
  expect(missing).toEqual([]);
  // Each of those turns' markers lies in a span.
  for (const m of markers.filter((m) => m.iteration >= long - 50 && m.iteration <= long + 50)) {
    expect(spans.some((s) => m.timeNs >= s.startNs && m.timeNs <= s.endNs)).toBe(true);
  }
}

test('a flush in the turn after a long iteration: the span stays open for the 50 turns after it', () => {
  const batches = record({ block: [500], flush: [200, 501, 502, 700], turns: 900 });
  const { longIterations } = flatten(batches);
  const long = longIterations.find((l) => l > 400)!;
  expect(long).toBeDefined();
  expectTurnsAround(batches, long);
  // The flushes in the two turns after it closed nothing: the span is in the batch of the turn-700 flush.
  expect(batches[1].spans).toEqual([]);
  expect(batches[2].spans).toEqual([]);
  expect(batches[3].spans).toHaveLength(1);
});

test('a long iteration soon after a flush that closed the previous span: its 50 turns before are all kept', () => {
  // Long at 500, its span closed at the flush of turn 700; the next long at 703, 3 turns after that flush.
  const batches = record({ block: [500, 703], flush: [200, 700, 704, 900], turns: 1000 });
  const { longIterations, markers } = flatten(batches);
  const longs = longIterations.filter((l) => l > 400);
  expect(longs).toHaveLength(2);
  for (const long of longs) expectTurnsAround(batches, long);
  // Turns between the first span's 50 after and the second's 50 before were left out: a gap marked where it is.
  const gapTurns = new Set(markers.map((m) => m.iteration));
  expect(gapTurns.has(longs[0] + 100)).toBe(false);
  expect(batches.some((b) => b.markerGaps.length > 0)).toBe(true);
});

test('markers after a gap inside one batch are kept, with the gap at its index', () => {
  // Two long iterations 300 turns apart with no flush between: both spans' turns in one batch.
  const batches = record({ block: [500, 800], flush: [200, 1100], turns: 1200 });
  const { longIterations } = flatten(batches);
  const longs = longIterations.filter((l) => l > 400);
  expect(longs).toHaveLength(2);
  for (const long of longs) expectTurnsAround(batches, long);
  const batch = batches.find((b) => b.longIterations.length === 2)!;
  const inner = batch.markerGaps.filter((at) => at > 0);
  expect(inner).toHaveLength(1);
  // The gap lies between the first span's last turn and the second's first.
  expect(batch.iterations[inner[0] - 1]).toBeLessThan(batch.iterations[inner[0]] - 1);
  expect(batch.spans).toHaveLength(2);
});
