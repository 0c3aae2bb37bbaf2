#!/usr/bin/env node
'use strict';
// npm run bench:threadpool: what a job on uvscope's thread pool costs and what it buys,
// against a raw uv_queue_work yardstick (bench/raw-queue) and Node's own crypto. The bench is
// bench/threadpool/ (main.js the parent, one child per section, report.js the tables).
require('./threadpool/main');
