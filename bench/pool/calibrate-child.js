'use strict';
// How many PBKDF2-SHA256 iterations take `jobMs` on this machine: times 1000 iterations on the
// pool, one job at a time (the median of `samples`), and scales. Prints { iterations, msPer1000 }.
const { childMain } = require('../lib/children');

childMain(async ({ lib, jobMs, samples }) => {
  const { threadpool } = require(lib);
  const times = [];
  for (let i = 0; i < samples; i++) {
    await threadpool.pbkdf2('password', `salt-${i}`, 1000, 32, 'sha256');
    if (i >= 5) times.push(threadpool.stats().run.max);
    threadpool.resetStats();
  }
  times.sort((a, b) => a - b);
  const msPer1000 = times[times.length >> 1] / 1e6;
  return { msPer1000, iterations: Math.max(500, Math.round((jobMs / msPer1000) * 2) * 500) };
});
