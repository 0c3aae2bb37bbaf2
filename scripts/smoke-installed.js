#!/usr/bin/env node
// Uses uvscope as installed in the project of the working directory (not this checkout's): a
// hash job on the pool checked against node:crypto, a loop observer, and a stall watchdog that
// must have its stack addon (stacks: true). Prints which files served them, as JSON:
// { equal, iterations, addon, stack } with paths relative to the installed package. Run by
// test/package/pack.test.ts and the release workflow's install jobs; exits non-zero on any failure.
'use strict';
const crypto = require('node:crypto');
const { createRequire } = require('node:module');
const path = require('node:path');

const requireHere = createRequire(path.join(process.cwd(), 'package.json'));
const { threadpool, LoopObserver, StallWatchdog } = requireHere('uvscope');
const dir = path.dirname(requireHere.resolve('uvscope/package.json'));

async function main() {
  const observer = new LoopObserver().start();
  const watchdog = new StallWatchdog({ thresholdMs: 1000, stacks: true }).start();
  const digest = await threadpool.hash('sha256', 'abc');
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  const stats = observer.stats();
  observer.close();
  watchdog.close();
  // Internal files, reached by path: which binaries node-gyp-build and the stack loader chose.
  const stack = require(path.join(dir, 'lib', 'stack', 'load.js')).loadStackAddon();
  const nodeGypBuild = requireHere(requireHere.resolve('node-gyp-build', { paths: [dir] }));
  const result = {
    equal: digest.equals(crypto.createHash('sha256').update('abc').digest()),
    iterations: stats.iterations,
    addon: path.relative(dir, nodeGypBuild.path(dir)).split(path.sep).join('/'),
    stack: stack.ok ? path.relative(dir, stack.path).split(path.sep).join('/') : null,
  };
  console.log(JSON.stringify(result));
  if (!result.equal || result.iterations < 4) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
