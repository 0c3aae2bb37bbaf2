'use strict';
// Pinning benchmark children to one CPU with util-linux's taskset. On the 2-vCPU VMs this
// project runs on, the vCPUs can differ in speed by tens of percent for minutes at a time
// (host contention on one of them); a child lands on either, so unpinned timings come out
// bimodal and ratios between configurations turn into coin flips. Node has no affinity API,
// hence the external command. Everything here degrades to "not pinned" where taskset is absent.

const os = require('node:os');
const { spawnSync } = require('node:child_process');

let tasksetChecked = false;
let tasksetOk = false;

/** Whether `taskset` can be run here (Linux with util-linux). */
function hasTaskset() {
  if (!tasksetChecked) {
    tasksetChecked = true;
    const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    tasksetOk = !probe.error && probe.status === 0;
  }
  return tasksetOk;
}

/** The CPUs this process may run on, as far as Node can tell: 0 .. n-1. */
function cpuList() {
  return Array.from({ length: os.availableParallelism?.() ?? os.cpus().length }, (_, i) => i);
}

/**
 * [command, args] that run `node <args>` pinned to `cpu` (null: not pinned).
 * @param {number|null} cpu
 * @param {string[]} nodeArgs
 */
function nodeCommand(cpu, nodeArgs) {
  if (cpu === null || cpu === undefined) return [process.execPath, nodeArgs];
  return ['taskset', ['-c', String(cpu), process.execPath, ...nodeArgs]];
}

/** Whether taskset accepts `cpu` (it exists and is allowed). */
function canPin(cpu) {
  if (!hasTaskset()) return false;
  const probe = spawnSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

module.exports = { hasTaskset, cpuList, nodeCommand, canPin };
