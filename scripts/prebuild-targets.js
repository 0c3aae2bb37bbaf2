// The platforms uvscope ships prebuilds for and the file names each needs: read by
// scripts/prebuilds.js (build, check, prepack) and scripts/build-stack.js. The release workflow
// (.github/workflows/release.yml) builds the same list; src/stack/load.ts and node-gyp-build
// look the files up by the same names at run time.
'use strict';
const fs = require('node:fs');

/** Supported Node majors and their NODE_MODULE_VERSION (the stack addon is built per ABI). */
const ABI_BY_MAJOR = { 20: 115, 22: 127, 24: 137, 26: 147 };
const MAJORS = Object.keys(ABI_BY_MAJOR).map(Number);

/**
 * Every target of a release. `libc` only on Linux (glibc and musl builds differ).
 * `required: false`: built when it can be, never required (win32: the native code uses POSIX
 * threads and dlopen, so it does not compile there yet).
 */
const TARGETS = [
  { platform: 'linux', arch: 'x64', libc: 'glibc', required: true },
  { platform: 'linux', arch: 'x64', libc: 'musl', required: true },
  { platform: 'linux', arch: 'arm64', libc: 'glibc', required: true },
  { platform: 'linux', arch: 'arm64', libc: 'musl', required: true },
  { platform: 'darwin', arch: 'x64', required: true },
  { platform: 'darwin', arch: 'arm64', required: true },
  { platform: 'win32', arch: 'x64', required: false },
];

/** musl or glibc, by node-gyp-build's own rule (LIBC, else Alpine's release file); undefined off Linux. */
function currentLibc() {
  if (process.platform !== 'linux') return undefined;
  return process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

function currentTarget() {
  const libc = currentLibc();
  const known = TARGETS.find((t) => t.platform === process.platform && t.arch === process.arch && t.libc === libc);
  return known || { platform: process.platform, arch: process.arch, libc, required: false };
}

/** The folder under prebuilds/ (prebuildify's and node-gyp-build's naming). */
function targetDir(target) {
  return `${target.platform}-${target.arch}`;
}

/** The Node-API addon: prebuildify's `--napi --name node.napi`, with `--tag-libc` on Linux. */
function napiFile(target) {
  return `${targetDir(target)}/node.napi${target.libc ? `.${target.libc}` : ''}.node`;
}

/** The stack addon for one ABI; musl builds carry a tag so both Linux builds share a folder. */
function stackFile(target, abi) {
  return `${targetDir(target)}/uvscope_stack.abi${abi}${target.libc === 'musl' ? '.musl' : ''}.node`;
}

/** Every file one target ships, relative to prebuilds/. */
function expectedFiles(target) {
  return [napiFile(target), ...MAJORS.map((major) => stackFile(target, ABI_BY_MAJOR[major]))];
}

function describe(target) {
  return `${targetDir(target)}${target.libc ? ` (${target.libc})` : ''}`;
}

module.exports = { ABI_BY_MAJOR, MAJORS, TARGETS, currentLibc, currentTarget, describe, expectedFiles, napiFile, stackFile, targetDir };
