'use strict';
// The benchmarks' own small addons, built on demand with the repository's node-gyp, against
// the local Node headers only (nothing is downloaded):
//   yardstick  bench/baseline: an empty, or hrtime-reading, libuv prepare+check pair
//              (bench/observer.js): { start(mode), stop(), sink(), active() }
//   rawQueue   bench/raw-queue: a minimal uv_queue_work Node-API addon (bench/threadpool.js):
//              { noop(), sha256(buffer), pending() }
// Each is { ensureBuilt(options), load(), ADDON_PATH }.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

function mtimeMs(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

/** Why `addon` needs (re)building, or null when it is present and newer than `sources`. */
function staleReason(addon, sources) {
  const built = mtimeMs(addon);
  if (built < 0) return `${path.relative(process.cwd(), addon) || addon} is missing`;
  const newer = sources.find((src) => mtimeMs(src) > built);
  return newer ? `${path.basename(newer)} is newer than the build` : null;
}

/**
 * Runs `node-gyp rebuild` in `dir` when `addon` (the .node it makes) is missing or older than
 * `sources`. Build output goes to stderr, so that stdout stays the report. Returns the addon's
 * path; throws when the build fails.
 */
function ensureAddonBuilt(dir, addon, sources, { log = (msg) => process.stderr.write(`${msg}\n`) } = {}) {
  const reason = staleReason(addon, sources);
  if (!reason) return addon;
  const nodeGyp = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'node-gyp');
  if (!fs.existsSync(nodeGyp)) {
    throw new Error(`cannot build ${path.basename(addon)}: ${nodeGyp} not found (run npm ci first)`);
  }
  const env = {
    ...process.env,
    // Local headers only: node-gyp would otherwise try to download them.
    npm_config_nodedir: process.env.npm_config_nodedir || path.resolve(process.execPath, '..', '..'),
  };
  log(`building ${path.basename(addon)} (${reason}): node-gyp rebuild in ${dir}`);
  const result = spawnSync(nodeGyp, ['rebuild'], { cwd: dir, env, stdio: ['ignore', 2, 2] });
  if (result.error) throw result.error;
  if (result.status !== 0 || !fs.existsSync(addon)) {
    throw new Error(`node-gyp rebuild in ${dir} failed (exit ${result.status}, signal ${result.signal})`);
  }
  return addon;
}

/** The addon `name`.node that bench/`folder`/binding.gyp builds from `sources` there. */
function benchAddon(folder, name, sources) {
  const dir = path.resolve(__dirname, '..', folder);
  const ADDON_PATH = path.join(dir, 'build', 'Release', `${name}.node`);
  const sourcePaths = ['binding.gyp', ...sources].map((f) => path.join(dir, f));
  return {
    ADDON_PATH,
    /** Builds the addon when its .node is missing or older than its sources; returns its path. */
    ensureBuilt: (options) => ensureAddonBuilt(dir, ADDON_PATH, sourcePaths, options),
    /** Loads the built addon. */
    load: () => require(ADDON_PATH),
  };
}

const yardstick = benchAddon('baseline', 'empty_watchers', ['empty_watchers.cc']);
const rawQueue = benchAddon('raw-queue', 'raw_queue', ['raw_queue.cc']);

module.exports = { ensureAddonBuilt, yardstick, rawQueue };
