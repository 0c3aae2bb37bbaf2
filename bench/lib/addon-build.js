'use strict';
// The benchmarks' own small addons (bench/baseline, bench/raw-queue) are built on demand with
// the repository's node-gyp, against the local Node headers only (nothing is downloaded).

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

module.exports = { ensureAddonBuilt };
