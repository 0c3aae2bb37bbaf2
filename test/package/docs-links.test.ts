/**
 * Every relative link of README.md and docs/*.md resolves: the file (or folder) it names exists,
 * and its #anchor is a heading of the target, slugged as GitHub slugs headings. External links
 * are listed (one test title each) and checked to be well-formed http(s) URLs, never fetched.
 * Each guide in docs/ is linked from the README, so none is orphaned.
 *
 * The checker reads the files once at load; it owns no state beyond this file's run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');

interface Link {
  /** The markdown file the link is in, relative to the repository root. */
  from: string;
  line: number;
  target: string;
}

/**
 * A heading's anchor as GitHub makes it (github-slugger): the heading's text without markup,
 * lowercased, every character that is not a letter, mark, number, connector (`_`), space or
 * hyphen removed, spaces turned into hyphens. A slug already taken in the file gets -1, -2, ...
 */
function slugger(): (heading: string) => string {
  const seen = new Map<string, number>();
  return (heading) => {
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
      .replace(/`([^`]*)`/g, '$1') // code spans: their content
      .replace(/<[^>]+>/g, '') // inline HTML tags
      .replace(/(\*\*|__|\*)(?=\S)([^*]*?\S)\1/g, '$2'); // emphasis
    const base = text.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    let slug = base;
    let n = seen.get(base) ?? 0;
    while (seen.has(slug)) slug = `${base}-${++n}`;
    seen.set(base, n);
    seen.set(slug, 0);
    return slug;
  };
}

/** The lines of a markdown text outside fenced code blocks, with code spans blanked out. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | null = null;
  text.split('\n').forEach((raw, i) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(raw);
    if (marker) {
      if (fence === null) fence = marker[1][0].repeat(marker[1].length);
      else if (marker[1].startsWith(fence)) fence = null;
      return;
    }
    if (fence !== null) return;
    // Blank code spans but keep their length, so `[`x`](y)` stays a link and `[a](b)` inside
    // backticks does not become one.
    out.push({ line: i + 1, text: raw.replace(/(`+)([^`]|[^`].*?[^`])\1/g, (m) => m.replace(/[^`]/g, ' ')) });
  });
  return out;
}

/** The anchors of a markdown text's ATX headings, in order, duplicates numbered. */
function anchorsOf(text: string): Set<string> {
  const slug = slugger();
  const anchors = new Set<string>();
  let fence: string | null = null;
  for (const raw of text.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(raw);
    if (marker) {
      if (fence === null) fence = marker[1][0].repeat(marker[1].length);
      else if (marker[1].startsWith(fence)) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const heading = /^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(raw);
    if (heading) anchors.add(slug(heading[1]));
  }
  return anchors;
}

/** Inline links and images, reference definitions, autolinks, and href/src attributes. */
function linksOf(from: string, text: string): Link[] {
  const links: Link[] = [];
  for (const { line, text: prose } of proseLines(text)) {
    const patterns = [
      /!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g,
      /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/g,
      /<(https?:\/\/[^>\s]+)>/g,
      /\b(?:href|src)="([^"]+)"/g,
    ];
    for (const pattern of patterns) {
      for (const match of prose.matchAll(pattern)) links.push({ from, line, target: match[1] });
    }
  }
  return links;
}

const isExternal = (target: string) => /^[a-z][a-z0-9+.-]*:/i.test(target);

/**
 * What is wrong with each relative link of `files` (paths relative to `base`), as messages
 * naming the file and line; `read` gives a file's text. Empty when every link resolves.
 */
function brokenLinks(files: string[], read: (file: string) => string, exists: (file: string) => boolean): string[] {
  const anchors = new Map<string, Set<string>>();
  const anchorsIn = (file: string) => {
    if (!anchors.has(file)) anchors.set(file, anchorsOf(read(file)));
    return anchors.get(file)!;
  };
  const problems: string[] = [];
  for (const from of files) {
    for (const link of linksOf(from, read(from))) {
      if (isExternal(link.target)) continue;
      const where = `${link.from}:${link.line}: ${link.target}`;
      const hash = link.target.indexOf('#');
      const filePart = decodeURIComponent(hash < 0 ? link.target : link.target.slice(0, hash));
      const anchor = hash < 0 ? null : decodeURIComponent(link.target.slice(hash + 1));
      const file = filePart === ''
        ? from
        : path.posix.normalize(filePart.startsWith('/') ? filePart.slice(1) : path.posix.join(path.posix.dirname(from), filePart));
      if (file.startsWith('..')) {
        problems.push(`${where}: points outside the repository`);
        continue;
      }
      if (!exists(file)) {
        problems.push(`${where}: ${file} does not exist`);
        continue;
      }
      if (anchor === null) continue;
      if (!file.endsWith('.md')) {
        problems.push(`${where}: an anchor into ${file}, which is not markdown`);
        continue;
      }
      if (!anchorsIn(file).has(anchor)) problems.push(`${where}: no heading with anchor #${anchor} in ${file}`);
    }
  }
  return problems;
}

const docs = fs.readdirSync(path.join(root, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`);
const files = ['README.md', ...docs];
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const exists = (file: string) => fs.existsSync(path.join(root, file));
const external = [...new Set(files.flatMap((file) => linksOf(file, read(file))).map((l) => l.target).filter(isExternal))].sort();

describe('the checker', () => {
  test("slugs headings as GitHub does: markup and punctuation dropped, '_' and '-' kept, duplicates numbered", () => {
    const slug = slugger();
    expect(slug("Node's own pool requests: `monitorPoolRequests()`")).toBe('nodes-own-pool-requests-monitorpoolrequests');
    expect(slug('`uvscope bench`: which UV_THREADPOOL_SIZE?')).toBe('uvscope-bench-which-uv_threadpool_size');
    expect(slug('On Node 24: against `monitorEventLoopDelay({ samplePerIteration: true })`')).toBe('on-node-24-against-monitoreventloopdelay-sampleperiteration-true-');
    expect(slug('Stall detection (`npm run bench:stall`)')).toBe('stall-detection-npm-run-benchstall');
    expect(slug('API')).toBe('api');
    expect(slug('API')).toBe('api-1');
    expect(slug('API')).toBe('api-2');
    expect(slug('API 1')).toBe('api-1-1');
  });

  test('finds a missing file, a missing anchor and a link into code, and ignores links inside code', () => {
    const texts: Record<string, string> = {
      'README.md': [
        '# Title',
        '[ok](docs/a.md#section-two) [self](#title) [gone](docs/missing.md) [bad anchor](docs/a.md#nope)',
        '[into code](src/x.ts#L3) `[not a link](nowhere.md)`',
        '```',
        '[in a fence](nowhere.md)',
        '# not a heading',
        '```',
        '[fence heading](#not-a-heading) ![img](docs/pic.png) [ext](https://example.com/x)',
      ].join('\n'),
      'docs/a.md': '# A\n\n## Section two\n\n[up](../README.md#title) [out](../../etc/passwd)\n',
    };
    const present = new Set([...Object.keys(texts), 'src/x.ts', 'docs/pic.png']);
    const problems = brokenLinks(Object.keys(texts), (f) => texts[f], (f) => present.has(f));
    expect(problems).toEqual([
      'README.md:2: docs/missing.md: docs/missing.md does not exist',
      'README.md:2: docs/a.md#nope: no heading with anchor #nope in docs/a.md',
      'README.md:3: src/x.ts#L3: an anchor into src/x.ts, which is not markdown',
      'README.md:8: #not-a-heading: no heading with anchor #not-a-heading in README.md',
      'docs/a.md:5: ../../etc/passwd: points outside the repository',
    ]);
  });
});

describe('README.md and docs/*.md', () => {
  test('every relative link names a file that exists, and every #anchor a heading of its target', () => {
    expect(brokenLinks(files, read, exists)).toEqual([]);
  });

  test('every guide in docs/ is linked from the README', () => {
    const linked = new Set(linksOf('README.md', read('README.md')).map((l) => l.target.split('#')[0]));
    expect(docs.filter((doc) => !linked.has(doc))).toEqual([]);
  });

  test.each(external)('external link (listed, not fetched): %s', (url) => {
    expect(['http:', 'https:']).toContain(new URL(url).protocol);
  });
});
