#!/usr/bin/env node
'use strict';
// npm run bench:trace: what `uvscope trace` costs an HTTP server at a fixed request rate. The
// bench is bench/trace-overhead/ (main.js the parent; http-server.js the server it loads and
// the two --split preloads).
require('./trace-overhead/main');
