'use strict';
// Which CPU a round's children run on: one given (--cpu N), none, or 'auto': the CPU on which a
// short probe run is fastest right now. Auto decides again every round, because a vCPU's speed
// changes over minutes on the VMs this project runs on (lib/affinity.js). Stateless.

const affinity = require('./affinity');
const { formatNumber } = require('./table');

/**
 * { cpu } for this round; with 'auto' also { calibration: { [cpu]: cost }, spread } where cost
 * is `await probe(cpu)` (lower is faster) and spread the slowest over the fastest. The probe
 * order flips every other round, so no CPU always goes first. `cpu` null: not pinned (asked
 * for, or no taskset here).
 */
async function choosePinning(choice, round, probe) {
  if (choice === null || !affinity.hasTaskset()) return { cpu: null };
  if (choice !== 'auto') {
    if (!affinity.canPin(choice)) throw new Error(`cannot pin to CPU ${choice} (taskset -c ${choice} failed)`);
    return { cpu: choice };
  }
  const cpus = affinity.cpuList().filter((cpu) => affinity.canPin(cpu));
  if (cpus.length < 2) return { cpu: cpus[0] ?? null };
  const calibration = {};
  for (const cpu of round % 2 ? [...cpus].reverse() : cpus) calibration[cpu] = await probe(cpu);
  const ranked = Object.entries(calibration).sort((a, b) => a[1] - b[1]);
  return {
    cpu: Number(ranked[0][0]),
    calibration,
    spread: ranked[ranked.length - 1][1] / ranked[0][1],
  };
}

/** The round's choice for the progress log: "pinned to CPU 1 (<probeName>: cpu0 2,400, cpu1 1,800)". */
function describeRoundPinning(pinning, probeName) {
  const cal = Object.entries(pinning.calibration).map(([c, cost]) => `cpu${c} ${formatNumber(cost)}`).join(', ');
  return `pinned to CPU ${pinning.cpu} (${probeName}: ${cal})` +
    (pinning.spread > 1.1 ? `; the CPUs differ by ${((pinning.spread - 1) * 100).toFixed(0)}% right now` : '');
}

/** One line for the report: how the children of all rounds were pinned. */
function describePinning(choice, pinnings, probeName) {
  if (choice === null) return 'children not pinned to a CPU (--cpu none)';
  if (pinnings.every((p) => p.cpu === null)) return 'children not pinned to a CPU (no taskset here)';
  if (choice !== 'auto') return `children pinned to CPU ${choice} (--cpu)`;
  const perRound = pinnings.map((p, i) => {
    const cal = Object.entries(p.calibration ?? {}).map(([c, cost]) => `${c}:${formatNumber(cost)}`).join('/');
    return `r${i + 1} cpu${p.cpu} (${cal})`;
  });
  return `children pinned each round to the CPU fastest in a ${probeName}: ${perRound.join(', ')}`;
}

module.exports = { choosePinning, describeRoundPinning, describePinning };
