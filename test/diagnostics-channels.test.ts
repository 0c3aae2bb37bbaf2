/**
 * diagnostics_channel publications: long iterations, settled jobs and saturation samples reach
 * subscribers with the documented payloads, and nothing is published without subscribers.
 */
import diagnosticsChannel from 'node:diagnostics_channel';

import { JOB_CHANNEL, LONG_ITERATION_CHANNEL, LoopObserver, SATURATION_CHANNEL, threadpool } from '../src';
import { SLOWDOWN } from './helpers';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
const busy = (ms: number) => {
  const end = process.hrtime.bigint() + BigInt(ms * 1e6);
  while (process.hrtime.bigint() < end);
};

test('a long iteration is published on uvscope:loop:long-iteration and emitted as longIteration', async () => {
  const published: any[] = [];
  const emitted: any[] = [];
  const onMessage = (message: unknown) => published.push(message);
  diagnosticsChannel.subscribe(LONG_ITERATION_CHANNEL, onMessage);
  // Threshold and block stretch with SLOWDOWN: under valgrind a plain turn can take 25 ms.
  const observer = new LoopObserver({ blockThresholdMs: 25 * SLOWDOWN }).start();
  observer.on('longIteration', (event) => emitted.push(event));
  try {
    await nextTurn(); // a first prepare, so the block falls in a complete iteration
    await nextTurn();
    const before = process.hrtime.bigint();
    busy(40 * SLOWDOWN);
    await nextTurn();
    await nextTurn();
    // Only the iteration with the block counts here: on a loaded machine jest's own work can
    // make an earlier or a later turn long too. The block's iteration is the first to end
    // after `before` (the block runs in the iteration that was current then).
    expect(emitted).toEqual(published);
    const ours = published.filter((event) => event.endedAtNs > before);
    expect(ours.length).toBeGreaterThanOrEqual(1);
    const event = ours[0];
    expect(event.durationNs).toBeGreaterThanOrEqual(40e6 * SLOWDOWN);
    expect(event.thresholdNs).toBe(25e6 * SLOWDOWN);
    expect(event.threadId).toBe(0);
    expect(event.pollWaitNs + event.pollWorkNs + event.outsidePollNs).toBeLessThanOrEqual(event.durationNs);
    expect(event.outsidePollNs + event.pollWorkNs).toBeGreaterThanOrEqual(40e6 * SLOWDOWN);
    expect(observer.stats().longIterations.count).toBe(published.length);
  } finally {
    diagnosticsChannel.unsubscribe(LONG_ITERATION_CHANNEL, onMessage);
    observer.close();
  }
});

test('settled jobs are published on uvscope:threadpool:job only while subscribed', async () => {
  const records: any[] = [];
  const onMessage = (message: unknown) => records.push(message);
  await threadpool.hash('sha256', 'not published');
  diagnosticsChannel.subscribe(JOB_CHANNEL, onMessage);
  try {
    await threadpool.hash('sha256', 'abc');
    await threadpool.hashFile('/definitely/not/here', 'sha256').catch(() => undefined);
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await threadpool.sleep(1, { signal: ac.signal }).catch(() => undefined); // never submitted
  } finally {
    diagnosticsChannel.unsubscribe(JOB_CHANNEL, onMessage);
  }
  await threadpool.hash('sha256', 'not published either');
  expect(records.map((r) => [r.kernel, r.outcome])).toEqual([
    ['hash', 'completed'],
    ['hashFile', 'failed'],
  ]);
  const [hash] = records;
  expect(hash.bytes).toBe(3);
  expect(hash.queuedAt <= hash.startedAt && hash.startedAt <= hash.finishedAt && hash.finishedAt <= hash.settledAt).toBe(true);
  expect(hash.runNs).toBe(Number(hash.finishedAt - hash.startedAt));
});

test('saturation samples are published on uvscope:threadpool:saturation', async () => {
  const samples: any[] = [];
  const onMessage = (message: unknown) => samples.push(message);
  diagnosticsChannel.subscribe(SATURATION_CHANNEL, onMessage);
  const monitor = threadpool.monitorSaturation({ intervalMs: 2 });
  try {
    while (samples.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    monitor.stop();
    diagnosticsChannel.unsubscribe(SATURATION_CHANNEL, onMessage);
  }
  for (const sample of samples) {
    expect(typeof sample.queueWaitNs).toBe('number');
    expect(sample.queueWaitNs).toBeGreaterThanOrEqual(0);
  }
  expect(monitor.stats().queueWait.count).toBeGreaterThanOrEqual(3);
});
