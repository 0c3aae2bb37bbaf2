/**
 * package.json's entry points stay one scheme, so a new one cannot be added half-way: every
 * `exports` subpath has an `import` condition (ESM wrapper `<name>.mjs` with its `<name>.d.mts`,
 * compiled from src/<name>.mts, which loads src/<name>.load.mts first) and a `require` condition
 * (`<name>.js`, `<name>.d.ts`, from src/<name>.ts), a typesVersions entry for moduleResolution
 * node10, and a TypeDoc entry point; the ESM wrapper exposes exactly the CommonJS module's
 * names, and an entry that throws while loading rejects its import without an uncaught
 * exception. Fast: reads files and starts two node processes; the packed tarball itself is
 * checked by test/package/pack.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const typedoc = JSON.parse(fs.readFileSync(path.join(root, 'typedoc.json'), 'utf8'));

/** The code entry points: subpath -> file name without extension ('.' -> 'index'). */
const entries = Object.keys(manifest.exports)
  .filter((subpath) => subpath !== './package.json')
  .map((subpath) => ({ subpath, name: subpath === '.' ? 'index' : subpath.slice(2) }));

test('package.json is CommonJS with an ESM entry per subpath', () => {
  expect(manifest.type).toBe('commonjs');
  expect(manifest.main).toBe('lib/index.js');
  expect(manifest.types).toBe('lib/index.d.ts');
  expect(entries.length).toBeGreaterThanOrEqual(5);
});

test.each(entries)('$subpath: import and require conditions, each with its own declarations, from src/', ({ subpath, name }) => {
  expect(manifest.exports[subpath]).toEqual({
    import: { types: `./lib/${name}.d.mts`, default: `./lib/${name}.mjs` },
    require: { types: `./lib/${name}.d.ts`, default: `./lib/${name}.js` },
  });
  expect(fs.existsSync(path.join(root, 'src', `${name}.ts`))).toBe(true);
  // The load step first, then the re-export (why: src/index.mts).
  const wrapper = fs.readFileSync(path.join(root, 'src', `${name}.mts`), 'utf8');
  const statements = wrapper.split('\n').filter((line) => /^(import|export) /.test(line));
  expect(statements).toEqual([`import './${name}.load.mjs';`, `export * from './${name}.js';`]);
  expect(fs.readFileSync(path.join(root, 'src', `${name}.load.mts`), 'utf8')).toContain(`createRequire(import.meta.url)('./${name}.js');`);
  expect(typedoc.entryPoints).toContain(`src/${name}.ts`);
});

test('typesVersions maps every subpath, and nothing else, to its CommonJS declarations', () => {
  const expected = Object.fromEntries(entries.filter(({ subpath }) => subpath !== '.').map(({ name }) => [name, [`lib/${name}.d.ts`]]));
  expect(manifest.typesVersions).toEqual({ '*': expected });
});

test('each ESM entry exposes the same names as its CommonJS module (lib/, built by pretest)', () => {
  const script = `
    const { createRequire } = require('node:module');
    const names = {};
    (async () => {
      for (const name of ${JSON.stringify(entries.map(({ name }) => name))}) {
        const esm = await import(${JSON.stringify(path.join(root, 'lib'))} + '/' + name + '.mjs');
        const cjs = require(${JSON.stringify(path.join(root, 'lib'))} + '/' + name + '.js');
        // Node 23+ names a CommonJS module's exports object 'module.exports' in its ESM namespace,
        // and the wrapper's export * passes that name on: not one of uvscope's exports.
        names[name] = { esm: Object.keys(esm).filter((k) => k !== 'default' && k !== '__esModule' && k !== 'module.exports').sort(), cjs: Object.keys(cjs).filter((k) => k !== '__esModule').sort() };
      }
      console.log(JSON.stringify(names));
    })();`;
  // UVSCOPE_TRACE_OUT/QUIET: importing uvscope/register traces this child; its trace goes nowhere visible.
  const out = execFileSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: { ...process.env, UVSCOPE_TRACE_QUIET: '1', UVSCOPE_TRACE_OUT: '/dev/null', UVSCOPE_STALL_MS: '1000' },
  });
  const names = JSON.parse(out) as Record<string, { esm: string[]; cjs: string[] }>;
  for (const { name } of entries) {
    expect({ name, names: names[name].esm }).toEqual({ name, names: names[name].cjs });
  }
  expect(names.index.esm).toEqual(expect.arrayContaining(['LoopObserver', 'StallWatchdog', 'threadpool']));
});

test('an ESM entry whose CommonJS module throws while loading rejects the import, and nothing is uncaught', () => {
  // The CommonJS index throws when its addon cannot load: UVSCOPE_ADDON names a file that does not exist.
  const script = `import(${JSON.stringify(path.join(root, 'lib', 'index.mjs'))}).then(
    () => console.log('loaded'),
    (error) => console.log('rejected: ' + error.message.split('\\n')[0]));`;
  const result = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    env: { ...process.env, UVSCOPE_ADDON: path.join(root, 'no-such-addon.node') },
  });
  expect(result.stdout).toMatch(/^rejected: /);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
});
