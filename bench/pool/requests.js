'use strict';
// bench:pool's `requests` part: what monitorPoolRequests() costs, next to no monitor. It is
// bench/requests.js (its own children, pinning and rounds), run as a child with its own output;
// `--quick` carries over.
const { spawn } = require('node:child_process');
const path = require('node:path');

function runRequestsPart(opts, log) {
  const args = [path.join(__dirname, '..', 'requests.js'), ...(opts.quick ? ['--quick'] : [])];
  log(`requests: node ${args.map((a) => path.relative(process.cwd(), a) || a).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench/requests.js exited with ${code}`));
      else resolve({ lines: [out.trimEnd()], raw: { output: out } });
    });
  });
}

module.exports = { runRequestsPart };
