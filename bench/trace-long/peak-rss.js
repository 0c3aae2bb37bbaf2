'use strict';
// Preloaded (--require) into the `uvscope trace` CLI by bench/trace-long.js: at exit, writes the
// process's peak resident set (getrusage maxrss, KiB) to the file named by
// UVSCOPE_BENCH_PEAK_RSS_FILE. Only the CLI loads it (execArgv, not NODE_OPTIONS: the traced
// command does not inherit it).
const fs = require('node:fs');

const file = process.env.UVSCOPE_BENCH_PEAK_RSS_FILE;
if (file) process.on('exit', () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS)));
