#!/usr/bin/env node
'use strict';
// npm run bench:instructions: instructions per request or call (valgrind's cachegrind) of the
// request tracker (#25) and monitorPoolRequests() (#26), against their baselines. The bench is
// bench/instructions/ (main.js the parent; workloads.js what runs; tools.js valgrind and strace;
// load-child.js the load; where.js callgrind's per-function breakdown).
require('./instructions/main');
