#!/usr/bin/env node
// Checks a packed tarball the way its consumers will resolve it: @arethetypeswrong/cli (types
// for ESM and CommonJS importers under node10, node16 and bundler resolution) and publint
// (package.json against the files), both pinned devDependencies; either one's problem fails.
//
//   node scripts/check-package.js uvscope-0.1.0.tgz    that tarball
//   node scripts/check-package.js                      `npm pack` first (prepack builds the
//                                                      prebuilds), into a temporary folder
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function pack() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-check-'));
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return path.join(dir, JSON.parse(out)[0].filename);
}

const tarball = process.argv[2] ? path.resolve(process.argv[2]) : pack();
let failed = false;
for (const [name, bin, args] of [
  ['attw', '@arethetypeswrong/cli', [tarball, '--format', 'ascii']],
  ['publint', 'publint', ['run', '--strict', tarball]],
]) {
  const manifest = path.join(root, 'node_modules', bin, 'package.json');
  const main = path.join(path.dirname(manifest), Object.values(JSON.parse(fs.readFileSync(manifest, 'utf8')).bin)[0]);
  console.log(`::: ${name} ${path.basename(tarball)}`);
  const result = spawnSync(process.execPath, [main, ...args], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`${name} failed (exit ${result.status ?? result.signal})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
