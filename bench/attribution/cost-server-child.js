'use strict';
// The server of bench/attribution.js part (b): node:http answering every request with a small
// JSON document, under one configuration (COST_CONFIGS in cost-runs.js):
//   none       uvscope loaded, no watchdog
//   watchdog   new StallWatchdog({ requests: false }).start(): the watchdog alone
//   requests   new StallWatchdog().start(): requests on (the default), so the request tracker
//              (src/loop/http-requests.ts) runs on every request
//   alternate  the watchdog alone, and the request tracker switched on ('track on') and off
//              ('track off') between windows by the parent, with the functions
//              StallWatchdog.start() and close() use (acquireHttpRequests/releaseHttpRequests):
//              the tracker's cost in one process, whose JIT state and CPU the windows share
// IPC with the parent: sends { type: 'listening', port }; 'begin' starts the measured window;
// 'end' answers { type: 'window', cpuUs (process.cpuUsage(), every thread), requests,
// seconds, tracking (whether the tracker is subscribed: the configuration's sanity check),
// watching (whether the watchdog runs) }; 'probe' (after the measured requests: it subscribes
// a listener of its own, after the tracker's) answers { type: 'probe armed' } and then, at the
// next request's start, { type: 'probe', inFlight }: the requests in the tracker's table then
// (1 when the tracker recorded that request, 0 when it did not run); 'exit' ends it. Options
// (JSON argument): { config, thresholdMs? } (the watchdog's threshold; default its own, 1 s).

const diagnosticsChannel = require('node:diagnostics_channel');
const http = require('node:http');
const path = require('node:path');
const { LIB } = require('../lib/main');

const { config, thresholdMs } = JSON.parse(process.argv[2]);
const { StallWatchdog } = require(LIB);
const threshold = thresholdMs === undefined ? {} : { thresholdMs };

let watchdog = null;
if (config === 'watchdog' || config === 'alternate') watchdog = new StallWatchdog({ requests: false, ...threshold }).start();
else if (config === 'requests') watchdog = new StallWatchdog(threshold).start();
else if (config !== 'none') throw new Error(`unknown configuration ${config}`);
const tracker = config === 'alternate' ? require(path.join(LIB, 'loop', 'http-requests.js')) : null;
let tracking = false;

let served = 0;
const server = http.createServer((req, res) => {
  served++;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, url: req.url, n: served }));
});
server.keepAliveTimeout = 60_000;

let window = null;
process.on('message', (message) => {
  if (message === 'track on' || message === 'track off') {
    const on = message === 'track on';
    if (on !== tracking) (on ? tracker.acquireHttpRequests : tracker.releaseHttpRequests)();
    tracking = on;
    process.send({ type: 'tracking', on });
  } else if (message === 'begin') {
    window = { cpu: process.cpuUsage(), wall: process.hrtime.bigint(), served };
  } else if (message === 'end') {
    const cpu = process.cpuUsage(window.cpu);
    process.send({
      type: 'window',
      config,
      cpuUs: cpu.user + cpu.system,
      requests: served - window.served,
      seconds: Number(process.hrtime.bigint() - window.wall) / 1e9,
      tracking: diagnosticsChannel.hasSubscribers('http.server.request.start'),
      watching: watchdog?.running ?? false,
      stalls: watchdog ? watchdog.stats().stalls : 0,
    });
  } else if (message === 'probe') {
    const { requestSlotStats } = require(path.join(LIB, 'loop', 'request-slots.js'));
    const onStart = () => {
      diagnosticsChannel.unsubscribe('http.server.request.start', onStart);
      process.send({ type: 'probe', inFlight: requestSlotStats().inFlight });
    };
    diagnosticsChannel.subscribe('http.server.request.start', onStart);
    process.send({ type: 'probe armed' });
  } else if (message === 'exit') {
    watchdog?.close();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', port: server.address().port }));
