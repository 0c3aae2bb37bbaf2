/**
 * The published package: `npm run prebuildify` output under prebuilds/ is packed with `npm pack`,
 * installed from the tarball into a fresh project and used (a job and an observer), once with
 * no compiler reachable (the prebuild must be used) and once without prebuilds (the install
 * script must compile). Everything happens in temporary copies, never in this checkout, whose
 * build/ the other test files are using.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withoutSanitizer } from './helpers';

const root = path.resolve(__dirname, '..');
const nodedir = process.env.npm_config_nodedir ?? path.resolve(process.execPath, '../..');
// npm's own node-gyp and the prebuildify run need Node's headers: local, never downloaded.
// This file tests the package, not memory: a sanitizer run's variables are left out.
const env = { ...withoutSanitizer(), npm_config_nodedir: fs.existsSync(path.join(nodedir, 'include', 'node')) ? nodedir : '/usr' };
const npm = (args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  execFileSync('npm', args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let work: string;
let withPrebuild: string;
let withoutPrebuild: string;
let listing: string[];

const USE_IT = `
const { threadpool, LoopObserver } = require('uvscope');
const crypto = require('node:crypto');
const observer = new LoopObserver().start();
threadpool.hash('sha256', 'abc').then(async (digest) => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const stats = observer.stats();
  observer.close();
  console.log(JSON.stringify({
    equal: digest.equals(crypto.createHash('sha256').update('abc').digest()),
    iterations: stats.iterations,
    addon: require('node-gyp-build').path(require('path').dirname(require.resolve('uvscope/package.json'))),
  }));
});`;

function freshProject(name: string): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  // npm 11 runs a dependency's install script only when the project allows it.
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, allowScripts: { uvscope: true } }));
  return dir;
}

function use(project: string) {
  const result = spawnSync(process.execPath, ['-e', USE_IT], { cwd: project, env: withoutSanitizer(), encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout);
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-pack-'));
  const copy = path.join(work, 'package');
  fs.mkdirSync(copy);
  for (const entry of ['package.json', 'README.md', 'binding.gyp', 'CMakeLists.txt', 'native', 'lib', 'dashboards']) {
    fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  npm(['run', 'prebuildify'], copy);
  fs.rmSync(path.join(copy, 'build'), { recursive: true, force: true });
  fs.rmSync(path.join(copy, 'node_modules'));
  const packed = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], copy));
  withPrebuild = path.join(work, packed[0].filename);
  listing = packed[0].files.map((f: { path: string }) => f.path).sort();
  // The same package without prebuilds: installing it must compile.
  fs.rmSync(path.join(copy, 'prebuilds'), { recursive: true });
  const bare = path.join(work, 'bare');
  fs.mkdirSync(bare);
  const packedBare = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', bare], copy));
  withoutPrebuild = path.join(bare, packedBare[0].filename);
}, 240_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the tarball ships exactly the loader, the prebuild, the native sources and the build files', () => {
  const top = [...new Set(listing.map((file) => file.split('/')[0]))].sort();
  expect(top).toEqual(['CMakeLists.txt', 'README.md', 'binding.gyp', 'dashboards', 'lib', 'native', 'package.json', 'prebuilds']);
  expect(listing).toContain('prebuilds/linux-x64/node.napi.node');
  expect(listing.filter((file) => file.startsWith('prebuilds/'))).toEqual(['prebuilds/linux-x64/node.napi.node']);
  for (const file of ['lib/index.js', 'lib/index.mjs', 'lib/index.d.ts', 'lib/register.js', 'lib/cli/main.js', 'lib/prometheus.js', 'lib/opentelemetry.js', 'native/addon.cc', 'dashboards/uvscope.json']) {
    expect(listing).toContain(file);
  }
  // Nothing from the repository's own tooling.
  expect(listing.filter((file) => /^(src|test|bench|scripts|build|examples|docs)\//.test(file) || file.startsWith('.'))).toEqual([]);
});

test('installed from the tarball with no compiler reachable, the prebuild loads and works', () => {
  const project = freshProject('with-prebuild');
  // No compiler: a build attempt would fail, so success means the prebuild was used.
  npm(['install', '--no-audit', '--no-fund', withPrebuild], project, { CC: '/bin/false', CXX: '/bin/false', PATH: `/bin:${path.dirname(process.execPath)}` });
  expect(fs.existsSync(path.join(project, 'node_modules', 'uvscope', 'build'))).toBe(false);
  const result = use(project);
  expect(result.equal).toBe(true);
  expect(result.iterations).toBeGreaterThanOrEqual(4);
  expect(result.addon).toMatch(/prebuilds[/\\]linux-x64[/\\]node\.napi\.node$/);
}, 120_000);

test('installed from a tarball without prebuilds, the install script compiles the addon', () => {
  const project = freshProject('compiled');
  npm(['install', '--no-audit', '--no-fund', withoutPrebuild], project);
  const result = use(project);
  expect(result.equal).toBe(true);
  expect(result.addon).toMatch(/build[/\\]Release[/\\]uvscope\.node$/);
}, 240_000);
