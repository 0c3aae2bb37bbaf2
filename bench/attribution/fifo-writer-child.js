'use strict';
// The FIFO writer of bench/attribution.js's fifo block, a process of its own: on each IPC
// message { path, delayMs } it waits delayMs, then opens the FIFO for writing (on a pool
// thread: open() waits for the reader, the blocked server), writes a few bytes and closes it,
// which ends the server's readFileSync. Answers each with { type: 'written', path }.

const fs = require('node:fs');

process.on('message', ({ path, delayMs }) => {
  setTimeout(async () => {
    const handle = await fs.promises.open(path, 'w');
    await handle.write('unblocked\n');
    await handle.close();
    process.send({ type: 'written', path });
  }, delayMs);
});
process.send({ type: 'ready' });
