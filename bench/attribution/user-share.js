'use strict';
// The share of user time in the CPU time of #25's JSON server (cost-server-child.js), natively:
// how much of a request's CPU the user-space instruction counts of bench:instructions cover.
// One configuration per run (watchdog | requests | none); run it pinned, with its load, to one
// CPU: `taskset -c 1 node bench/attribution/user-share.js watchdog`. Sequential keep-alive GET
// requests, as bench:instructions sends them: 20,000 uncounted, then 40,000 counted from the
// server's /proc/PID/stat (utime, stime: clock ticks, every thread). Linux only.

const { fork } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const config = process.argv[2] ?? 'watchdog';
const WARMUP = 20_000;
const COUNTED = 40_000;
const server = fork(path.join(__dirname, 'cost-server-child.js'), [JSON.stringify({ config, thresholdMs: 60_000 })]);

/** The server's user and system clock ticks so far (fields 14 and 15 of /proc/PID/stat). */
function ticks() {
  const fields = fs.readFileSync(`/proc/${server.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

server.on('message', async (message) => {
  if (message?.type !== 'listening') return;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: message.port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
  for (let i = 0; i < WARMUP; i++) await get();
  const before = ticks();
  for (let i = 0; i < COUNTED; i++) await get();
  const after = ticks();
  const user = after.user - before.user;
  const system = after.system - before.system;
  console.log(JSON.stringify({ config, requests: COUNTED, userTicks: user, systemTicks: system, userShare: Number((user / (user + system)).toFixed(3)) }));
  agent.destroy();
  server.send('exit');
});
