'use strict';
// The load generator of bench/attribution.js, a process of its own: autocannon (a
// devDependency) at a fixed overall rate over keep-alive connections, from start until the
// parent sends 'stop' over IPC; then it sends { type: 'load', generator, sent, completed,
// errors, latencyP50Ms, latencyP99Ms } and exits. Options (JSON argument): { url, rate,
// connections }.

const { ROOT } = require('../lib/main');

const { url, rate, connections } = JSON.parse(process.argv[2]);
const autocannon = require(require.resolve('autocannon', { paths: [ROOT] }));
const version = require(require.resolve('autocannon/package.json', { paths: [ROOT] })).version;

const instance = autocannon({ url, connections, overallRate: rate, duration: 3600 }, (error, r) => {
  if (error) {
    process.stderr.write(`[load] ${error.stack}\n`);
    process.exit(1);
  }
  process.send({
    type: 'load',
    generator: `autocannon ${version}`,
    sent: r.requests.sent,
    completed: r.requests.total,
    errors: r.errors + r.timeouts + r.non2xx,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
  }, () => process.exit(0));
});
process.on('message', (message) => {
  if (message === 'stop') instance.stop();
});
process.send({ type: 'started' });
