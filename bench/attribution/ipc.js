'use strict';
// The parent's side of bench/attribution.js's long-lived children (servers, load generators,
// the FIFO writer): a node child with an IPC channel (advanced serialization, so bigints
// travel), whose messages are awaited by type. A child that exits before sending what is
// awaited rejects the wait, naming it. Lifetime: until the child exits (the parent's
// killRunningChildren ends it on a signal).

const { spawnNode } = require('../lib/children');

/**
 * Starts `script` (node flags `execArgv` before it) with `options` as its one JSON argument,
 * pinned to `cpu` (null: not). Returns { child, send(message), next(type): the next message of
 * that type, exited: a promise }.
 */
function startIpcChild(script, options, { cpu = null, label, execArgv = [] } = {}) {
  const child = spawnNode([...execArgv, script, JSON.stringify(options)], {
    cpu,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const name = label ?? script;
  const queued = [];
  const waiting = [];
  let ended = null;
  child.on('message', (message) => {
    const i = waiting.findIndex((w) => w.type === message?.type);
    if (i >= 0) waiting.splice(i, 1)[0].resolve(message);
    else queued.push(message);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      ended = { code, signal };
      for (const w of waiting.splice(0)) w.reject(new Error(`the ${name} child exited (code ${code}, signal ${signal}) before sending '${w.type}'`));
      resolve(ended);
    });
  });
  return {
    child,
    exited,
    send: (message) => child.send(message),
    next(type) {
      const i = queued.findIndex((m) => m?.type === type);
      if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0]);
      if (ended) return Promise.reject(new Error(`the ${name} child exited (code ${ended.code}) before sending '${type}'`));
      return new Promise((resolve, reject) => waiting.push({ type, resolve, reject }));
    },
  };
}

module.exports = { startIpcChild };
