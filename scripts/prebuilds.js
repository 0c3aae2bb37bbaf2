#!/usr/bin/env node
// Builds and checks the prebuilt binaries the npm tarball ships under prebuilds/ (targets and
// file names: scripts/prebuild-targets.js). `npm pack` and `npm publish` run `prepack`, so a
// tarball never leaves without the binaries for the machine that packs it.
//
//   node scripts/prebuilds.js napi            the Node-API addon for this platform (prebuildify)
//   node scripts/prebuilds.js stack           the stack addon: for Node 20, 22, 24 and 26 on
//                                             Linux x64 glibc (the other Nodes and their headers
//                                             come from the npm registry through
//                                             scripts/node-matrix.sh), elsewhere for this Node
//   node scripts/prebuilds.js build           both (npm run prebuilds)
//   node scripts/prebuilds.js check           this platform's files are there and load here
//   node scripts/prebuilds.js check --all     every required target's files are there, each
//                                             an object file of its platform and architecture
//                                             (and this platform's load here)
//   node scripts/prebuilds.js prepack         (npm's prepack) build, then check; with
//                                             UVSCOPE_PREBUILDS=gathered (the release workflow,
//                                             whose per-platform jobs built them) check --all
//                                             and build nothing
// `--current` (stack, build): only this Node's stack addon. Any check that fails exits 1 and
// says which file is missing or wrong; anything under prebuilds/ that no target ships fails too.
// Everything it and its build tools print goes to stderr, so `npm pack --json` stays parseable.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ABI_BY_MAJOR, MAJORS, TARGETS, currentTarget, describe, expectedFiles, napiFile, stackFile } = require('./prebuild-targets');

const root = path.resolve(__dirname, '..');
const prebuilds = path.join(root, 'prebuilds');
const thisMajor = Number(process.versions.node.split('.')[0]);

/**
 * Build tools find this Node's own headers (nothing downloaded) when its prefix has them, and
 * node-gyp compiles on every core (JOBS, unless set: prebuildify's `node-gyp rebuild` is serial
 * otherwise).
 */
function buildEnv() {
  const prefix = path.resolve(process.execPath, '..', '..');
  const env = { ...process.env };
  if (!env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  env.JOBS ??= String(os.availableParallelism());
  return env;
}

/** The majors whose stack addon this machine builds: all where the registry has their Node. */
function stackMajors(currentOnly) {
  const target = currentTarget();
  const fromRegistry = target.platform === 'linux' && target.arch === 'x64' && target.libc === 'glibc';
  return currentOnly || !fromRegistry ? [thisMajor] : MAJORS;
}

function buildNapi() {
  const target = currentTarget();
  const args = [require.resolve('prebuildify/bin.js'), '--napi', '--strip', '--name', 'node.napi'];
  if (target.libc) args.push('--tag-libc');
  console.error(`::: prebuildify (${describe(target)})`);
  execFileSync(process.execPath, args, { cwd: root, env: buildEnv(), stdio: ['ignore', 2, 2] });
  // prebuildify's `node-gyp rebuild` moved build/Release/uvscope.node into prebuilds/ and left
  // the stack addon there, which node-gyp-build (build/Release first) would load as the main
  // addon: drop that build, so this checkout loads the fresh prebuild (`npm run build:native`
  // makes a local build again).
  fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
}

function buildStack(currentOnly) {
  const majors = stackMajors(currentOnly);
  console.error(`::: stack addon for Node ${majors.join(', ')}`);
  execFileSync(process.execPath, [path.join(__dirname, 'build-stack.js'), '--majors', majors.join(',')], {
    cwd: root,
    env: buildEnv(),
    stdio: ['ignore', 2, 2],
  });
}

/** Every file under prebuilds/, relative to it, with / separators. */
function listPrebuilds() {
  if (!fs.existsSync(prebuilds)) return [];
  return fs
    .readdirSync(prebuilds, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(prebuilds, path.join(entry.parentPath ?? entry.path, entry.name)).split(path.sep).join('/'))
    .sort();
}

/** What kind of object file `file` is, from its header: `${format} ${arch}` or why not. */
function objectKind(file) {
  const head = Buffer.alloc(64);
  const fd = fs.openSync(file, 'r');
  const length = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  if (length >= 20 && head.readUInt32BE(0) === 0x7f454c46) {
    const machine = head.readUInt16LE(18);
    return `elf ${{ 0x3e: 'x64', 0xb7: 'arm64' }[machine] ?? `machine 0x${machine.toString(16)}`}`;
  }
  if (length >= 8 && head.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = head.readUInt32LE(4);
    return `macho ${{ 0x01000007: 'x64', 0x0100000c: 'arm64' }[cpu] ?? `cpu 0x${cpu.toString(16)}`}`;
  }
  if (length >= 64 && head.toString('latin1', 0, 2) === 'MZ') {
    const pe = head.readUInt32LE(60);
    const peHead = Buffer.alloc(6);
    const peFd = fs.openSync(file, 'r');
    fs.readSync(peFd, peHead, 0, 6, pe);
    fs.closeSync(peFd);
    const machine = peHead.readUInt16LE(4);
    return `pe ${{ 0x8664: 'x64', 0xaa64: 'arm64' }[machine] ?? `machine 0x${machine.toString(16)}`}`;
  }
  return 'not an object file';
}

const FORMAT = { linux: 'elf', darwin: 'macho', win32: 'pe' };

/**
 * Checks `targets` against prebuilds/; `loadHere` also loads this platform's files in a child
 * (the Node-API addon must export the loop clock, the stack addon must report this Node's ABI).
 * Returns the problems found.
 */
function check(targets, { loadHere, stackMajorsHere }) {
  const problems = [];
  const present = new Set(listPrebuilds());
  const shipped = new Set(TARGETS.flatMap(expectedFiles));
  for (const file of present) if (!shipped.has(file)) problems.push(`prebuilds/${file}: not a file any target ships`);
  for (const target of targets) {
    const here = loadHere && describe(target) === describe(currentTarget());
    const wanted = [napiFile(target), ...(here ? stackMajorsHere : MAJORS).map((major) => stackFile(target, ABI_BY_MAJOR[major]))];
    for (const file of wanted) {
      const full = path.join(prebuilds, file);
      if (!present.has(file)) {
        problems.push(`prebuilds/${file}: missing (${describe(target)})`);
        continue;
      }
      const kind = objectKind(full);
      if (kind !== `${FORMAT[target.platform]} ${target.arch}`) problems.push(`prebuilds/${file}: ${kind}, expected ${FORMAT[target.platform]} ${target.arch}`);
    }
    if (!here) continue;
    const napi = path.join(prebuilds, napiFile(target));
    const stack = path.join(prebuilds, stackFile(target, process.versions.modules));
    const probe = `const a = require(${JSON.stringify(napi)}); if (typeof a.nowNs !== 'function') throw new Error('no nowNs');
      const s = require(${JSON.stringify(stack)}); if (s.abi !== ${Number(process.versions.modules)}) throw new Error('abi ' + s.abi);`;
    if (present.has(napiFile(target)) && present.has(stackFile(target, process.versions.modules))) {
      try {
        execFileSync(process.execPath, ['-e', probe], { stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (error) {
        problems.push(`this platform's prebuilds do not load in Node ${process.version}: ${String(error.stderr || error.message).trim().split('\n')[0]}`);
      }
    }
  }
  return problems;
}

function report(problems, what) {
  if (problems.length > 0) {
    console.error(`prebuilds: ${problems.length} problem(s) with ${what}:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.error(`prebuilds: ${what}: ok\n  ${listPrebuilds().join('\n  ')}`);
}

function checkCurrent(currentOnly) {
  const target = currentTarget();
  report(check([target], { loadHere: true, stackMajorsHere: stackMajors(currentOnly) }), `this platform, ${describe(target)}`);
}

function checkAll() {
  report(check(TARGETS.filter((t) => t.required), { loadHere: true, stackMajorsHere: MAJORS }), 'every required target');
}

const [command, ...rest] = process.argv.slice(2);
const currentOnly = rest.includes('--current');
switch (command) {
  case 'napi':
    buildNapi();
    break;
  case 'stack':
    buildStack(currentOnly);
    break;
  case 'build':
    buildNapi();
    buildStack(currentOnly);
    break;
  case 'check':
    if (rest.includes('--all')) checkAll();
    else checkCurrent(currentOnly);
    break;
  case 'prepack':
    if (process.env.UVSCOPE_PREBUILDS === 'gathered') {
      checkAll();
    } else {
      buildNapi();
      buildStack(false);
      checkCurrent(false);
    }
    break;
  default:
    console.error('usage: node scripts/prebuilds.js napi|stack|build|check|prepack [--current] [--all]');
    process.exit(2);
}
