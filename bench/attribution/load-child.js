'use strict';
// The load generator of bench/attribution.js, a process of its own, from start until the
// parent sends 'stop' over IPC; then it sends { type: 'load', generator, sent, completed,
// errors, latencyP50Ms, latencyP99Ms } and exits. Options (JSON argument): { url, rate,
// connections, generator }:
//   autocannon  autocannon (a devDependency) at a fixed overall rate. It sends each second's
//               share in a burst as the second begins: fine as background load (part a).
//   steady      requests spaced evenly (every 1/rate s, checked every millisecond) over a
//               keep-alive agent of `connections` sockets: a server's CPU per request does not
//               then depend on how a measured window falls against the bursts (part b).

const http = require('node:http');
const { ROOT } = require('../lib/main');
const statsLib = require('../lib/stats');

const { url, rate, connections, generator = 'autocannon' } = JSON.parse(process.argv[2]);

function autocannonLoad() {
  const autocannon = require(require.resolve('autocannon', { paths: [ROOT] }));
  const version = require(require.resolve('autocannon/package.json', { paths: [ROOT] })).version;
  const instance = autocannon({ url, connections, overallRate: rate, duration: 3600 }, (error, r) => {
    if (error) {
      process.stderr.write(`[load] ${error.stack}\n`);
      process.exit(1);
    }
    finish({
      generator: `autocannon ${version}`,
      sent: r.requests.sent,
      completed: r.requests.total,
      errors: r.errors + r.timeouts + r.non2xx,
      latencyP50Ms: r.latency.p50,
      latencyP99Ms: r.latency.p99,
    });
  });
  return () => instance.stop();
}

function steadyLoad() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let sent = 0;
  let completed = 0;
  let errors = 0;
  let inFlight = 0;
  let stopping = false;
  const one = () => {
    const t0 = process.hrtime.bigint();
    sent++;
    inFlight++;
    const done = (ok) => {
      if (ok) completed++;
      else errors++;
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (--inFlight === 0 && stopping) end();
    };
    http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
    }).on('error', () => done(false));
  };
  const startNs = process.hrtime.bigint();
  const timer = setInterval(() => {
    const due = Math.floor((Number(process.hrtime.bigint() - startNs) / 1e9) * rate);
    while (sent < due) one();
  }, 1);
  const end = () => {
    agent.destroy();
    finish({
      generator: `steady http.get loop (${connections} keep-alive sockets)`,
      sent,
      completed,
      errors,
      latencyP50Ms: statsLib.quantile(latencies, 0.5),
      latencyP99Ms: statsLib.quantile(latencies, 0.99),
    });
  };
  return () => {
    clearInterval(timer);
    stopping = true;
    if (inFlight === 0) end();
  };
}

function finish(result) {
  process.send({ type: 'load', ...result }, () => process.exit(0));
}

const stop = generator === 'steady' ? steadyLoad() : autocannonLoad();
process.on('message', (message) => {
  if (message === 'stop') stop();
});
process.send({ type: 'started' });
