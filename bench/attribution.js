#!/usr/bin/env node
'use strict';
// npm run bench:attribution: which request a stall is charged to, on CPU or waiting, and how soon
// (uvscope beside Sentry's node-native-stacktrace), and what request tracking costs a server.
// The bench is bench/attribution/ (main.js the parent).
require('./attribution/main');
