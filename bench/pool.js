#!/usr/bin/env node
'use strict';
// npm run bench:pool: the whole pool. Lanes (fs.readFile p99 beside a PBKDF2 flood, direct and
// through a lane, and crypto throughput through a lane). The bench is bench/pool/ (main.js the
// parent, one module and child per part).
require('./pool/main');
