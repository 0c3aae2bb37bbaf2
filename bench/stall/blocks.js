'use strict';
// The blocks bench/stall.js puts on the loop, and the clock it times them on. The functions are
// named: each is the culprit a stall detector should find on the stack. Stateless.

/** A JavaScript busy loop of `ms` milliseconds. */
function busyCulprit(ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1_000_000n;
  let x = 0;
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 10_000; i++) x = (x * 31 + i) | 0;
  }
  return x;
}

/** Native code: pbkdf2Sync of `iterations` (calibrate-child.js sizes it). */
function nativeCulprit(iterations) {
  return require('node:crypto').pbkdf2Sync('uvscope', 'bench-salt', iterations, 64, 'sha512');
}

const BLOCKS = ['js', 'native'];
const CULPRIT = { js: busyCulprit.name, native: nativeCulprit.name };

/**
 * Milliseconds from `t0` (a process.hrtime.bigint(), CLOCK_MONOTONIC: the clock of uvscope's
 * atNs and of every thread and process here) to `ns` (bigint, or its string); null for none.
 */
const msSince = (ns, t0) => (ns === undefined || ns === null ? null : Number(BigInt(ns) - t0) / 1e6);

module.exports = { busyCulprit, nativeCulprit, BLOCKS, CULPRIT, msSince };
