// One measured run of bench/agent-cost: `turns` loop turns (a setImmediate chain: each turn runs
// one immediate and polls without waiting), after `warmup` turns, in a process that runs with
// or without the uvscope/agent preload (the parent decides through --require). Prints
// { nsPerTurn, agent } as its last line.
const { performance } = require('node:perf_hooks');

const [turns, warmup] = JSON.parse(process.argv[2]);
const agent = (() => {
  try {
    return require.cache[require.resolve('../../lib/agent.js')] ? require('../../lib/agent.js').agent : undefined;
  } catch {
    return undefined;
  }
})();

function chain(n) {
  return new Promise((resolve) => {
    let left = n;
    const step = () => (--left > 0 ? setImmediate(step) : resolve());
    setImmediate(step);
  });
}

(async () => {
  await chain(warmup);
  const start = performance.now();
  await chain(turns);
  const ms = performance.now() - start;
  process.stdout.write(`${JSON.stringify({ nsPerTurn: (ms * 1e6) / turns, agent: agent ? Boolean(agent.socket) : false })}\n`);
})();
