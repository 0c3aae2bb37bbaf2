'use strict';
// The yardstick addon (bench/baseline): an empty, or hrtime-reading, libuv prepare+check
// pair. Built on demand with the repository's own node-gyp, against local Node headers only.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const BASELINE_DIR = path.resolve(__dirname, '..', 'baseline');
const ADDON_PATH = path.join(BASELINE_DIR, 'build', 'Release', 'empty_watchers.node');
const SOURCES = ['binding.gyp', 'empty_watchers.cc'].map((f) => path.join(BASELINE_DIR, f));

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Why the addon needs (re)building, or null when the built .node is present and current. */
function staleReason() {
  const built = mtimeMs(ADDON_PATH);
  if (built < 0) return `${path.relative(process.cwd(), ADDON_PATH) || ADDON_PATH} is missing`;
  const newer = SOURCES.find((src) => mtimeMs(src) > built);
  return newer ? `${path.basename(newer)} is newer than the build` : null;
}

/**
 * Builds bench/baseline with node_modules/.bin/node-gyp when its .node is missing or older
 * than its sources. Build output goes to stderr so that stdout stays the report. Throws
 * when the build fails.
 */
function ensureBuilt({ log = (msg) => process.stderr.write(`${msg}\n`) } = {}) {
  const reason = staleReason();
  if (!reason) return ADDON_PATH;
  const nodeGyp = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'node-gyp');
  if (!fs.existsSync(nodeGyp)) {
    throw new Error(`cannot build the yardstick addon: ${nodeGyp} not found (run npm ci first)`);
  }
  const env = {
    ...process.env,
    // Local headers only: node-gyp would otherwise try to download them.
    npm_config_nodedir: process.env.npm_config_nodedir || path.resolve(process.execPath, '..', '..'),
  };
  log(`building the yardstick addon (${reason}): node-gyp rebuild in ${BASELINE_DIR}`);
  const result = spawnSync(nodeGyp, ['rebuild'], { cwd: BASELINE_DIR, env, stdio: ['ignore', 2, 2] });
  if (result.error) throw result.error;
  if (result.status !== 0 || !fs.existsSync(ADDON_PATH)) {
    throw new Error(`node-gyp rebuild of ${BASELINE_DIR} failed (exit ${result.status}, signal ${result.signal})`);
  }
  return ADDON_PATH;
}

/** Loads the built yardstick: { start(mode), stop(), sink(), active() }. */
function load() {
  return require(ADDON_PATH);
}

module.exports = { ensureBuilt, load, ADDON_PATH, BASELINE_DIR };
