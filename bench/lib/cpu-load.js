'use strict';
// How busy was the machine besides us? Reads Linux's /proc/stat (all CPUs) and
// /proc/self/stat (this process and its waited-for children) at two moments; the difference
// tells how much CPU time other processes used, and how much the hypervisor stole. Returns
// null where /proc is missing (not Linux), so callers just omit the line.

const fs = require('node:fs');

const CLOCK_TICKS = 100; // USER_HZ: /proc times are in 1/100 s on every Linux that Node supports

function readSystem() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  // user nice system idle iowait irq softirq steal guest guest_nice
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

function readSelf() {
  const text = fs.readFileSync('/proc/self/stat', 'utf8');
  // Fields after the parenthesised command name: state is field 3; utime..cstime are 14..17.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  return utime + stime + cutime + cstime;
}

/** A snapshot to pass to cpuLoadSince() later, or null when /proc is unavailable. */
function cpuLoadSnapshot() {
  try {
    return { system: readSystem(), self: readSelf(), at: process.hrtime.bigint() };
  } catch {
    return null;
  }
}

/**
 * CPU seconds used since `snapshot` by everything else on the machine (total busy time minus
 * ours and our children's), stolen by the hypervisor, and the elapsed wall seconds.
 */
function cpuLoadSince(snapshot) {
  const now = cpuLoadSnapshot();
  if (!snapshot || !now) return null;
  const busy = (now.system.busy - snapshot.system.busy) / CLOCK_TICKS;
  const ours = (now.self - snapshot.self) / CLOCK_TICKS;
  return {
    wallSeconds: Number(now.at - snapshot.at) / 1e9,
    busySeconds: busy,
    ourSeconds: ours,
    otherSeconds: Math.max(0, busy - ours),
    stealSeconds: (now.system.steal - snapshot.system.steal) / CLOCK_TICKS,
  };
}

module.exports = { cpuLoadSnapshot, cpuLoadSince };
