#!/usr/bin/env node
'use strict';
// npm run bench:observer: what LoopObserver costs a loop turn. The bench is bench/observer/
// (main.js the parent, chain-child.js and idle-child.js the measured children).
require('./observer/main');
