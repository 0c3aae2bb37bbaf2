/**
 * `uvscope trace` reads the stall report lines of every thread of every traced process from one
 * FIFO. With 8 worker threads blocked at once, each writing lines whose full form is ~100 KiB (a
 * 32-frame stack of 3000-character names) faster than the CLI reads them, every line the CLI
 * reads parses and belongs to one report: each is one write() of at most PIPE_BUF bytes, which
 * the kernel never interleaves, and a line that finds no room waits (or is dropped and
 * counted), never cut.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixture = path.join(__dirname, 'fixtures', 'report-io-trace-workers.js');

test('8 worker threads stalling at once on one FIFO: every line the CLI reads is one whole report', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-fifo-'));
  try {
    const result = spawnSync(process.execPath, [cli, 'trace', '--stall-ms', '50', '--no-cpu', '--out', path.join(dir, 'trace.json'), '--', process.execPath, fixture], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect({ status: result.status, signal: result.signal }).toEqual({ status: 0, signal: null });
    // The CLI counts and says the lines it could not read (cut short or interleaved): none.
    expect(result.stderr).not.toMatch(/could not be read/);
    const reported = new Set([...result.stderr.matchAll(/^stall: worker (\d+) blocked (\d+) ms in \w+/gm)].map((m) => Number(m[1])));
    expect([...reported].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // The innermost frames of each report made it: the deep function, by its full name.
    expect(result.stderr).toContain(`at deep_${'x'.repeat(3000)} (`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 150_000);
