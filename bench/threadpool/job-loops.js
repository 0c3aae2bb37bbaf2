'use strict';
// The two loops of sections (a) and (b) of bench/threadpool.js, and how each contender gets
// its own compiled copy of them: no call site is shared, since a polymorphic `submit()` site
// would cost every contender a little, and the burst rate is very sensitive to per-submission
// cost (see the report).

/** Awaits `submit()` n times, one at a time; out[i] = the i-th job's ms. */
async function sequential(submit, n, out) {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await submit();
    out[i] = performance.now() - t0;
  }
}

/** Submits n jobs at once and awaits them all; resolves with the ms that took. */
async function burst(submit, n) {
  const promises = new Array(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) promises[i] = submit();
  await Promise.all(promises);
  return performance.now() - t0;
}

/** `fn` compiled anew from its source (new Function), with `submit` bound as its first argument. */
function compiledFor(fn, submit) {
  return new Function(`return ${fn.toString()}`)().bind(null, submit);
}

/** { sequential(n, out), burst(n) } of their own for one contender's `submit`. */
function loopsFor(submit) {
  return { sequential: compiledFor(sequential, submit), burst: compiledFor(burst, submit) };
}

module.exports = { loopsFor };
