'use strict';
// The load generator of bench/instructions.js, a plain node child (not under valgrind): `count`
// GET requests to `url`, one at a time over one keep-alive connection, each sent when the
// previous answer has arrived. Every request is then a wake-up of its own for the server (one
// loop iteration that reads it, handles it and writes the answer, with nothing else to batch
// it with), as at a low fixed rate, and how many there are does not depend on how fast the
// server runs (valgrind slows it 20-50x; a fixed rate would turn that into batching). Answers
// { sent, completed (status 200), errors }. Options (JSON argument): { url, count }.

const http = require('node:http');
const { childMain } = require('../lib/children');

async function sequential({ url, count }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let completed = 0;
  let errors = 0;
  const one = () => new Promise((resolve) => {
    http.get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) completed++;
        else errors++;
        resolve();
      });
    }).on('error', () => {
      errors++;
      resolve();
    });
  });
  for (let i = 0; i < count; i++) await one();
  agent.destroy();
  return { sent: count, completed, errors };
}

childMain(sequential, { label: 'load' });
