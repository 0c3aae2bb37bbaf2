/**
 * The two builds agree: binding.gyp (node-gyp, the default) lists every native source file,
 * the Node-API addon's sources apart from the stack addon's; CMakeLists.txt (cmake-js) takes
 * its sources and defines from binding.gyp rather than a list of its own; and one Node-API
 * version is declared, the same in binding.gyp's defines and package.json's napi_versions
 * (which cmake-js and prebuildify read). CI builds with both (`.ci/run`). And the addon's
 * shared codes (phase codes, kernel names by id, job and cipher flags) are checked against
 * TypeScript's at load.
 */
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '..', '..');
const gyp = JSON.parse(fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8')) as {
  targets: { target_name: string; sources: string[]; defines?: string[] }[];
};
const target = (name: string) => {
  const found = gyp.targets.find((t) => t.target_name === name);
  if (!found) throw new Error(`binding.gyp has no target ${name}`);
  return found;
};

/** Every .cc file under native/, relative to the repository, sorted. */
function nativeSources(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith('.cc')) found.push(relative);
    }
  };
  walk('native');
  return found.sort();
}

test('binding.gyp builds every native source once: the stack addon from native/stack/, the main addon from the rest', () => {
  const main = target('uvscope').sources;
  const stack = target('uvscope_stack').sources;
  expect(new Set(main).size).toBe(main.length);
  expect(stack.every((file) => file.startsWith('native/stack/'))).toBe(true);
  expect(main.some((file) => file.startsWith('native/stack/'))).toBe(false);
  expect([...main, ...stack].sort()).toEqual(nativeSources());
});

test("CMakeLists.txt takes binding.gyp's sources and defines, and lists none of its own", () => {
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  expect(cmake).toMatch(/gyp_list\(uvscope sources UVSCOPE_SOURCES\)/);
  expect(cmake).toMatch(/gyp_list\(uvscope defines UVSCOPE_DEFINES\)/);
  expect(cmake).toMatch(/gyp_list\(uvscope_stack sources UVSCOPE_STACK_SOURCES\)/);
  expect(cmake).toMatch(/target_compile_definitions\(\$\{PROJECT_NAME\} PRIVATE \$\{UVSCOPE_DEFINES\}\)/);
  expect(cmake).not.toMatch(/file\(GLOB/);
  expect(cmake).not.toMatch(/NAPI_VERSION=/);
});

test('one Node-API version: binding.gyp defines the one package.json declares', () => {
  const defines = target('uvscope').defines ?? [];
  const versions = defines.filter((define) => define.startsWith('NAPI_VERSION='));
  expect(versions).toHaveLength(1);
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  expect(manifest.binary.napi_versions).toEqual([Number(versions[0].split('=')[1])]);
  // The running Node offers at least that version.
  expect(Number(process.versions.napi)).toBeGreaterThanOrEqual(manifest.binary.napi_versions[0]);
});

describe("the addon's shared codes are checked against TypeScript's at load", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { checkConstants, native } = require('../../src/native') as typeof import('../../src/native');

  test('the built addon passes (it loaded)', () => {
    expect(() => checkConstants(native.constants)).not.toThrow();
  });

  test('a kernel renumbered, a phase code changed or a flag missing is ERR_UVSCOPE_ADDON_MISMATCH', () => {
    const copy = () => JSON.parse(JSON.stringify(native.constants));
    const swapped = copy();
    [swapped.kernels[1], swapped.kernels[2]] = [swapped.kernels[2], swapped.kernels[1]];
    const phase = copy();
    phase.phases.poll = 9;
    const flag = copy();
    delete flag.cipherFlags.padding;
    for (const constants of [swapped, phase, flag, undefined]) {
      expect(() => checkConstants(constants)).toThrow(expect.objectContaining({ code: 'ERR_UVSCOPE_ADDON_MISMATCH' }));
    }
  });
});
