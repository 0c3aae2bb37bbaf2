'use strict';
// The load generator of bench/requests.js, a child process of its own (pinned to another CPU
// than the server), at a fixed overall rate, one of two ways (the result names which):
//   steady      (default) a plain http.request loop over a keep-alive agent that every 2 ms
//               sends what brings the count up to rate x elapsed time: the rate holds within
//               any window of a few ms, which alternate mode's sub-second windows need;
//   autocannon  autocannon's overallRate (a devDependency; a fall back to steady when it is
//               not installed), which sends each second's requests in a burst at its start.
// Options (JSON argument): { url, rate, connections, seconds, generator }.

const { childMain } = require('../lib/children');
const { ROOT } = require('../lib/main');
const statsLib = require('../lib/stats');

function loadAutocannon() {
  try {
    return require(require.resolve('autocannon', { paths: [ROOT, process.cwd()] }));
  } catch {
    return null;
  }
}

/**
 * Sends opts.rate requests per second to opts.url over opts.connections connections for
 * opts.seconds; resolves with what was sent, completed and failed, and the latency p50/p99.
 */
async function driveLoad(opts) {
  const seconds = opts.seconds;
  const autocannon = opts.generator === 'autocannon' ? loadAutocannon() : null;
  if (autocannon) {
    const r = await autocannon({ url: opts.url, connections: opts.connections, overallRate: opts.rate, duration: seconds });
    return {
      generator: `autocannon ${require(require.resolve('autocannon/package.json', { paths: [ROOT] })).version}`,
      sent: r.requests.sent,
      completed: r.requests.total,
      errors: r.errors + r.timeouts + r.non2xx,
      latencyP50Ms: r.latency.p50,
      latencyP99Ms: r.latency.p99,
    };
  }
  // Steady: every 2 ms, send what brings the count up to rate x elapsed time.
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const latencies = [];
  let sent = 0;
  let completed = 0;
  let errors = 0;
  const one = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    sent++;
    http.get(opts.url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) completed++;
        else errors++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        resolve();
      });
    }).on('error', () => {
      errors++;
      resolve();
    });
  });
  const inFlight = [];
  const start = Date.now();
  let due = 0;
  while (Date.now() - start < seconds * 1000) {
    const target = Math.floor(((Date.now() - start) / 1000) * opts.rate);
    for (; due < target; due++) inFlight.push(one());
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  agent.destroy();
  return {
    generator: opts.generator === 'autocannon' ? 'steady http.request loop (autocannon not installed)' : 'steady http.request loop',
    sent,
    completed,
    errors,
    latencyP50Ms: statsLib.quantile(latencies, 0.5),
    latencyP99Ms: statsLib.quantile(latencies, 0.99),
  };
}

childMain(driveLoad, { label: 'load' });
