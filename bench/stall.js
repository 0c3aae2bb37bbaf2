#!/usr/bin/env node
'use strict';
// npm run bench:stall: how soon uvscope's StallWatchdog and Sentry's native stack trace report
// a blocked loop. The bench is bench/stall/ (main.js the parent, block-child.js and
// calibrate-child.js the children, the two watcher workers, blocks.js the culprits).
require('./stall/main');
