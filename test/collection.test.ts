/**
 * Native memory behind LoopObservers and ThreadPools is freed: at once on close(), and by the
 * garbage collector when they are dropped without close(). Counted exactly by the addon
 * (liveObjects()), in a child process run with --expose-gc, against the compiled library (lib/).
 * A regression this caught: from Node 26 an async context holds its resource strongly, and a
 * wrapper used as its own resource was never collected.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { SLOWDOWN } from './helpers';

test('closed observers free their handles, dropped observers and pools are collected and freed; a queue lives as long as any of its submission functions', () => {
  const child = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, 'fixtures', 'collect-child.js')], {
    encoding: 'utf8',
    timeout: 60_000 * SLOWDOWN,
  });
  expect({ status: child.status, stderr: child.stderr }).toEqual({ status: 0, stderr: '' });
  const r = JSON.parse(child.stdout.trim()) as Record<string, number>;
  // The counters see the objects while they exist (so the checks below can fail)...
  expect(r.whileOpen).toBe(20);
  expect(r.droppedAlive).toBe(300);
  expect(r.poolsAlive).toBe(40);
  // ...and see them freed.
  expect(r.afterClose).toBe(0);
  expect(r.droppedLeft).toBeLessThanOrEqual(1);
  expect(r.observersFinalized).toBeGreaterThanOrEqual(299);
  expect(r.poolsLeft).toBeLessThanOrEqual(1);
  expect({ finalized: r.keptFunctionQueueFinalized, runs: r.keptFunctionRuns }).toEqual({ finalized: false, runs: true });
  expect(r.droppedFunctionQueueFinalized).toBe(true);
});
