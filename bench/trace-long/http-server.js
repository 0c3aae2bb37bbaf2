'use strict';
// The HTTP server of bench/trace-long.js (the traced command): a small JSON answer per request
// after an fs.stat, on an ephemeral port of 127.0.0.1, until a signal ends it (uvscope's preload
// writes its trace then). Prints `ready <pid> <port>` once listening.
const fs = require('node:fs');
const http = require('node:http');

const server = http.createServer((req, res) => {
  fs.stat(__filename, (error, stat) => {
    const body = JSON.stringify({ url: req.url, size: error ? 0 : stat.size });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`ready ${process.pid} ${server.address().port}\n`));
