#!/usr/bin/env node
// Runs the whole jest suite against an instrumented build of the addon.
//
//   node scripts/sanitize.js asan [jest args]      (npm run test:asan)
//   node scripts/sanitize.js valgrind [jest args]  (npm run test:valgrind)
//
// asan: builds native/ with AddressSanitizer + UndefinedBehaviorSanitizer (GCC) into
// build-asan/ (node-gyp, the default build, in a staging folder so build/Release is untouched),
// then runs node + jest directly (not through npx, whose own process would get the runtime too)
// with the ASan runtime preloaded, LeakSanitizer on and test/sanitizers/lsan.supp.
// UVSCOPE_ADDON and UVSCOPE_STACK_ADDON make every process of the suite (jest workers, child
// fixtures, workers) load the instrumented addons. Any ASan, UBSan or LSan report fails the run.
//
// valgrind: runs jest in band under valgrind memcheck, with every node child process of the
// suite traced too, against the normal build/Release addon (memcheck needs no instrumented
// build) and test/sanitizers/valgrind.supp. Any memcheck error in any process fails the run.
// Slow (20-50x): run it before a release, not in CI.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const nodedir = process.env.npm_config_nodedir || path.resolve(process.execPath, '../..');
const supp = (name) => path.join(root, 'test', 'sanitizers', name);
const [mode, ...jestArgs] = process.argv.slice(2);

function gccRuntime(name) {
  const file = execFileSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
  // gcc prints the bare name back when it has no such library.
  if (!path.isAbsolute(file) || !fs.existsSync(file)) {
    throw new Error(`${name} not found (gcc -print-file-name): install GCC's sanitizer runtime (libasan8, libubsan1)`);
  }
  return fs.realpathSync(file);
}

/**
 * node-gyp in build-asan/, whose binding.gyp and native/ are links to this checkout's: both
 * targets (uvscope.node, uvscope_stack.node). Returns the folder holding them.
 */
function buildAsan() {
  const stage = path.join(root, 'build-asan');
  fs.mkdirSync(stage, { recursive: true });
  for (const entry of ['binding.gyp', 'native']) {
    const link = path.join(stage, entry);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join('..', entry), link);
  }
  const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1';
  const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
  const env = { ...process.env, npm_config_nodedir: nodedir, CXXFLAGS: flags, CFLAGS: flags, LDFLAGS: '-fsanitize=address,undefined' };
  const configured = fs.existsSync(path.join(stage, 'build', 'Makefile'));
  execFileSync(process.execPath, [nodeGyp, configured ? 'build' : 'rebuild', '-j', String(os.availableParallelism()), '--silent'], {
    cwd: stage, env, stdio: 'inherit',
  });
  return path.join(stage, 'build', 'Release');
}

const JEST = path.join(root, 'node_modules', 'jest', 'bin', 'jest.js');

/** lib/ from src/, as `npm test` builds it first. */
function buildTypeScript() {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
}

/**
 * Left out of an ASan run unless named: the package test (test/package/pack.test.ts) packs, installs and
 * compiles the package with npm and compilers, whose processes the sanitizer variables are
 * stripped from anyway; it runs once per CI, in `npm test`. And the CLI's own end-to-end tests,
 * whose time goes to the CLI's presentation and process handling (Chromium rendering the HTML
 * report, tmux screens, `uvscope bench`'s runs, the parent that loads no addon): the addon calls
 * their children make (jobs, observers, pool requests, traces) are the ones the other files test
 * under ASan (about 90 s of the stage's 700).
 */
const ASAN_DEFAULT_IGNORE = [
  '/test/package/pack\\.test\\.ts$',
  '/test/cli/cli\\.test\\.ts$',
  '/test/cli/bench-command\\.test\\.ts$',
  '/test/cli/top-tmux\\.test\\.ts$',
  '/test/cli/cli-no-addon\\.test\\.ts$',
];

function runJest(env, ignore = []) {
  const files = jestArgs.some((arg) => !arg.startsWith('-')) ? [] : ignore.map((p) => `--testPathIgnorePatterns=${p}`);
  const result = spawnSync(process.execPath, [JEST, ...files, ...jestArgs], { cwd: root, env, stdio: 'inherit' });
  if (result.signal) {
    console.error(`jest was killed by ${result.signal}`);
    return 1;
  }
  return result.status;
}

function asan() {
  const release = buildAsan();
  const addon = path.join(release, 'uvscope.node');
  buildTypeScript();
  const env = {
    ...process.env,
    UVSCOPE_ADDON: addon,
    // binding.gyp's second target: the instrumented stack addon (src/stack/load.ts).
    UVSCOPE_STACK_ADDON: path.join(release, 'uvscope_stack.node'),
    UVSCOPE_SANITIZER: 'asan',
    LD_PRELOAD: gccRuntime('libasan.so'),
    ASAN_OPTIONS: [
      'detect_leaks=1',
      'abort_on_error=1',
      // Node's own signal handlers (SIGSEGV for WebAssembly, SIGINT) must stay Node's.
      'allow_user_segv_handler=1',
      'handle_segv=0',
    ].join(':'),
    UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    LSAN_OPTIONS: `suppressions=${supp('lsan.supp')}:print_suppressions=0`,
  };
  console.log(`::: jest against ${path.relative(root, addon)} (ASan + UBSan, LSan on)`);
  return runJest(env, ASAN_DEFAULT_IGNORE);
}

/** Non-node programs the suite starts (npm, compilers, Chromium): run natively, not traced. */
const VALGRIND_SKIP = ['*/sh', '*/bash', '*/dash', '*/env', '*/npm', '*/npx', '*/make', '*/gcc*', '*/g++*', '*/cc1*', '*/as', '*/ld*',
  '*/collect2', '*/python*', '*/cmake', '*/git', '*chrom*'];

/**
 * Left out of a valgrind run unless named: the stress and property tests (minutes natively,
 * hours under memcheck; they run under ASan in CI), and the package and CLI report tests,
 * which exercise npm, compilers and Chromium rather than the addon.
 */
const VALGRIND_DEFAULT_IGNORE = ['/test/stress/', '/test/package/pack', '/test/cli/cli', '/test/loop/stall-watchdog', '/test/watchdog-preload', '/test/reentrancy/'];

function valgrind() {
  const logs = path.join(root, 'build-valgrind');
  fs.rmSync(logs, { recursive: true, force: true });
  fs.mkdirSync(logs, { recursive: true });
  fs.chmodSync(logs, 0o1777); // a test runs a child as the user nobody: its report goes here too
  const valgrindArgs = [
    '--tool=memcheck', '-q', '--error-exitcode=1', '--num-callers=40', '--vgdb=no',
    // valgrind runs one thread at a time; without this a spinning pool thread starves the rest.
    '--fair-sched=yes',
    // Leaks are LeakSanitizer's job (test:asan): V8's heap defeats memcheck's leak search.
    '--leak-check=no',
    `--suppressions=${supp('valgrind.supp')}`,
    // Every node process of the suite (fixtures, CLI runs) is checked too, nothing else.
    '--trace-children=yes', `--trace-children-skip=${VALGRIND_SKIP.join(',')}`,
    `--log-file=${path.join(logs, '%p.log')}`,
    // No report between fork and exec: otherwise a child forked as root that drops to another
    // user (a test does) re-execs under the same pid and cannot reopen root's report file.
    '--child-silent-after-fork=yes',
  ];
  buildTypeScript();
  console.log(`::: jest under valgrind memcheck, in band (20-50x slower); reports in ${path.relative(root, logs)}/`);
  const files = jestArgs.some((arg) => !arg.startsWith('-')) ? [] : VALGRIND_DEFAULT_IGNORE.map((p) => `--testPathIgnorePatterns=${p}`);
  const result = spawnSync('valgrind', [...valgrindArgs, process.execPath, JEST, '--runInBand', '--testTimeout=900000', ...files, ...jestArgs], {
    cwd: root, env: { ...process.env, UVSCOPE_SANITIZER: 'valgrind' }, stdio: 'inherit',
  });
  if (result.error) throw new Error(`valgrind could not start (${result.error.message}): apt-get install valgrind`);
  const reports = fs.readdirSync(logs).map((name) => path.join(logs, name)).filter((file) => fs.statSync(file).size > 0);
  for (const file of reports) console.error(`\n::: ${path.relative(root, file)}\n${fs.readFileSync(file, 'utf8')}`);
  console.log(`::: valgrind: ${fs.readdirSync(logs).length} processes checked, ${reports.length} with errors`);
  return result.status === 0 && reports.length === 0 ? 0 : 1;
}

const modes = { asan, valgrind };
if (!modes[mode]) {
  console.error('usage: node scripts/sanitize.js asan|valgrind [jest args]');
  process.exit(2);
}
process.exitCode = modes[mode]();
