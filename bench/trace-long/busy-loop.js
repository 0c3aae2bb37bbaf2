'use strict';
// The busy loop of bench/trace-long.js (the traced command): one loop iteration per turn
// (setImmediate), an fs.stat every 100 turns, until a signal ends it (uvscope's preload writes
// its trace then). Prints `ready <pid>` once running.
const fs = require('node:fs');

let turns = 0;
function turn() {
  if (++turns % 100 === 0) fs.stat(__filename, () => {});
  setImmediate(turn);
}
turn();
process.stdout.write(`ready ${process.pid}\n`);
