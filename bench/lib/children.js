'use strict';
// Benchmark child processes, both ends. A bench's parent runs every measurement in a fresh
// `node` child (so no run inherits another's heap, JIT state or threads), pinned to one CPU with
// taskset when asked (lib/affinity.js says why), and the child answers with one JSON line on
// stdout, its last. The child's options travel the other way as one JSON argument.
//
//   parent: await runChild(path.join(__dirname, 'child.js'), { turns: 1000 }, { cpu: 0 })
//   child:  childMain(async (options) => ({ nsPerTurn: ... }))
//
// stderr is inherited, so a child's progress and its stack on failure show as they happen.
// Children still running are tracked, so that a parent interrupted by a signal can end them
// (killRunningChildren). Nothing here keeps state beyond that set.

const path = require('node:path');
const { spawn } = require('node:child_process');
const { nodeCommand } = require('./affinity');

const running = new Set();

/**
 * Starts `node <nodeArgs>` pinned to `cpu` (null or undefined: not pinned). `options` go to
 * child_process.spawn (stdio, env, cwd); stdio defaults to stdout piped, stderr inherited.
 */
function spawnNode(nodeArgs, { cpu = null, stdio = ['ignore', 'pipe', 'inherit'], ...options } = {}) {
  const [command, args] = nodeCommand(cpu, nodeArgs);
  const child = spawn(command, args, { stdio, ...options });
  running.add(child);
  child.once('close', () => running.delete(child));
  return child;
}

/**
 * Runs `script` in a fresh node (`execArgv` before it) with `options` as its one JSON argument
 * and resolves with the JSON of its last stdout line. Rejects, naming `label` (default: the
 * script's name), when it exits non-zero or prints no JSON. `onSpawn(child)` may attach to
 * extra stdio entries (`stdio`) before the child runs.
 */
function runChild(script, options, { cpu = null, execArgv = [], label, onSpawn, ...spawnOptions } = {}) {
  const name = label ?? path.basename(script, '.js');
  return new Promise((resolve, reject) => {
    const child = spawnNode([...execArgv, script, JSON.stringify(options)], { cpu, ...spawnOptions });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`the ${name} child failed (exit ${code}, signal ${signal})` +
          (out.trim() ? `; its stdout:\n${out.trim()}` : '')));
        return;
      }
      resolve(JSON.parse(last));
    });
  });
}

/** Sends `signal` to every child started here that has not ended yet. */
function killRunningChildren(signal = 'SIGTERM') {
  for (const child of running) child.kill(signal);
}

/** A child's sanity check failed: the run is broken, not slow. Throws. */
function fail(message) {
  throw new Error(`sanity check failed: ${message}`);
}

/**
 * The child's side: calls `run(options)` with the JSON argument the parent passed and prints
 * its result as one JSON line. A failure goes to stderr with its stack, prefixed `[label]`
 * (`label` may be a function of the options; default: the script's name), and sets exit code
 * 1. The process then ends when its loop is empty, as any script does.
 */
function childMain(run, { label } = {}) {
  let options;
  try {
    options = JSON.parse(process.argv[2] ?? '{}');
  } catch {
    throw new Error(`expected the options as one JSON argument, got ${process.argv[2]}`);
  }
  const name = (typeof label === 'function' ? label(options) : label) ?? path.basename(process.argv[1], '.js');
  Promise.resolve()
    .then(() => run(options))
    .then(
      (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
      (error) => {
        process.stderr.write(`[${name}] ${error?.stack || error}\n`);
        process.exitCode = 1;
      },
    );
}

module.exports = { spawnNode, runChild, killRunningChildren, childMain, fail };
