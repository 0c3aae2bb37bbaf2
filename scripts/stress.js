#!/usr/bin/env node
'use strict';
// Runs the stress and property tests at full size (for `npm run test:stress`):
//   node scripts/stress.js [--scale N] [--seed N] [--fc-seed N] [extra jest arguments]
// Defaults: scale 10 (500 workers, 1,000,000 jobs, 100,000 observer cycles, 10,000 aborted jobs,
// ~100,000 property-test calls); seeds from UVSCOPE_STRESS_SEED / UVSCOPE_FC_SEED, else the
// fixed defaults of the tests. The library must be built first (`npx tsc -p .`, and the addon).
// Prints the wall time; the exit code is jest's.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const args = process.argv.slice(2);
const env = { ...process.env };
if (!env.UVSCOPE_STRESS_SCALE) env.UVSCOPE_STRESS_SCALE = '10';
const jestArgs = [];
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  const value = args[i + 1];
  if (flag === '--scale') env.UVSCOPE_STRESS_SCALE = value;
  else if (flag === '--seed') env.UVSCOPE_STRESS_SEED = value;
  else if (flag === '--fc-seed') env.UVSCOPE_FC_SEED = value;
  else {
    jestArgs.push(flag);
    continue;
  }
  i++;
}

const root = path.resolve(__dirname, '..');
const jest = require.resolve('jest/bin/jest', { paths: [root] });
console.log(
  `stress: UVSCOPE_STRESS_SCALE=${env.UVSCOPE_STRESS_SCALE}` +
    (env.UVSCOPE_STRESS_SEED ? ` UVSCOPE_STRESS_SEED=${env.UVSCOPE_STRESS_SEED}` : '') +
    (env.UVSCOPE_FC_SEED ? ` UVSCOPE_FC_SEED=${env.UVSCOPE_FC_SEED}` : ''),
);
const t0 = process.hrtime.bigint();
// One file after the other (--runInBand): both are CPU-bound, and the machine may be shared.
const result = spawnSync(process.execPath, [jest, '--runInBand', 'test/stress/stress.test.ts', 'test/stress/property.test.ts', ...jestArgs], {
  cwd: root,
  env,
  stdio: 'inherit',
});
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`stress: ${seconds.toFixed(1)} s`);
process.exitCode = result.status ?? 1;
