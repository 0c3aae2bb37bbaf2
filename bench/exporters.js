#!/usr/bin/env node
'use strict';
/*
 * What a scrape (a collection) of uvscope's metrics costs the event loop: the time
 * `register.metrics()` (prom-client) or `reader.collect()` plus serialisation
 * (@opentelemetry/exporter-prometheus with UvMetricProducer) takes, after the same workload
 * (200 turns of four kernels: hash, hmac, noop, pbkdf2), so the same number of series.
 *
 *   prometheus            collectDefaultUvMetrics(): histograms
 *   prometheus-quantiles  the same with quantiles: true (sliding-window summaries as well)
 *   opentelemetry         UvMetricProducer through a PrometheusExporter's text
 *
 * Each configuration runs in a fresh child pinned to one CPU (--cpu, default 0); rounds
 * interleave the configurations; the table gives each one's median over rounds.
 *
 *   node bench/exporters.js [--rounds R] [--scrapes N] [--cpu N|none]
 */
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { eachFlag, intArg } = require('./lib/args');
const { nodeCommand, canPin } = require('./lib/affinity');
const { median } = require('./lib/stats');
const { renderTable, formatNumber } = require('./lib/table');

const CONFIGS = ['prometheus', 'prometheus-quantiles', 'opentelemetry'];
const lib = path.join(__dirname, '..', 'lib');

async function child(config, scrapes) {
  const { threadpool } = require(lib);
  let scrape;
  let stop;
  if (config.startsWith('prometheus')) {
    const { Registry } = require('prom-client');
    const { collectDefaultUvMetrics } = require(path.join(lib, 'prometheus.js'));
    const register = new Registry();
    const collector = collectDefaultUvMetrics({
      register, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false, quantiles: config === 'prometheus-quantiles',
    });
    scrape = () => register.metrics();
    stop = () => collector.stop();
  } else {
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    const { PrometheusExporter, PrometheusSerializer } = require('@opentelemetry/exporter-prometheus');
    const { UvMetricProducer } = require(path.join(lib, 'opentelemetry.js'));
    const producer = new UvMetricProducer({ stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false });
    const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
    const provider = new MeterProvider({ readers: [exporter] });
    const serializer = new PrometheusSerializer();
    scrape = async () => serializer.serialize((await exporter.collect()).resourceMetrics);
    stop = () => Promise.all([provider.shutdown(), producer.shutdown()]);
  }
  for (let i = 0; i < 200; i++) {
    await threadpool.hash('sha256', Buffer.alloc(1024 << i % 8));
    await threadpool.hmac('sha256', 'key', 'data');
    await threadpool.noop();
    await threadpool.pbkdf2('password', 'salt', 1, 32, 'sha256');
  }
  for (let i = 0; i < 50; i++) await scrape(); // warm-up
  let bytes = 0;
  let ns = 0n;
  for (let i = 0; i < scrapes; i++) {
    const t0 = process.hrtime.bigint();
    bytes += (await scrape()).length;
    ns += process.hrtime.bigint() - t0;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await stop();
  process.stdout.write(JSON.stringify({ usPerScrape: Number(ns) / scrapes / 1e3, bytes: bytes / scrapes }));
}

function main() {
  let rounds = 3;
  let scrapes = 500;
  let cpu = 0;
  eachFlag(process.argv.slice(2), (flag, value) => {
    if (flag === '--rounds') rounds = intArg(flag, value(), 1);
    else if (flag === '--scrapes') scrapes = intArg(flag, value(), 1);
    else if (flag === '--cpu') cpu = value() === 'none' ? null : intArg(flag, value(), 0);
    else throw new Error(`unknown flag ${flag}`);
  });
  if (cpu !== null && !canPin(cpu)) cpu = null;
  const results = new Map(CONFIGS.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const config of CONFIGS) {
      const [command, args] = nodeCommand(cpu, [__filename, '--child', config, String(scrapes)]);
      const run = spawnSync(command, args, { encoding: 'utf8' });
      if (run.status !== 0) throw new Error(`${config}: ${run.stderr}`);
      results.get(config).push(JSON.parse(run.stdout));
    }
  }
  console.log(`${rounds} rounds of ${scrapes} scrapes, ${cpu === null ? 'not pinned' : `pinned to CPU ${cpu}`}; medians over rounds`);
  console.log(renderTable(
    ['configuration', 'µs per scrape', 'bytes per scrape'],
    CONFIGS.map((c) => [c, formatNumber(median(results.get(c).map((r) => r.usPerScrape))), formatNumber(median(results.get(c).map((r) => r.bytes)))]),
  ));
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4])).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main();
}
