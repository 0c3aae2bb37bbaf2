'use strict';
// bench/instructions.js: where a configuration's extra instructions go. From the callgrind
// dumps of the counted windows (tools.js) of the baseline's and the feature's first run,
// callgrind_annotate gives each function's own (exclusive) Ir; per function, Ir per unit per
// configuration, and the feature's minus the baseline's is what the feature adds there.
// V8's generated code has no symbols under valgrind: its functions are named by address, which
// differs from run to run, so they are summed into one line ("JIT code"). Builtins (Builtins_*,
// the bytecode handlers of the interpreter among them), V8's runtime, Node, libuv and the addon
// have names. Stateless.

const { spawnSync } = require('node:child_process');

/** callgrind_annotate's exclusive Ir per function of one output file: Map(name -> Ir). */
function perFunction(file) {
  const out = spawnSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`callgrind_annotate failed on ${file}: ${out.stderr}`);
  const byName = new Map();
  for (const line of out.stdout.split('\n')) {
    const match = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$/.exec(line);
    if (!match) continue;
    const ir = Number(match[1].replace(/,/g, ''));
    const text = match[2];
    if (text.includes('PROGRAM TOTALS')) continue;
    // "file:function [object]": the file part has no colon; a C++ name may (v8::internal::...).
    const obj = /\s\[([^\]]*)\]$/.exec(text)?.[1];
    const fileAndFn = obj === undefined ? text : text.slice(0, text.lastIndexOf(' ['));
    const fn = fileAndFn.slice(fileAndFn.indexOf(':') + 1).replace(/'\d+$/, ''); // 'N: callgrind's recursion depth
    const name = /^0x[0-9a-f]+$/i.test(fn) ? 'JIT code (no symbol)' : `${fn}${obj ? ` [${obj.split('/').pop()}]` : ''}`;
    byName.set(name, (byName.get(name) ?? 0) + ir);
  }
  return byName;
}

/**
 * Per function, instructions per unit the feature adds over the baseline, from the counted
 * windows of one run of each ({ baseline: { files, units }, feature: { files, units } }: a
 * callgrind dump per window and the units the windows held). Returns the rows sorted by what
 * they add, largest first: { name, baseline, feature, extra } (Ir per unit).
 */
function extraByFunction(runs) {
  const perUnit = ({ files, units }) => {
    const sum = new Map();
    for (const file of files) for (const [name, ir] of perFunction(file)) sum.set(name, (sum.get(name) ?? 0) + ir);
    return new Map([...sum].map(([name, ir]) => [name, ir / units]));
  };
  const base = perUnit(runs.baseline);
  const feat = perUnit(runs.feature);
  const names = new Set([...base.keys(), ...feat.keys()]);
  return [...names]
    .map((name) => ({ name, baseline: base.get(name) ?? 0, feature: feat.get(name) ?? 0, extra: (feat.get(name) ?? 0) - (base.get(name) ?? 0) }))
    .sort((x, y) => y.extra - x.extra);
}

module.exports = { extraByFunction, perFunction };
