'use strict';
// Part (a) of bench/attribution.js, the runs: for one contender, a fresh server
// (server-child.js) under load from a load generator (load-child.js, autocannon on GET /work),
// warmed up, then the plan's blocks sent one at a time from here, each after a random gap (so
// it begins anywhere between either contender's heartbeats), the fifo block's FIFO written by
// the writer process (fifo-writer-child.js) after blockMs. Then the server's records. No
// state beyond a run.

const http = require('node:http');
const path = require('node:path');
const { startIpcChild } = require('./ipc');
const { KINDS } = require('./blocks');

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` blocks, every kind once in each group of five (in an order that turns by group and by round). */
function planBlocks(count, round, calibration, blockMs) {
  const kinds = Object.keys(KINDS);
  return Array.from({ length: count }, (_, i) => {
    const kind = kinds[(i + Math.floor(i / kinds.length) + round) % kinds.length];
    const b = `r${round}b${i}`;
    switch (kind) {
      case 'regex': return { kind, path: `/block/regex?n=${calibration.regexN}&b=${b}` };
      case 'json': return { kind, path: `/block/json?b=${b}`, method: 'POST' };
      case 'pbkdf2': return { kind, path: `/block/pbkdf2?iterations=${calibration.pbkdf2Iterations}&b=${b}` };
      case 'atomics': return { kind, path: `/block/atomics?ms=${blockMs}&b=${b}` };
      case 'fifo': return { kind, path: `/block/fifo?b=${b}`, fifoDelayMs: blockMs };
      default: throw new Error(kind);
    }
  });
}

/** Warm-up requests: every block route with a size far below the threshold. */
const WARM_UP = [
  { kind: 'json', path: '/block/json', method: 'POST', small: true },
  { kind: 'pbkdf2', path: '/block/pbkdf2?iterations=1000' },
  { kind: 'atomics', path: '/block/atomics?ms=1' },
  { kind: 'fifo', path: '/block/fifo', fifoDelayMs: 0 },
  // V8 interprets a regular expression's first run and compiles it for the next; a major GC
  // may drop that code again (then the next run is interpreted, several times slower: the
  // first regex block of a run may last longer than calibrated). Warmed last, nearest the blocks.
  { kind: 'regex', path: '/block/regex?n=40' },
  { kind: 'regex', path: '/block/regex?n=40' },
  { kind: 'regex', path: '/block/regex?n=40' },
];

/** One request on `agent`; resolves when the response ended (rejects on a status other than 200). */
function send(port, agent, { path: urlPath, method = 'GET' }, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${urlPath}: status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One contender's run. ctx: { opts, calibration, jsonBody, smallJsonBody, fifoPath, writer
 * (the FIFO writer's handle), round, plan }. Resolves with the server's records and the load
 * generator's account.
 */
async function runContender(contender, ctx) {
  const { opts } = ctx;
  const server = startIpcChild(path.join(__dirname, 'server-child.js'),
    { contender, thresholdMs: opts.thresholdMs, fifoPath: ctx.fifoPath, await: opts.await }, { label: `server (${contender})` });
  let load;
  try {
    const { port } = await server.next('listening');
    load = startIpcChild(path.join(__dirname, 'load-child.js'),
      { url: `http://127.0.0.1:${port}/work`, rate: opts.rate, connections: opts.connections }, { label: 'load' });
    await load.next('started');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fire = async (request) => {
      if (request.fifoDelayMs !== undefined) ctx.writer.send({ path: ctx.fifoPath, delayMs: request.fifoDelayMs });
      const body = request.method === 'POST' ? (request.small ? ctx.smallJsonBody : ctx.jsonBody) : undefined;
      await send(port, agent, request, body);
      if (request.fifoDelayMs !== undefined) await ctx.writer.next('written');
    };
    await delay(opts.warmupMs / 2);
    for (const request of WARM_UP) await fire(request);
    await delay(opts.warmupMs / 2);
    for (const [i, request] of ctx.plan.entries()) {
      await delay(opts.gapMs + Math.random() * opts.thresholdMs);
      await fire(request);
      process.stderr.write(`\r  ${contender}: block ${i + 1}/${ctx.plan.length} (${request.kind})      `);
    }
    process.stderr.write('\n');
    await delay(opts.settleMs); // the last 'stall' event and late stack, the last live reports
    load.send('stop');
    const loadResult = await load.next('load');
    await load.exited;
    server.send('results');
    const results = await server.next('results');
    server.send('exit');
    await server.exited;
    agent.destroy();
    return { ...results, load: loadResult };
  } catch (error) {
    server.child.kill('SIGKILL');
    load?.child.kill('SIGKILL');
    throw error;
  }
}

module.exports = { planBlocks, runContender };
