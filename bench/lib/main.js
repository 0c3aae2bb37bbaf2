'use strict';
// The parent side of every bench script: read the flags, answer --help, run, and turn a failure
// into one line on stderr and an exit code (2: the arguments, 1: the run). Also the check that
// uvscope is built, which every bench that loads it makes first.

const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const LIB = path.join(ROOT, 'lib');

/**
 * Runs a bench: `parse(argv)` gives its options (throwing on bad input), `usage` its help
 * text (lib/args.js usageText), `run(opts)` the bench itself (may return a promise). `name`
 * prefixes failures ("bench/<name>.js: ..."). Errors of a built-in kind (TypeError, ...) are
 * bugs: their stack is printed too.
 */
function benchMain(name, { parse, usage, run }) {
  let opts;
  try {
    opts = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  Promise.resolve()
    .then(() => run(opts))
    .catch((error) => {
      const bug = error instanceof Error && error.constructor !== Error;
      process.stderr.write(`bench/${name}.js: ${bug ? error.stack : error?.message ?? error}\n`);
      process.exitCode = 1;
    });
}

/** Throws unless uvscope's lib/ has been built (TypeScript and addon). */
function requireBuilt() {
  if (!fs.existsSync(path.join(LIB, 'index.js'))) {
    throw new Error('lib/index.js is missing: build uvscope first (npm run build:native && npm run build)');
  }
}

module.exports = { benchMain, requireBuilt, ROOT, LIB };
