'use strict';
// How bench/instructions.js runs a measured process: `node <args>` under one of two tools.
//   callgrind  valgrind --tool=callgrind --instr-atstart=no --dump-instr=no: the process starts
//              and warms up uninstrumented (valgrind's core only, several times faster), then
//              window() switches instrumentation on (callgrind_control -i on, counters zeroed),
//              the caller runs a window of work, and dump() writes what was counted since
//              (callgrind_control -d): the instructions every thread executed in user space
//              (Ir; the kernel's are not counted), by function, and how many of them were V8
//              compiling (where.js).
//   strace     strace -f -c: the system calls of every thread over the whole run, by name
//              (natively: under valgrind vDSO clock reads become system calls); window() and
//              dump() do nothing.
// The process may have an IPC channel (fd 3). Children still running are tracked so that an
// interrupted or failed run ends them (killAll). Nothing else is kept between runs.

const fs = require('node:fs');
const path = require('node:path');
const { spawn, execFile, spawnSync } = require('node:child_process');
const { compilationIr } = require('./where');

const running = new Set();

/** [command, args] running `node nodeArgs` under `tool`, its counts written to `outFile`. */
function toolCommand(tool, outFile, nodeArgs) {
  const node = [process.execPath, ...nodeArgs];
  switch (tool) {
    case 'callgrind':
      return ['valgrind', ['--tool=callgrind', '--instr-atstart=no', '--dump-instr=no', '--collect-jumps=no',
        `--callgrind-out-file=${outFile}`, `--log-file=${outFile}.log`, ...node]];
    case 'strace':
      return ['strace', ['-f', '-c', '-o', outFile, ...node]];
    default:
      throw new Error(`unknown tool ${tool}`);
  }
}

/** The total of a callgrind output file (its `totals:` or `summary:` line): Ir. */
function readValgrindTotal(file) {
  const match = /^(?:totals|summary):\s+(\d+)/m.exec(fs.readFileSync(file, 'utf8'));
  if (!match) throw new Error(`no totals line in ${file}`);
  return Number(match[1]);
}

/** strace -c's table: { total, byName: { syscall: calls } } (each row's fourth column is its calls). */
function readStraceCounts(file) {
  const byName = {};
  let total = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const cells = line.trim().split(/\s+/);
    if (cells.length < 5 || !/^\d+\.\d+$/.test(cells[0])) continue;
    const name = cells[cells.length - 1];
    if (name === 'total') continue;
    const calls = Number(cells[3]);
    byName[name] = (byName[name] ?? 0) + calls;
    total += calls;
  }
  return { total, byName };
}

/** The last lines of valgrind's log, for an error message. */
function logTail(outFile) {
  try {
    return fs.readFileSync(`${outFile}.log`, 'utf8').trim().split('\n').slice(-8).join('\n');
  } catch {
    return '';
  }
}

const control = (args) => new Promise((resolve, reject) => {
  execFile('callgrind_control', args, { encoding: 'utf8' }, (error, stdout) => {
    if (error || !/OK\./.test(stdout)) reject(new Error(`callgrind_control ${args.join(' ')} failed: ${error?.message ?? stdout}`));
    else resolve();
  });
});

/**
 * Starts `node nodeArgs` under `tool`, its output files named after `label` in `dir`. `ipc`:
 * an IPC channel (serialization `serialization`). Returns { child, messages (next(match): the
 * next message that matches), window(), dump() (the Ir counted since window(), and the file),
 * done: a promise of { stdout, and strace's counts } once it exited 0 }.
 */
function startMeasured(tool, dir, label, nodeArgs, { ipc = false, serialization = 'json' } = {}) {
  const outFile = path.join(dir, `${label.replace(/[^\w.-]+/g, '_')}.${tool}.out`);
  const [command, args] = toolCommand(tool, outFile, nodeArgs);
  // NODE_EXTRA_CA_CERTS (set on some machines) has node parse a certificate bundle at startup:
  // no measured process uses TLS, and under valgrind that is seconds of startup.
  const { NODE_EXTRA_CA_CERTS, ...env } = process.env;
  // A process group of its own: killAll ends the tool and node together (strace's node is a
  // child of strace, which a signal to strace alone would leave running).
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', ...(ipc ? ['ipc'] : [])], serialization, detached: true, env });
  running.add(child);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  const queued = [];
  const waiting = [];
  let exited = null;
  let dumps = 0;
  child.on('message', (message) => {
    const i = waiting.findIndex((w) => w.match(message));
    if (i >= 0) waiting.splice(i, 1)[0].resolve(message);
    else queued.push(message);
  });
  const done = new Promise((resolve, reject) => {
    child.on('error', (error) => {
      running.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      exited = `${label} under ${tool} exited (code ${code}, signal ${signal})`;
      for (const w of waiting.splice(0)) w.reject(new Error(`${exited} before sending what was awaited`));
      if (code !== 0) {
        const tail = tool === 'strace' ? '' : logTail(outFile);
        reject(new Error(`${exited}${tail ? `; valgrind's log ends:\n${tail}` : ''}`));
        return;
      }
      try {
        resolve({ stdout, ...(tool === 'strace' ? readStraceCounts(outFile) : {}) });
      } catch (error) {
        reject(error);
      }
    });
  });
  done.catch(() => {}); // awaited by the caller; a rejection before that is not unhandled
  const pid = String(child.pid);
  return {
    child,
    done,
    messages: {
      /** The next message for which match(message) is true. */
      next(match) {
        const i = queued.findIndex(match);
        if (i >= 0) return Promise.resolve(queued.splice(i, 1)[0]);
        if (exited) return Promise.reject(new Error(`${exited} before sending what was awaited`));
        return new Promise((resolve, reject) => waiting.push({ match, resolve, reject }));
      },
    },
    /** Counting from now (callgrind: instrumentation on, counters zeroed). */
    async window() {
      if (tool !== 'callgrind') return;
      await control(['--instr=on', pid]);
      await control(['--zero', pid]);
    },
    /** callgrind: { ir, compileIr (V8 compiling), file } counted since window() (or the previous dump); strace: null. */
    async dump() {
      if (tool !== 'callgrind') return null;
      await control(['--dump', pid]);
      const file = `${outFile}.${++dumps}`;
      return { ir: readValgrindTotal(file), compileIr: compilationIr(file), file };
    },
    /** Instrumentation off again (what follows runs faster and is not counted). */
    async pause() {
      if (tool === 'callgrind') await control(['--instr=off', pid]);
    },
  };
}

/**
 * Warm-up, then each window of `plan` ({ warmup, settleMs, windows: [units, ...] }) counted on its own:
 * `work(n)` runs n units; `beforeCounting()`, when given, runs between the warm-up and the first
 * window. Returns [{ units, ir, compileIr, file }] (callgrind) or [] (strace).
 */
async function measureWindows(m, plan, work, { beforeCounting } = {}) {
  await work(plan.warmup);
  await beforeCounting?.();
  // Idle for settleMs: under valgrind the optimizing compiler's worker thread lags far behind
  // the main thread; with the loop idle it finishes the compilations queued meanwhile.
  if (plan.settleMs) await new Promise((resolve) => setTimeout(resolve, plan.settleMs));
  const windows = [];
  await m.window();
  for (const units of plan.windows) {
    await work(units);
    const counted = await m.dump();
    if (counted) windows.push({ units, ...counted });
  }
  await m.pause();
  return windows;
}

/** Ends every measured process still running, with its process group (SIGKILL: valgrind would otherwise take seconds). */
function killAll() {
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
}

/** Whether `command` is on the PATH. */
function available(command) {
  const probe = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', command], { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
}

module.exports = { startMeasured, measureWindows, killAll, available, readStraceCounts };
