'use strict';
/*
 * What a scrape (a collection) of uvscope's metrics costs the event loop: the time
 * `register.metrics()` (prom-client) or `reader.collect()` plus serialisation
 * (@opentelemetry/exporter-prometheus with UvMetricProducer) takes, after the same workload
 * (scrape-child.js: 200 turns of four kernels, so the same number of series).
 *
 *   prometheus            collectDefaultUvMetrics(): histograms
 *   prometheus-quantiles  the same with quantiles: true (sliding-window summaries as well)
 *   opentelemetry         UvMetricProducer through a PrometheusExporter's text
 *
 * Each configuration runs in a fresh child pinned to one CPU (--cpu, default 0; unpinned where
 * that CPU cannot be pinned to); rounds interleave the configurations (the same order each
 * round); the table gives each one's median over rounds.
 *
 *   node bench/exporters.js [--rounds R] [--scrapes N] [--cpu N|none] [--quick]
 */

const path = require('node:path');

const { flag, parseFlags, usageText } = require('../lib/args');
const { canPin } = require('../lib/affinity');
const { runChild } = require('../lib/children');
const { benchMain, requireBuilt } = require('../lib/main');
const { median } = require('../lib/stats');
const { renderTable, formatNumber } = require('../lib/table');

const CONFIGS = ['prometheus', 'prometheus-quantiles', 'opentelemetry'];
const DEFAULTS = { rounds: 3, scrapes: 500, cpu: 0 };
const QUICK = { rounds: 1, scrapes: 100 };

const FLAGS = {
  '--rounds': flag.int('rounds', 1, 'R', `rounds; each runs every configuration once (default ${DEFAULTS.rounds})`),
  '--scrapes': flag.int('scrapes', 1, 'N', `timed scrapes per child, after 50 untimed (default ${DEFAULTS.scrapes})`),
  '--cpu': flag.cpu('cpu', 'N|none', `CPU the children are pinned to (default ${DEFAULTS.cpu})`),
  '--quick': flag.on('quick', `smoke test: ${QUICK.rounds} round of ${QUICK.scrapes} scrapes (explicit flags win)`),
};
const USAGE = usageText('bench/exporters.js', FLAGS);

function parseArgs(argv) {
  const opts = parseFlags(argv, FLAGS, USAGE);
  return { ...DEFAULTS, ...(opts.quick ? QUICK : {}), ...opts };
}

async function run(opts) {
  requireBuilt();
  const cpu = opts.cpu !== null && !canPin(opts.cpu) ? null : opts.cpu;
  const results = new Map(CONFIGS.map((c) => [c, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const config of CONFIGS) {
      results.get(config).push(await runChild(path.join(__dirname, 'scrape-child.js'), { config, scrapes: opts.scrapes }, { cpu, label: config }));
    }
  }
  console.log(`${opts.rounds} rounds of ${opts.scrapes} scrapes, ${cpu === null ? 'not pinned' : `pinned to CPU ${cpu}`}; medians over rounds`);
  console.log(renderTable(
    ['configuration', 'µs per scrape', 'bytes per scrape'],
    CONFIGS.map((c) => [c, formatNumber(median(results.get(c).map((r) => r.usPerScrape))), formatNumber(median(results.get(c).map((r) => r.bytes)))]),
  ));
}

benchMain('exporters', { parse: parseArgs, usage: USAGE, run });
