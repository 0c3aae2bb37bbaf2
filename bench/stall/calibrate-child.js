'use strict';
// The calibration child of bench/stall.js: how many pbkdf2Sync iterations take about
// `nativeMs` here. Options (JSON argument): { nativeMs }.

const { childMain } = require('../lib/children');
const statsLib = require('../lib/stats');
const { nativeCulprit } = require('./blocks');

function calibrate({ nativeMs }) {
  const time = (iterations) => {
    const t0 = process.hrtime.bigint();
    nativeCulprit(iterations);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  time(10_000); // warm-up
  const probe = 50_000;
  const probeMs = statsLib.median([time(probe), time(probe), time(probe)]);
  let iterations = Math.round((probe * nativeMs) / probeMs);
  const checkMs = time(iterations);
  iterations = Math.round((iterations * nativeMs) / checkMs);
  return { iterations, probeMs, checkMs };
}

childMain(calibrate, { label: 'calibrate' });
