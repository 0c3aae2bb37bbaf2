'use strict';
// The yardstick addon (bench/baseline): an empty, or hrtime-reading, libuv prepare+check
// pair. Built on demand (bench/lib/addon-build.js).

const path = require('node:path');
const { ensureAddonBuilt } = require('./addon-build');

const BASELINE_DIR = path.resolve(__dirname, '..', 'baseline');
const ADDON_PATH = path.join(BASELINE_DIR, 'build', 'Release', 'empty_watchers.node');
const SOURCES = ['binding.gyp', 'empty_watchers.cc'].map((f) => path.join(BASELINE_DIR, f));

/** Builds bench/baseline when its .node is missing or older than its sources; returns its path. */
function ensureBuilt(options) {
  return ensureAddonBuilt(BASELINE_DIR, ADDON_PATH, SOURCES, options);
}

/** Loads the built yardstick: { start(mode), stop(), sink(), active() }. */
function load() {
  return require(ADDON_PATH);
}

module.exports = { ensureBuilt, load, ADDON_PATH, BASELINE_DIR };
