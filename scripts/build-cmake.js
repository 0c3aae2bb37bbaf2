#!/usr/bin/env node
// Builds the addon with cmake-js from the same native/ sources as binding.gyp, offline:
// Node's headers come from the local install (npm_config_nodedir, default: this Node's prefix).
// Output lands in build/Release/uvscope.node, where node-gyp-build looks first.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const nodedir = process.env.npm_config_nodedir || path.resolve(process.execPath, '../..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
execFileSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
