'use strict';
// The child of bench/exporters.js: one exporter configuration, the same workload (200 turns of
// four kernels: hash, hmac, noop, pbkdf2, so the same number of series), a warm-up, then
// `scrapes` timed scrapes one loop turn apart. Options (JSON argument): { config, scrapes }.

const path = require('node:path');
const { childMain } = require('../lib/children');
const { LIB } = require('../lib/main');

/** { scrape(), stop() } of `config`: prom-client's register, or exporter-prometheus' text. */
function startExporter(config) {
  if (config.startsWith('prometheus')) {
    const { Registry } = require('prom-client');
    const { collectDefaultUvMetrics } = require(path.join(LIB, 'prometheus.js'));
    const register = new Registry();
    const collector = collectDefaultUvMetrics({
      register, stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false, quantiles: config === 'prometheus-quantiles',
    });
    return { scrape: () => register.metrics(), stop: () => collector.stop() };
  }
  const { MeterProvider } = require('@opentelemetry/sdk-metrics');
  const { PrometheusExporter, PrometheusSerializer } = require('@opentelemetry/exporter-prometheus');
  const { UvMetricProducer } = require(path.join(LIB, 'opentelemetry.js'));
  const producer = new UvMetricProducer({ stallWatchdog: false, saturationIntervalMs: false, measurePoolSize: false });
  const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [producer] });
  const provider = new MeterProvider({ readers: [exporter] });
  const serializer = new PrometheusSerializer();
  return {
    scrape: async () => serializer.serialize((await exporter.collect()).resourceMetrics),
    stop: () => Promise.all([provider.shutdown(), producer.shutdown()]),
  };
}

async function measureScrapes({ config, scrapes }) {
  const { threadpool } = require(LIB);
  const { scrape, stop } = startExporter(config);
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
  return { usPerScrape: Number(ns) / scrapes / 1e3, bytes: bytes / scrapes };
}

childMain(measureScrapes, { label: (options) => options.config });
