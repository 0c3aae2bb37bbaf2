#!/usr/bin/env node
'use strict';
// npm run bench:requests: what monitorPoolRequests() costs the application it watches. The
// bench is bench/requests/ (main.js the parent; loop-child.js, server-child.js and
// load-child.js the children; configs.js what each configuration starts).
require('./requests/main');
