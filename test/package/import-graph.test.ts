/**
 * The shape of src/'s import graph: no circle, and no arrow up. Every relative import of every
 * file under src/ is read (TypeScript's own pre-processor: imports, re-exports, import types,
 * require() and import() calls) and resolved to a file. A file may import from its own folder,
 * from a folder inside it, from the shared base, or from a folder of a lower layer (LAYERS);
 * the public entry points at src/'s root may import anything. (package.json, read for the
 * version, is the one file outside src/ imported.)
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.join(__dirname, '..', '..', 'src');

/** The public entry points (and their ESM twins): src/'s root, allowed to import anything. */
const ENTRY_POINTS = /^(index|prometheus|opentelemetry|register|watchdog|agent)(\.load)?$/;

/**
 * Folders from the bottom up; a folder may import from any folder of a lower layer. Layer 0 is
 * the shared base: the files at src/'s root that are not entry points (native.ts, errors.ts,
 * channels.ts) and histogram/. A folder not listed takes the layer of its nearest listed parent.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['', 'histogram'],
  ['stack'],
  ['loop', 'threadpool', 'requests'],
  ['trace', 'export'],
  ['control'],
  ['cli/common'],
  ['cli/bench', 'cli/trace'],
  ['cli/top'],
  ['cli'],
];

type Graph = Map<string, string[]>;

function moduleId(file: string): string {
  return path.relative(SRC, file).replace(/\.m?ts$/, '').split(path.sep).join('/');
}

function folderOf(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash < 0 ? '' : id.slice(0, slash);
}

function layerOf(folder: string): number {
  for (let f = folder; ; f = folderOf(f)) {
    const layer = LAYERS.findIndex((names) => names.includes(f));
    if (layer >= 0) return layer;
    if (f === '') throw new Error(`no layer for folder '${folder}'`);
  }
}

function isEntryPoint(id: string): boolean {
  return !id.includes('/') && ENTRY_POINTS.test(id);
}

/** Why `from` may not import `to`, or undefined if it may. */
export function arrowUp(from: string, to: string): string | undefined {
  if (isEntryPoint(from)) return undefined;
  if (isEntryPoint(to)) return `${from} imports the entry point ${to}`;
  const fromFolder = folderOf(from);
  const toFolder = folderOf(to);
  if (toFolder === fromFolder) return undefined;
  // Inside its own folder (not for the base at the root: the root is nobody's own folder).
  if (fromFolder !== '' && toFolder.startsWith(`${fromFolder}/`)) return undefined;
  if (layerOf(toFolder) === 0) return undefined;
  if (layerOf(toFolder) < layerOf(fromFolder)) return undefined;
  return `${from} (${fromFolder || 'src/'}) imports ${to} (${toFolder}): not its own folder, one inside it, the shared base or a lower layer`;
}

/** Each circle found, as the list of modules around it. */
export function circles(graph: Graph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 'open');
    stack.push(id);
    for (const next of graph.get(id) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of [...graph.keys()].sort()) if (!state.has(id)) visit(id);
  return found;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return /\.m?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolveImport(file: string, specifier: string): string {
  const base = path.resolve(path.dirname(file), specifier.replace(/\.m?js$/, ''));
  for (const candidate of [`${base}.ts`, `${base}.mts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${path.relative(SRC, file)}: cannot resolve '${specifier}'`);
}

function srcGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((name) => name.startsWith('.') && !path.resolve(path.dirname(file), name).startsWith(`${path.dirname(SRC)}${path.sep}package.json`))
      .map((name) => moduleId(resolveImport(file, name)));
    graph.set(moduleId(file), [...new Set(targets)]);
  }
  return graph;
}

describe('src/ import graph', () => {
  const graph = srcGraph();

  test('reads every file and its imports', () => {
    expect(graph.size).toBeGreaterThan(40);
    expect(graph.get('loop/observer')).toContain('native');
    expect(graph.get('index')).toContain('loop/observer');
  });

  test('has no circle', () => {
    expect(circles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  test('has no arrow up', () => {
    const wrong: string[] = [];
    for (const [from, targets] of graph) {
      for (const to of targets) {
        const why = arrowUp(from, to);
        if (why) wrong.push(why);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('every folder under src/ has a layer', () => {
    for (const id of graph.keys()) expect(() => layerOf(folderOf(id))).not.toThrow();
  });
});

describe('the checks themselves', () => {
  test('find a circle', () => {
    const graph: Graph = new Map([
      ['cli/bench/bench', ['cli/bench/html']],
      ['cli/bench/html', ['cli/bench/bench']],
      ['native', []],
    ]);
    expect(circles(graph)).toEqual([['cli/bench/bench', 'cli/bench/html', 'cli/bench/bench']]);
  });

  test('find the arrows up the old layout had, and allow the ones down', () => {
    expect(arrowUp('trace/process-collector', 'cli/chrome-trace')).toBeDefined();
    expect(arrowUp('requests/monitor', 'threadpool/threadpool')).toBeDefined();
    expect(arrowUp('loop/observer', 'trace/format')).toBeDefined();
    expect(arrowUp('native', 'loop/observer')).toBeDefined();
    expect(arrowUp('histogram/summary', 'loop/observer')).toBeDefined();
    expect(arrowUp('cli/bench/bench', 'cli/main')).toBeDefined();
    expect(arrowUp('trace/format', 'index')).toBeDefined();
    expect(arrowUp('register', 'cli/main')).toBeUndefined();
    expect(arrowUp('trace/format', 'loop/phases')).toBeUndefined();
    expect(arrowUp('cli/main', 'cli/bench/bench')).toBeUndefined();
    expect(arrowUp('cli/bench/bench', 'cli/common/args')).toBeUndefined();
    expect(arrowUp('requests/monitor', 'channels')).toBeUndefined();
    expect(arrowUp('loop/observer', 'histogram/summary')).toBeUndefined();
  });
});
