#!/usr/bin/env node
// Makes docs/trace-report.png, the README's picture of `uvscope trace --html`: traces
// examples/quickstart.js (64 SHA-256 jobs on the pool, file reads, one 30 ms block of the main
// thread) with the CLI of this checkout, then opens the HTML report in headless Chromium
// (playwright-core, a devDependency; Debian's chromium, or CHROMIUM_PATH) and saves the page.
// Needs a build (`npm run build` and the native addon). Everything else goes to a temporary
// folder, removed at the end.
//
//   node scripts/screenshot-trace-report.js [out.png]
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'trace-report.png'));
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function main() {
  const cli = path.join(root, require(path.join(root, 'package.json')).bin.uvscope);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-screenshot-'));
  try {
    const html = path.join(work, 'trace.html');
    execFileSync(process.execPath, [
      cli, 'trace', '--out', path.join(work, 'trace.json'), '--html', html, '--stall-ms', '0',
      '--', 'examples/quickstart.js', // a .js file runs with the same node
    ], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

    const { chromium } = require('playwright-core');
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
      const problems = [];
      page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
      page.on('pageerror', (error) => problems.push(error.message));
      await page.goto(`file://${html}`);
      if (problems.length > 0) throw new Error(`the report did not render cleanly: ${problems.join('; ')}`);
      await page.screenshot({ path: out, fullPage: true });
    } finally {
      await browser.close();
    }
    process.stderr.write(`wrote ${path.relative(process.cwd(), out)}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
