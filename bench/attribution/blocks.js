'use strict';
// The five blocks bench/attribution.js puts on a server's loop, each inside one HTTP request,
// and what each is: on CPU or waiting, and whether V8 can run an interrupt inside it (a
// JavaScript stack and the request read live) or only once it returns to JavaScript (native).
// The functions are named: each is the culprit on the stack. Also the JSON body the json block
// parses and the clock helper. Stateless.

const crypto = require('node:crypto');
const fs = require('node:fs');

/** A polynomial backtracking regular expression: about n^3 steps on 'x'.repeat(n) (no 'y'). */
function regexCulprit(n) {
  return /x*x*y/.test('x'.repeat(n));
}

/** JSON.parse of the request body (a string). */
function jsonCulprit(text) {
  return JSON.parse(text).length;
}

/** crypto.pbkdf2Sync of `iterations`: native code on the loop thread. */
function pbkdf2Culprit(iterations) {
  return crypto.pbkdf2Sync('uvscope', 'bench-salt', iterations, 32, 'sha256');
}

/** Atomics.wait for `ms`: the thread sleeps (V8 wakes it for interrupts). */
function atomicsCulprit(ms) {
  return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** readFileSync of a FIFO: open() waits for a writer, read() for its data and close. */
function fifoCulprit(path) {
  return fs.readFileSync(path).length;
}

/**
 * The kinds, in the order the plan interleaves them. `cpu`: the thread computes (true) or
 * waits (false). V8 runs an interrupt inside the regular expression's backtracking and inside
 * Atomics.wait, so a stack (and the request) can be read while they last; not inside
 * JSON.parse, pbkdf2Sync or a blocking read, which are seen from outside until they return
 * (measured here on Node 20 and 24: uvscope's live reports say inNative for those three).
 */
const KINDS = {
  regex: { cpu: true, culprit: regexCulprit.name, about: "/x*x*y/.test('x'.repeat(n)) in the handler" },
  json: { cpu: true, culprit: jsonCulprit.name, about: 'JSON.parse of the POST body in the request\'s end event' },
  pbkdf2: { cpu: true, culprit: pbkdf2Culprit.name, about: 'crypto.pbkdf2Sync(iterations) in the handler' },
  atomics: { cpu: false, culprit: atomicsCulprit.name, about: 'Atomics.wait(ms) in the handler' },
  fifo: { cpu: false, culprit: fifoCulprit.name, about: 'fs.readFileSync of a FIFO a helper process writes to after a delay' },
};

/** One array element of the json block's body (about 75 bytes). */
const jsonItem = (i) => ({ id: i, name: `user-${i}`, tags: ['a', 'b'], score: i * 0.5, active: (i & 1) === 0 });

/** The json block's body: an array of `count` items, as text. */
function jsonBody(count) {
  return JSON.stringify(Array.from({ length: count }, (_, i) => jsonItem(i)));
}

/**
 * Milliseconds from `t0` (a bigint from process.hrtime.bigint(): CLOCK_MONOTONIC, the clock of
 * uvscope's atNs on every thread and process here) to `ns` (bigint or decimal string); null
 * for none.
 */
const msSince = (ns, t0) => (ns === undefined || ns === null ? null : Number(BigInt(ns) - BigInt(t0)) / 1e6);

module.exports = { regexCulprit, jsonCulprit, pbkdf2Culprit, atomicsCulprit, fifoCulprit, KINDS, jsonBody, msSince };
