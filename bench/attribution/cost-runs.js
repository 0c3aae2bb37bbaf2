'use strict';
// Part (b) of bench/attribution.js, the runs: one configuration's server (cost-server-child.js,
// pinned to opts.cpu) driven at a fixed rate by autocannon (load-child.js, pinned to
// opts.loadCpu); after a warm-up, the server's CPU time over a measured window per request
// served. No state beyond a run.

const path = require('node:path');
const { startIpcChild } = require('./ipc');
const { fail } = require('../lib/children');

const COST_CONFIGS = {
  none: 'uvscope loaded, no watchdog',
  watchdog: 'new StallWatchdog({ requests: false }).start() (the watchdog alone)',
  requests: 'new StallWatchdog().start() (requests on, the default: the request tracker runs)',
};

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runCost(config, opts) {
  const server = startIpcChild(path.join(__dirname, 'cost-server-child.js'), { config }, { cpu: opts.cpu, label: `cost server (${config})` });
  let load;
  try {
    const { port } = await server.next('listening');
    load = startIpcChild(path.join(__dirname, 'load-child.js'),
      { url: `http://127.0.0.1:${port}/`, rate: opts.costRate, connections: opts.costConnections }, { cpu: opts.loadCpu, label: 'load' });
    await load.next('started');
    await delay(opts.costWarmupSeconds * 1000);
    server.send('begin');
    await delay(opts.costSeconds * 1000);
    server.send('end');
    const measured = await server.next('window');
    load.send('stop');
    measured.load = await load.next('load');
    await load.exited;
    server.send('exit');
    await server.exited;
    if (measured.requests === 0) fail(`${config}: no request served in the measured window`);
    if (measured.load.errors > 0) fail(`${config}: ${measured.load.errors} client errors`);
    if (measured.tracking !== (config === 'requests')) fail(`${config}: the request tracker is ${measured.tracking ? '' : 'not '}subscribed`);
    const expected = opts.costRate * measured.seconds;
    if (measured.requests < 0.9 * expected) fail(`${config}: ${measured.requests} requests served in the window, ${Math.round(expected)} sent at the rate (the load generator could not keep up?)`);
    measured.cpuUsPerRequest = measured.cpuUs / measured.requests;
    return measured;
  } catch (error) {
    server.child.kill('SIGKILL');
    load?.child.kill('SIGKILL');
    throw error;
  }
}

module.exports = { COST_CONFIGS, runCost };
