/**
 * The published package, as users get it: `npm pack` in a temporary copy of this checkout (its
 * prepack, scripts/prebuilds.js, builds the Node-API prebuild and the stack addon for Node 20,
 * 22, 24 and 26, and fails on a missing one), the tarball checked by attw and publint, then
 * installed into fresh projects: with npm's default install-script policy and no compiler
 * reachable, with the install script denied, and (without prebuilds) compiled by its install
 * script. A TypeScript consumer is type-checked against the installed package in every module
 * mode and run as ESM and CommonJS. Everything happens in temporary folders, never in this
 * checkout, whose build/ the other test files are using. The slowest file of the suite (about
 * 4 CPU-minutes: the prebuilds, one compile from source, six TypeScript compilations; Node 22,
 * 24 and 26 come from scripts/node-matrix.sh's cache, fetched once): the Node matrix and
 * sanitizer runs leave it out, so it runs once per CI, in `npm test`.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withoutSanitizer } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const nodedir = process.env.npm_config_nodedir ?? path.resolve(process.execPath, '../..');
// npm's own node-gyp and the prebuild run need Node's headers: local, never downloaded.
// This file tests the package, not memory: a sanitizer run's variables are left out.
const env = { ...withoutSanitizer(), npm_config_nodedir: fs.existsSync(path.join(nodedir, 'include', 'node')) ? nodedir : '/usr' };
const npm = (args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  spawnSync('npm', args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8' });
const ok = (result: ReturnType<typeof npm>) => {
  if (result.status !== 0) throw new Error(`npm failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
};

const STACK_FILES = [115, 127, 137, 147].map((abi) => `prebuilds/linux-x64/uvscope_stack.abi${abi}.node`);
const OTHER_MAJORS = [22, 24, 26];

let work: string;
let tarball: string;
let bareTarball: string;
let listing: string[];
let noCompiler: NodeJS.ProcessEnv;

function freshProject(name: string, packageJson: object = {}): string {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, private: true, ...packageJson }));
  return dir;
}

/** scripts/smoke-installed.js in `project`: a job, an observer, a watchdog with stacks; which files served. */
function use(project: string, nodeBin = process.execPath) {
  const result = spawnSync(nodeBin, [path.join(root, 'scripts', 'smoke-installed.js')], { cwd: project, env: withoutSanitizer(), encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout);
}

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-pack-'));
  const copy = path.join(work, 'package');
  fs.mkdirSync(copy);
  // What `npm pack` needs from a clone: the package's files, and the sources prepack and
  // prepare build from.
  for (const entry of ['package.json', 'README.md', 'binding.gyp', 'CMakeLists.txt', 'native', 'dashboards', 'docs', 'src', 'tsconfig.json', 'scripts']) {
    fs.cpSync(path.join(root, entry), path.join(copy, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  const packed = JSON.parse(ok(npm(['pack', '--json', '--pack-destination', work], copy)));
  tarball = path.join(work, packed[0].filename);
  listing = packed[0].files.map((f: { path: string }) => f.path).sort();
  // The same tarball without its prebuilds: installing it must compile.
  const bare = path.join(work, 'bare');
  fs.mkdirSync(bare);
  execFileSync('tar', ['xzf', tarball, '-C', bare]);
  fs.rmSync(path.join(bare, 'package', 'prebuilds'), { recursive: true });
  const packedBare = JSON.parse(ok(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', bare], path.join(bare, 'package'))));
  bareTarball = path.join(bare, packedBare[0].filename);
  // No compiler reachable: PATH holds node, npm and sh only, and CC/CXX fail.
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), path.join(bin, 'npm'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  noCompiler = { PATH: bin, CC: '/bin/false', CXX: '/bin/false' };
}, 400_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('the tarball ships the loaders, the prebuilds for every supported Node, the native sources and the build files', () => {
  const top = [...new Set(listing.map((file) => file.split('/')[0]))].sort();
  expect(top).toEqual(['CMakeLists.txt', 'README.md', 'binding.gyp', 'dashboards', 'docs', 'lib', 'native', 'package.json', 'prebuilds']);
  // The guides the README links to (text only: the pictures stay in the repository).
  expect(listing.filter((file) => file.startsWith('docs/')).every((file) => file.endsWith('.md'))).toBe(true);
  expect(listing).toContain('docs/thread-pool.md');
  expect(listing).toContain('dashboards/uvscope.json');
  expect(listing.filter((file) => file.startsWith('prebuilds/'))).toEqual(['prebuilds/linux-x64/node.napi.glibc.node', ...STACK_FILES]);
  // Every file package.json's exports, typesVersions, main, types and bin name.
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const named = new Set<string>([manifest.main, manifest.types, ...Object.values(manifest.bin as Record<string, string>)]);
  const walk = (value: unknown): void => {
    if (typeof value === 'string') named.add(value.replace(/^\.\//, ''));
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(manifest.exports);
  walk(manifest.typesVersions);
  for (const file of named) expect(listing).toContain(file);
  // Nothing from the repository's own tooling.
  expect(listing.filter((file) => /^(src|test|bench|scripts|build|examples)\//.test(file) || file.startsWith('.'))).toEqual([]);
});

test('attw and publint find no problem in the tarball', () => {
  const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'check-package.js'), tarball], { env, encoding: 'utf8' });
  expect(result.stderr).toBe('');
  expect(result.stdout).toContain('No problems found');
  expect(result.stdout).toContain('All good!');
  expect(result.status).toBe(0);
});

test("npm's default script policy, no compiler: installs, and the prebuilds serve Node 20, 22, 24 and 26", () => {
  const project = freshProject('default-policy');
  // npm 11.19 warns that uvscope's install script is not covered by allowScripts and runs it;
  // node-gyp-build finds the prebuild and compiles nothing.
  ok(npm(['install', '--no-audit', '--no-fund', tarball], project, noCompiler));
  expect(fs.existsSync(path.join(project, 'node_modules', 'uvscope', 'build'))).toBe(false);
  const result = use(project);
  expect(result.equal).toBe(true);
  expect(result.iterations).toBeGreaterThanOrEqual(4);
  expect(result.addon).toBe('prebuilds/linux-x64/node.napi.glibc.node');
  expect(result.stack).toBe('prebuilds/linux-x64/uvscope_stack.abi115.node');
  for (const major of OTHER_MAJORS) {
    const nodeBin = execFileSync('bash', [path.join(root, 'scripts', 'node-matrix.sh'), '--node-path', String(major)], { encoding: 'utf8' }).trim();
    const abi = execFileSync(nodeBin, ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim();
    const other = use(project, nodeBin);
    expect(other.equal).toBe(true);
    expect(other.addon).toBe('prebuilds/linux-x64/node.napi.glibc.node');
    expect(other.stack).toBe(`prebuilds/linux-x64/uvscope_stack.abi${abi}.node`);
  }
}, 120_000);

test('the install script denied (what a blocking npm does), no compiler: the prebuild alone serves', () => {
  const project = freshProject('script-denied', { allowScripts: { [`file:${tarball}`]: false } });
  const installed = npm(['install', '--no-audit', '--no-fund', tarball], project, noCompiler);
  ok(installed);
  // Denied, so not even listed as pending review.
  expect(installed.stderr).not.toMatch(/install-scripts/);
  expect(fs.existsSync(path.join(project, 'node_modules', 'uvscope', 'build'))).toBe(false);
  const result = use(project);
  expect(result.equal).toBe(true);
  expect(result.addon).toBe('prebuilds/linux-x64/node.napi.glibc.node');
}, 120_000);

test('without prebuilds the install script compiles the addon, and fails where no compiler is reachable', () => {
  // The control for the two tests above: their environment cannot compile.
  const blocked = freshProject('bare-no-compiler', { allowScripts: { [`file:${bareTarball}`]: true } });
  expect(npm(['install', '--no-audit', '--no-fund', bareTarball], blocked, noCompiler).status).not.toBe(0);
  const project = freshProject('compiled', { allowScripts: { [`file:${bareTarball}`]: true } });
  // JOBS: node-gyp on every core (the same compile, sooner).
  ok(npm(['install', '--no-audit', '--no-fund', bareTarball], project, { JOBS: String(os.availableParallelism()) }));
  const result = use(project);
  expect(result.equal).toBe(true);
  expect(result.addon).toBe('build/Release/uvscope.node');
}, 240_000);

/** Uses every entry point's types; the `@ts-expect-error` lines prove the types are not `any`. */
const CONSUMER = `
import { LoopObserver, threadpool, type LoopStats } from 'uvscope';
import { collectDefaultUvMetrics } from 'uvscope/prometheus';
import { registerUvMetrics } from 'uvscope/opentelemetry';
import { watchdog } from 'uvscope/watchdog';
import 'uvscope/register';

export function typeErrors(digest: Buffer): void {
  // @ts-expect-error: a digest is a Buffer, not a string
  const wrong: string = digest;
  // @ts-expect-error: the options are an object
  new LoopObserver(42);
  void wrong;
}

async function main(): Promise<void> {
  const observer = new LoopObserver().start();
  const digest: Buffer = await threadpool.hash('sha256', 'abc');
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  const stats: LoopStats = observer.stats();
  const iterations: number = stats.iterations;
  observer.close();
  console.log(JSON.stringify({
    hex: digest.toString('hex'),
    iterations,
    exporters: [typeof collectDefaultUvMetrics, typeof registerUvMetrics],
    watchdog: watchdog?.running,
  }));
}
void main();
`;

const execFileAsync = promisify(execFile);

test('a strict TypeScript consumer type-checks in node16, nodenext, node10 and bundler modes, and runs as ESM and CommonJS', async () => {
  const project = freshProject('consumer');
  ok(npm(['install', '--no-audit', '--no-fund', tarball], project, noCompiler));
  // Peer dependencies and Node's types, as a consumer would have them (uvscope/opentelemetry's
  // declarations name @opentelemetry/sdk-metrics' MetricProducer: an optional peer too).
  for (const dep of ['@types/node', 'prom-client', '@opentelemetry/api', '@opentelemetry/sdk-metrics']) {
    fs.mkdirSync(path.dirname(path.join(project, 'node_modules', dep)), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(project, 'node_modules', dep));
  }
  // .mts is ESM and .cts CommonJS under node16/nodenext; .ts follows the mode.
  for (const file of ['consumer.mts', 'consumer.cts', 'consumer.ts']) fs.writeFileSync(path.join(project, file), CONSUMER);
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const common = ['--strict', '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'false'];
  const modes: Array<[string[], string[]]> = [
    [['consumer.mts', 'consumer.cts'], ['--module', 'node16', '--moduleResolution', 'node16']],
    [['consumer.mts', 'consumer.cts'], ['--module', 'nodenext', '--moduleResolution', 'nodenext']],
    [['consumer.ts'], ['--module', 'commonjs', '--moduleResolution', 'node10', '--esModuleInterop']],
    [['consumer.ts'], ['--module', 'esnext', '--moduleResolution', 'bundler']],
  ];
  // One compiler per mode, side by side; the last one emits the ESM and CommonJS files to run.
  const runs = [
    ...modes.map(([files, flags]) => [...common, '--noEmit', ...flags, ...files]),
    [...common, '--module', 'node16', '--outDir', 'out', 'consumer.mts', 'consumer.cts'],
  ];
  const outputs = await Promise.all(
    runs.map((args) =>
      execFileAsync(process.execPath, [tsc, ...args], { cwd: project, encoding: 'utf8' }).then(
        ({ stdout, stderr }) => ({ args, output: stdout + stderr }),
        (error: { stdout?: string; stderr?: string; message: string }) => ({ args, output: `${error.stdout ?? ''}${error.stderr ?? ''}` || error.message }),
      ),
    ),
  );
  expect(outputs).toEqual(runs.map((args) => ({ args, output: '' })));
  for (const js of ['consumer.mjs', 'consumer.cjs']) {
    const trace = path.join(project, `${js}.trace.json`);
    const run = spawnSync(process.execPath, [path.join('out', js)], {
      cwd: project,
      env: { ...withoutSanitizer(), UVSCOPE_TRACE_QUIET: '1', UVSCOPE_TRACE_OUT: trace },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.hex).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(out.iterations).toBeGreaterThanOrEqual(2);
    expect(out.exporters).toEqual(['function', 'function']);
    expect(out.watchdog).toBe(true);
    // The register preload traced the run and wrote its trace at exit.
    expect(JSON.parse(fs.readFileSync(trace, 'utf8')).traceEvents.length).toBeGreaterThan(0);
  }
}, 180_000);
