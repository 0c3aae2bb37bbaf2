// The in-process half of bench/agent-cost: in one process (pinned by the parent), chains of
// `turns` setImmediate turns alternate between nothing running and the agent's per-thread parts
// running (control/thread-stats.ts: the stats-mode loop observer, the stall watchdog, the pool
// and HTTP request counts, the 1 s timer), started before and closed after each measured chain.
// Prints { none: [ns/turn...], agent: [ns/turn...] } as its last line.
const { performance } = require('node:perf_hooks');
const { ThreadStatsCollector } = require('../../lib/control/thread-stats.js');

const [turns, rounds] = JSON.parse(process.argv[2]);

function chain(n) {
  return new Promise((resolve) => {
    let left = n;
    const step = () => (--left > 0 ? setImmediate(step) : resolve());
    setImmediate(step);
  });
}

async function measure() {
  const start = performance.now();
  await chain(turns);
  return ((performance.now() - start) * 1e6) / turns;
}

(async () => {
  // Load and warm both.
  const warm = new ThreadStatsCollector(1000, () => {});
  await chain(turns);
  warm.close();
  await chain(turns);
  const none = [];
  const agent = [];
  for (let r = 0; r < rounds; r++) {
    for (const on of r % 2 ? [true, false] : [false, true]) {
      const collector = on ? new ThreadStatsCollector(1000, () => {}) : undefined;
      (on ? agent : none).push(await measure());
      collector?.close();
    }
  }
  process.stdout.write(`${JSON.stringify({ none, agent })}\n`);
})();
