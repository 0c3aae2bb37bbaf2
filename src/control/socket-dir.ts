/**
 * Where control sockets live and who may reach them: one directory per user,
 * `${XDG_RUNTIME_DIR or os.tmpdir()}/uvscope-<uid>`, created mode 0700 and accepted only when it
 * is a real directory (not a symlink) owned by the current uid with no group or other
 * permission; in it, one socket per process with the agent, `<pid>.sock`, mode 0600. Nothing
 * listens on the network. The agent checks the directory before it binds; the CLI checks it
 * before it connects, and removes the sockets of processes that are gone when it lists them.
 * Also the check of a directory a client hands the agent to write a trace into. Addon-free.
 * @internal
 * @module
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The current uid (-1 where there are none: Windows, which has no Unix sockets in this sense). */
export function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** The per-user directory of control sockets (not created). */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.UVSCOPE_CONTROL_DIR || (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR) ? env.XDG_RUNTIME_DIR : os.tmpdir());
  return env.UVSCOPE_CONTROL_DIR ? base : path.join(base, `uvscope-${currentUid()}`);
}

export function socketPath(dir: string, pid: number): string {
  return path.join(dir, `${pid}.sock`);
}

/** Undefined when `dir` is a directory owned by us and closed to group and others; else why not. */
export function checkPrivateDir(dir: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(dir);
  } catch (error) {
    return `cannot stat ${dir} (${(error as NodeJS.ErrnoException).code})`;
  }
  if (!st.isDirectory()) return `${dir} is not a directory${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
  const uid = currentUid();
  if (uid >= 0 && st.uid !== uid) return `${dir} is owned by uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o077) !== 0) return `${dir} is open to group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/** Creates the directory (0700) when missing and checks it; returns why it cannot be used, or undefined. */
export function preparePrivateDir(dir: string): string | undefined {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return `cannot create ${dir} (${(error as NodeJS.ErrnoException).code})`;
  }
  return checkPrivateDir(dir);
}

/** Whether a process `pid` exists (it may be another user's: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether something accepts connections on `file` (ms: how long to wait). */
function accepting(file: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(file);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // slow, not dead: keep it
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/**
 * The pids with a socket in `dir`, ascending. Removes sockets whose process is gone, or that
 * nobody accepts on (a pid reused by another program), counted in `removed`.
 */
export async function listAgents(dir: string = controlDir()): Promise<{ pids: number[]; removed: number; problem?: string }> {
  const problem = checkPrivateDir(dir);
  if (problem) return { pids: [], removed: 0, problem: fs.existsSync(dir) ? problem : undefined };
  const pids: number[] = [];
  let removed = 0;
  for (const name of fs.readdirSync(dir)) {
    const match = /^(\d+)\.sock$/.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    const file = path.join(dir, name);
    if (!processAlive(pid) || !(await accepting(file, 500))) {
      try {
        fs.unlinkSync(file);
        removed++;
      } catch {
        // Removed by someone else meanwhile.
      }
      continue;
    }
    pids.push(pid);
  }
  return { pids: pids.sort((a, b) => a - b), removed };
}
