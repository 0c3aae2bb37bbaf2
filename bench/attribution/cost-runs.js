'use strict';
// Part (b) of bench/attribution.js, the runs: one configuration's server (cost-server-child.js,
// pinned to opts.cpu) driven at a fixed, evenly spaced rate (load-child.js 'steady', pinned to
// opts.loadCpu); after a warm-up, the server's CPU time over a measured window per request
// served (with opts.costCpuProf, each server writes a V8 CPU profile there: where the time
// goes, not for the figures). No state beyond a run.

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
  const execArgv = opts.costCpuProf ? ['--cpu-prof', '--cpu-prof-interval=50', `--cpu-prof-dir=${opts.costCpuProf}`, `--cpu-prof-name=${config}-${Date.now()}.cpuprofile`] : [];
  const server = startIpcChild(path.join(__dirname, 'cost-server-child.js'), { config }, { cpu: opts.cpu, label: `cost server (${config})`, execArgv });
  let load;
  try {
    const { port } = await server.next('listening');
    load = startIpcChild(path.join(__dirname, 'load-child.js'),
      { url: `http://127.0.0.1:${port}/`, rate: opts.costRate, connections: opts.costConnections, generator: 'steady' }, { cpu: opts.loadCpu, label: 'load' });
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

/**
 * The tracker switched on and off in one server (config 'alternate': the watchdog alone runs
 * throughout): after the warm-up, opts.altPairs pairs of windows of opts.altWindowMs, off then
 * on in even pairs, on then off in odd ones (so a drift over the run weighs on both alike;
 * short windows side by side share the vCPU's speed of the moment, which drifts over seconds
 * here). Resolves with every window: { pair, on, cpuUsPerRequest, requests, seconds }.
 */
async function runAlternating(opts) {
  const server = startIpcChild(path.join(__dirname, 'cost-server-child.js'), { config: 'alternate' }, { cpu: opts.cpu, label: 'cost server (alternate)' });
  let load;
  try {
    const { port } = await server.next('listening');
    load = startIpcChild(path.join(__dirname, 'load-child.js'),
      { url: `http://127.0.0.1:${port}/`, rate: opts.costRate, connections: opts.costConnections, generator: 'steady' }, { cpu: opts.loadCpu, label: 'load' });
    await load.next('started');
    await delay(opts.costWarmupSeconds * 1000);
    const windows = [];
    for (let pair = 0; pair < opts.altPairs; pair++) {
      for (const on of pair % 2 ? [true, false] : [false, true]) {
        server.send(on ? 'track on' : 'track off');
        await server.next('tracking');
        await delay(20); // requests that began before the switch end
        server.send('begin');
        await delay(opts.altWindowMs);
        server.send('end');
        const w = await server.next('window');
        if (w.tracking !== on) fail(`alternate: the tracker is ${w.tracking ? '' : 'not '}subscribed in a window meant to be ${on ? 'on' : 'off'}`);
        if (w.requests === 0) fail('alternate: no request served in a window');
        windows.push({ pair, on, cpuUsPerRequest: w.cpuUs / w.requests, requests: w.requests, seconds: w.seconds });
      }
      process.stderr.write(`\r  alternate: pair ${pair + 1}/${opts.altPairs}   `);
    }
    process.stderr.write('\n');
    load.send('stop');
    const loadResult = await load.next('load');
    await load.exited;
    server.send('exit');
    await server.exited;
    if (loadResult.errors > 0) fail(`alternate: ${loadResult.errors} client errors`);
    return { windows, load: loadResult };
  } catch (error) {
    server.child.kill('SIGKILL');
    load?.child.kill('SIGKILL');
    throw error;
  }
}

module.exports = { COST_CONFIGS, runCost, runAlternating };
