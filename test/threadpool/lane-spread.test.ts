/**
 * A lane's jobs spread over the CPUs (native/threadpool/cpu_spread.h): a lane job that starts
 * on a CPU where another lane job runs moves to one where none does, and gives its thread's
 * affinity mask back at once. Checked in child processes: moves happen where the process may
 * use two CPUs (spreadMoves > 0 over 400 short jobs of a lane of 2: about 7% of them move on
 * this 2-CPU machine), none where it may use one (taskset -c 0), and afterwards every thread's
 * mask, read from /proc independently of uvscope, is the process's own.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { SLOWDOWN } from '../helpers';

const LIB = path.resolve(__dirname, '..', '..', 'lib', 'index.js');
const linux = process.platform === 'linux';
const hasTaskset = linux && spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** Runs `jobs` 1 ms spin jobs through a lane of 2 in a child under `taskset -c cpus`. */
function spreadRun(jobs: number, cpus: string): { moves: number; masks: string[]; processMask: string } {
  const script = `
    const fs = require('fs');
    const { createLane } = require(${JSON.stringify(LIB)});
    const mask = (task) => /Cpus_allowed_list:\\s*(\\S+)/.exec(fs.readFileSync('/proc/self/task/' + task + '/status', 'utf8'))[1];
    const processMask = mask(process.pid);
    const lane = createLane({ concurrency: 2 });
    Promise.all(Array.from({ length: ${jobs} }, () => lane.spin(1))).then(() => {
      const masks = [...new Set(fs.readdirSync('/proc/self/task').map(mask))];
      process.stdout.write(JSON.stringify({ moves: lane.stats().spreadMoves, masks, processMask }));
    });`;
  const child = spawnSync('taskset', ['-c', cpus, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 * SLOWDOWN });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout);
}

const twoCpus = hasTaskset && spawnSync('taskset', ['-c', '0,1', 'true']).status === 0;

(twoCpus ? test : test.skip)('two CPUs allowed: lane jobs started beside another move, and every thread keeps the mask it had', () => {
  const run = spreadRun(400, '0,1');
  expect(run.processMask).toBe('0-1');
  expect(run.moves).toBeGreaterThan(0);
  expect(run.masks).toEqual([run.processMask]);
});

(hasTaskset ? test : test.skip)('one CPU allowed (taskset -c 0): no lane job moves, and no thread was given another CPU', () => {
  const run = spreadRun(100, '0');
  expect(run).toEqual({ moves: 0, masks: ['0'], processMask: '0' });
});
