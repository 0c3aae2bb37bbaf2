// uvscope in one minute: watch this thread's event loop while SHA-256 runs on the libuv pool.
// Run with `npm start` (after `npm ci`), or `node examples/quickstart.js`.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const { LoopObserver, threadpool } = require('..');

const ms = (ns) => `${(ns / 1e6).toFixed(3)} ms`;

async function main() {
  const observer = new LoopObserver({ blockThresholdMs: 20 }).start();
  const size = threadpool.size();
  console.log(`libuv ${process.versions.uv}, pool size ${size.size} (measured: ${await threadpool.measureSize()})`);

  // Work for the loop: timers, file reads, and 64 x 1 MiB SHA-256 jobs on the pool.
  const data = crypto.randomBytes(1 << 20);
  const ticker = setInterval(() => fs.readFile(__filename, () => {}), 5);
  const started = process.hrtime.bigint();
  const digests = await Promise.all(Array.from({ length: 64 }, () => threadpool.hash('sha256', data)));
  const hashNs = Number(process.hrtime.bigint() - started);
  const same = digests[0].equals(crypto.createHash('sha256').update(data).digest());
  // And one 30 ms block of the main thread, to show up as a long iteration.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const blockUntil = Date.now() + 30;
  while (Date.now() < blockUntil);
  await new Promise((resolve) => setTimeout(resolve, 50));
  clearInterval(ticker);

  const loop = observer.stats();
  const pool = threadpool.stats();
  observer.close();
  console.log(`\n64 x 1 MiB SHA-256 on the pool: ${ms(hashNs)} (${((64 * 1e9) / hashNs).toFixed(0)} MiB/s), equal to node:crypto: ${same}`);
  console.log('\nEvent loop');
  console.log(`  iterations        ${loop.iterations}`);
  console.log(`  utilization       ${(loop.utilization * 100).toFixed(1)} %`);
  console.log(`  iteration   p50 ${ms(loop.iteration.p50)}  p99 ${ms(loop.iteration.p99)}  max ${ms(loop.iteration.max)}`);
  console.log(`  pollWait    p50 ${ms(loop.pollWait.p50)}  p99 ${ms(loop.pollWait.p99)}`);
  console.log(`  pollWork    p50 ${ms(loop.pollWork.p50)}  p99 ${ms(loop.pollWork.p99)}`);
  console.log(`  outsidePoll p50 ${ms(loop.outsidePoll.p50)}  p99 ${ms(loop.outsidePoll.p99)}`);
  const longest = loop.longIterations.longest;
  console.log(`  long iterations   ${loop.longIterations.count}${longest ? ` (longest ${ms(longest.durationNs)}, ${ms(longest.outsidePollNs)} of it outside poll)` : ''}`);
  console.log('\nThread pool jobs');
  console.log(`  completed         ${pool.completed} of ${pool.submitted}, at most ${pool.maxConcurrencySeen} running at once`);
  console.log(`  queue wait  p50 ${ms(pool.queueWait.p50)}  p99 ${ms(pool.queueWait.p99)}`);
  console.log(`  run         p50 ${ms(pool.run.p50)}  p99 ${ms(pool.run.p99)}`);
  console.log(`  return      p50 ${ms(pool.returnDelay.p50)}  p99 ${ms(pool.returnDelay.p99)}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
