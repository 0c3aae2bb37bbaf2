'use strict';
// Part (c) of bench/attribution.js: what the request tracker (src/loop/http-requests.ts) adds to
// one request, in ns, with no network and no scheduler in the way (the VM's noise hides a few
// hundred ns in a server's 20-80 µs of CPU per request). Each simulated request is what Node's
// http server does around the tracker: a real ServerResponse is made for an IncomingMessage,
// `http.server.request.start` is published when it has subscribers (Node builds the message
// only then), and the response's 'close' is emitted. The tracker is switched on and off with
// the functions StallWatchdog.start() and close() use, alternately, `reps` times each; the
// answer is ns per request, tracker off and on (medians and per-rep values).
// Options (JSON argument): { requests, reps }.

const diagnosticsChannel = require('node:diagnostics_channel');
const http = require('node:http');
const path = require('node:path');
const { childMain } = require('../lib/children');
const { LIB } = require('../lib/main');
const statsLib = require('../lib/stats');

function measure({ requests, reps }) {
  const tracker = require(path.join(LIB, 'loop', 'http-requests.js'));
  const start = diagnosticsChannel.channel('http.server.request.start');
  const request = new http.IncomingMessage(null);
  request.method = 'GET';
  request.url = '/api/items?page=2&tenant=acme';
  const one = () => {
    const response = new http.ServerResponse(request);
    if (start.hasSubscribers) start.publish({ request, response, socket: null, server: null });
    response.emit('close');
  };
  const timed = () => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < requests; i++) one();
    return Number(process.hrtime.bigint() - t0) / requests;
  };
  // Warm both paths.
  timed();
  tracker.acquireHttpRequests();
  timed();
  tracker.releaseHttpRequests();
  const off = [];
  const on = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const tracking of rep % 2 ? [true, false] : [false, true]) {
      if (tracking) tracker.acquireHttpRequests();
      (tracking ? on : off).push(timed());
      if (tracking) tracker.releaseHttpRequests();
    }
  }
  if (tracker.httpRequestTableStats().inFlight !== 0) throw new Error('sanity check failed: requests left in the table');
  return { node: process.version, requests, reps, offNs: statsLib.median(off), onNs: statsLib.median(on), off, on };
}

childMain(measure, { label: 'tracker' });
