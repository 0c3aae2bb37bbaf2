'use strict';
// The raw-queue addon (bench/raw-queue): the thread pool bench's yardstick, a minimal
// uv_queue_work Node-API addon (noop, sha256, pending). Built on demand (lib/addon-build.js).

const path = require('node:path');
const { ensureAddonBuilt } = require('./addon-build');

const RAW_DIR = path.resolve(__dirname, '..', 'raw-queue');
const ADDON_PATH = path.join(RAW_DIR, 'build', 'Release', 'raw_queue.node');
const SOURCES = ['binding.gyp', 'raw_queue.cc'].map((f) => path.join(RAW_DIR, f));

/** Builds bench/raw-queue when its .node is missing or older than its sources; returns its path. */
function ensureBuilt(options) {
  return ensureAddonBuilt(RAW_DIR, ADDON_PATH, SOURCES, options);
}

/** Loads the built addon: { noop(), sha256(buffer), pending() }. */
function load() {
  return require(ADDON_PATH);
}

module.exports = { ensureBuilt, load, ADDON_PATH, RAW_DIR };
