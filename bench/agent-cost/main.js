// bench/agent-cost: what the uvscope/agent preload (stats-mode loop observer, stall watchdog,
// pool-request and HTTP counts, its 1 s timer, a listening control socket nobody talks to)
// costs per loop turn: ns per turn of a setImmediate chain without and with the preload, each
// run a fresh child pinned to one CPU (taskset, --cpu), the two interleaved round by round;
// the report gives the medians, their range, and the per-round ratio agent / none. Then the
// same in one process (inproc-child.js): the agent's per-thread parts started and closed
// around alternate chains, which a busy machine disturbs less than process against process.
// Usage: node bench/agent-cost.js [--quick] [--rounds R] [--turns N] [--cpu N]
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
if (args.includes('--help')) {
  process.stdout.write('usage: node bench/agent-cost.js [--quick] [--rounds R] [--turns N] [--cpu N]\n');
  process.exit(0);
}
const quick = args.includes('--quick');
const rounds = flag('rounds', quick ? 2 : 9);
const turns = flag('turns', quick ? 50_000 : 1_000_000);
const cpu = flag('cpu', 0);
const root = path.join(__dirname, '..', '..');
const agent = path.join(root, 'lib', 'agent.js');
if (!fs.existsSync(agent)) {
  process.stderr.write('bench/agent-cost: build first (npm run build)\n');
  process.exit(1);
}
const child = path.join(__dirname, 'turn-child.js');
const controlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-agent-cost-'));

function run(withAgent) {
  const command = ['-c', String(cpu), process.execPath, ...(withAgent ? ['--require', agent] : []), child, JSON.stringify([turns, Math.round(turns / 10)])];
  const result = spawnSync('taskset', command, { encoding: 'utf8', env: { ...process.env, UVSCOPE_CONTROL_DIR: controlDir } });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  const out = JSON.parse(result.stdout.trim().split('\n').pop());
  if (out.agent !== withAgent) throw new Error(`child ran ${out.agent ? 'with' : 'without'} the agent`);
  return out.nsPerTurn;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const none = [];
const withAgent = [];
const ratios = [];
try {
  for (let r = 0; r < rounds; r++) {
    // Interleaved, the order alternating round by round.
    const pair = r % 2 === 0 ? [run(false), run(true)] : [run(true), run(false)].reverse();
    none.push(pair[0]);
    withAgent.push(pair[1]);
    ratios.push(pair[1] / pair[0]);
  }
} finally {
  fs.rmSync(controlDir, { recursive: true, force: true });
}
const inproc = spawnSync('taskset', ['-c', String(cpu), process.execPath, path.join(__dirname, 'inproc-child.js'), JSON.stringify([turns, rounds * 2])], { encoding: 'utf8' });
if (inproc.status !== 0) throw new Error(`in-process child failed: ${inproc.stderr}`);
const inprocRuns = JSON.parse(inproc.stdout.trim().split('\n').pop());
const inprocRatios = inprocRuns.agent.map((ns, i) => ns / inprocRuns.none[i]);
const fmt = (xs) => `${median(xs).toFixed(1)} ns/turn (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})`;
process.stdout.write(
  `uvscope/agent per loop turn, ${rounds} rounds of ${turns} turns, pinned to CPU ${cpu}, Node ${process.version}\n` +
    `  none   ${fmt(none)}\n` +
    `  agent  ${fmt(withAgent)}\n` +
    `  agent / none per round: median ${median(ratios).toFixed(3)}x (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})\n` +
    `in one process, ${rounds * 2} chains each, alternating:\n` +
    `  none   ${fmt(inprocRuns.none)}\n` +
    `  agent  ${fmt(inprocRuns.agent)}\n` +
    `  agent / none per pair: median ${median(inprocRatios).toFixed(3)}x (${Math.min(...inprocRatios).toFixed(3)}-${Math.max(...inprocRatios).toFixed(3)})\n`,
);
