/**
 * Both exporters, left running with their dedicated stall watchdogs, in a child process against
 * the compiled library (lib/): neither keeps the process alive.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { SLOWDOWN } from '../helpers';

const ROOT = path.resolve(__dirname, '..', '..');

test('exporters left running (their dedicated watchdogs too) never keep the process alive', () => {
  const script = `
    const { collectDefaultUvMetrics } = require(${JSON.stringify(path.join(ROOT, 'lib', 'prometheus.js'))});
    const { registerUvMetrics } = require(${JSON.stringify(path.join(ROOT, 'lib', 'opentelemetry.js'))});
    const prom = collectDefaultUvMetrics({ stallWatchdog: { thresholdMs: 10 } });
    const otel = registerUvMetrics(undefined, {});
    if (!prom.stallWatchdog.running || !otel.stallWatchdog.running) throw new Error('not running');
    process.stdout.write('started');`;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 * SLOWDOWN });
  expect(result.stderr).toBe('');
  expect({ status: result.status, signal: result.signal, stdout: result.stdout }).toEqual({ status: 0, signal: null, stdout: 'started' });
});
