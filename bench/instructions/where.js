'use strict';
// Reading bench/instructions.js's callgrind dumps: how much of them is V8 compiling
// (compilationIr), and where a configuration's extra instructions go. From the callgrind
// dumps of the counted windows (tools.js) of the baseline's and the feature's first run,
// callgrind_annotate gives each function's own (exclusive) Ir; per function, Ir per unit per
// configuration, and the feature's minus the baseline's is what the feature adds there.
// V8's generated code has no symbols under valgrind: its functions are named by address, which
// differs from run to run, so they are summed into one line ("JIT code"). Builtins (Builtins_*,
// the bytecode handlers of the interpreter among them), V8's runtime, Node, libuv and the addon
// have names. Stateless.

const { spawnSync } = require('node:child_process');

/**
 * V8's compilers, as the functions whose inclusive Ir holds all of a compilation and none
 * nested in another: TurboFan's job on a worker thread (CompileTask::RunInternal) and its
 * prepare and finalize steps on the main thread, lazy bytecode compilation
 * (Compiler::Compile), Sparkplug's batches.
 */
const COMPILATION = /^v8::internal::(OptimizingCompileDispatcher::CompileTask::RunInternal\(|compiler::PipelineCompilationJob::(Prepare|Finalize)JobImpl\(|Compiler::Compile\(|baseline::BaselineBatchCompiler::CompileBatch\()/;

/** callgrind_annotate's lines of one output file: [{ name: 'function [object]', ir }]. */
function annotate(file, inclusive) {
  const out = spawnSync('callgrind_annotate', [`--inclusive=${inclusive ? 'yes' : 'no'}`, '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`callgrind_annotate failed on ${file}: ${out.stderr}`);
  const rows = [];
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
    rows.push({ name, ir });
  }
  return rows;
}

/** Exclusive Ir per function of one output file: Map(name -> Ir). */
function perFunction(file) {
  const byName = new Map();
  for (const { name, ir } of annotate(file, false)) byName.set(name, (byName.get(name) ?? 0) + ir);
  return byName;
}

/** The Ir of one output file spent compiling (COMPILATION's functions, inclusive). */
function compilationIr(file) {
  return annotate(file, true).filter(({ name }) => COMPILATION.test(name)).reduce((a, { ir }) => a + ir, 0);
}

/**
 * Per function, instructions per unit the feature adds over the baseline, from the counted
 * windows of one run of each ({ baseline: { files, units }, feature: { files, units } }: a
 * callgrind dump per window and the units the windows held). Returns the rows sorted by what
 * they add, largest first: { name, baseline, feature, extra } (Ir per unit); TurboFan's own
 * functions (v8::internal::compiler::) are left out, as compilation is from the figures.
 */
function extraByFunction(runs) {
  const perUnit = ({ files, units }) => {
    const sum = new Map();
    for (const file of files) for (const [name, ir] of perFunction(file)) sum.set(name, (sum.get(name) ?? 0) + ir);
    return new Map([...sum].map(([name, ir]) => [name, ir / units]));
  };
  const base = perUnit(runs.baseline);
  const feat = perUnit(runs.feature);
  // TurboFan's own functions are compilation, which the figures leave out (compilationIr).
  const names = new Set([...base.keys(), ...feat.keys()].filter((name) => !name.startsWith('v8::internal::compiler::')));
  return [...names]
    .map((name) => ({ name, baseline: base.get(name) ?? 0, feature: feat.get(name) ?? 0, extra: (feat.get(name) ?? 0) - (base.get(name) ?? 0) }))
    .sort((x, y) => y.extra - x.extra);
}

module.exports = { extraByFunction, perFunction, compilationIr };
