'use strict';
// The calibration child of bench/attribution.js: the sizes that make the CPU blocks last about
// `blockMs` here (pinned like the servers when they are): the regular expression's n (time
// grows as n^3), pbkdf2Sync's iterations and the json body's item count (both linear). Each
// size is probed, scaled, checked once and scaled again. Options (JSON argument): { blockMs }.

const { childMain } = require('../lib/children');
const statsLib = require('../lib/stats');
const { regexCulprit, jsonCulprit, pbkdf2Culprit, jsonBody } = require('./blocks');

function timeMs(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** The size for `targetMs`, given time(size) grows as size^power. */
function fit(time, probe, targetMs, power) {
  time(probe); // warm-up
  const probeMs = statsLib.median([time(probe), time(probe), time(probe)]);
  let size = probe * (targetMs / probeMs) ** (1 / power);
  const checkMs = time(Math.round(size));
  size *= (targetMs / checkMs) ** (1 / power);
  return { size: Math.round(size), probeMs, checkMs };
}

function calibrate({ blockMs }) {
  const regex = fit((n) => timeMs(() => regexCulprit(n)), 300, blockMs, 3);
  const pbkdf2 = fit((iterations) => timeMs(() => pbkdf2Culprit(iterations)), 20_000, blockMs, 1);
  const json = fit((count) => {
    const text = jsonBody(count);
    return timeMs(() => jsonCulprit(text));
  }, 50_000, blockMs, 1);
  return { regexN: regex.size, pbkdf2Iterations: pbkdf2.size, jsonItems: json.size, probes: { regex, pbkdf2, json } };
}

childMain(calibrate, { label: 'calibrate' });
