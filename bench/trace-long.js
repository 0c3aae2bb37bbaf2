#!/usr/bin/env node
'use strict';
// npm run bench:trace-long: what a long `uvscope trace` costs (file size, memory of the traced
// process and of the CLI, time to write the file) and whether the whole run is in it, for a busy
// loop and an HTTP server at a fixed rate. The bench is bench/trace-long/ (main.js the parent).
require('./trace-long/main');
