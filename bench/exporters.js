#!/usr/bin/env node
'use strict';
// npm run bench:exporters: what a scrape of uvscope's metrics costs the loop (prom-client,
// @opentelemetry/exporter-prometheus). The bench is bench/exporters/ (main.js the parent,
// scrape-child.js the measured child).
require('./exporters/main');
