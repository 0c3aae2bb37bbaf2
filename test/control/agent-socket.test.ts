/**
 * The agent's control socket: where it is and who may reach it (a 0600 socket in a 0700
 * directory of this uid; a directory open to others, a symlink or another's is refused with one
 * line on stderr and the app runs on without it), and that it goes away with the process: at
 * exit, on SIGTERM and SIGINT (the signal then does what it would have done), and, for a process
 * killed with SIGKILL, when `uvscope top` lists the directory. Each app is a child process.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, rawClient, startApp } from './agent-helpers';

let base: string;
let dir: string;
beforeEach(() => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-control-'));
  dir = path.join(base, 'sockets');
});
afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

test('a 0600 socket named after the pid in a 0700 directory of this uid, removed when the process exits', async () => {
  const app = await startApp(dir);
  const dirStat = fs.statSync(dir);
  const sockStat = fs.statSync(app.socket);
  expect(dirStat.mode & 0o777).toBe(0o700);
  expect(dirStat.uid).toBe(process.getuid!());
  expect(sockStat.isSocket()).toBe(true);
  expect(sockStat.mode & 0o777).toBe(0o600);
  expect(fs.readdirSync(dir)).toEqual([`${app.pid}.sock`]);
  const client = rawClient(app.socket);
  await client.connected;
  const hello = await client.request({ cmd: 'hello' });
  expect(hello).toMatchObject({ ok: true, protocol: 1, pid: app.pid, node: process.version, stallMs: 1000 });
  expect(hello.threads).toEqual([0, app.worker]);
  expect(hello.title).toMatch(/^node .*agent-app\.js$/);
  client.close();
  app.send('exit 0');
  expect(await app.exited).toBe(0);
  expect(fs.readdirSync(dir)).toEqual([]);
  expect(app.output.stderr).toBe('');
});

test.each(['SIGTERM', 'SIGINT'] as const)('removed on %s, which then still ends the process', async (signal) => {
  const app = await startApp(dir);
  const died = new Promise((resolve) => app.child.on('exit', (code, sig) => resolve({ code, sig })));
  app.child.kill(signal);
  expect(await died).toEqual({ code: null, sig: signal });
  expect(fs.readdirSync(dir)).toEqual([]);
});

type DirCase = [string, (d: string) => void, RegExp];
test.each<DirCase>([
  ['open to group and others', (d: string) => fs.mkdirSync(d, { mode: 0o755 }), /is open to group or others \(mode 755\)/],
  ['a symbolic link', (d: string) => (fs.mkdirSync(`${d}-real`, { mode: 0o700 }), fs.symlinkSync(`${d}-real`, d)), /is not a directory \(a symbolic link\)/],
  ['a file', (d: string) => fs.writeFileSync(d, ''), /is not a directory/],
  // Another uid's: only root can make one here (chown); elsewhere the mode case stands in.
  ...(process.getuid!() === 0
    ? [['owned by another uid', (d: string) => (fs.mkdirSync(d, { mode: 0o700 }), fs.chownSync(d, 65534, 65534)), /is owned by uid 65534, not 0/] as DirCase]
    : []),
])('a socket directory that is %s is refused: one line on stderr, the app runs on', async (_what, make, message) => {
  make(dir);
  const app = await startApp(dir, {}, false);
  const lines = app.output.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^uvscope\/agent: /);
  expect(lines[0]).toMatch(message);
  expect(lines[0]).toMatch(/no control socket/);
  // The app itself is fine.
  app.send('stall-wait 10');
  expect(await app.next((l) => l.stalled)).toEqual({ stalled: 'wait' });
  app.send('exit 7');
  expect(await app.exited).toBe(7);
  const real = fs.lstatSync(dir).isSymbolicLink() ? `${dir}-real` : dir;
  if (fs.statSync(real).isDirectory()) expect(fs.readdirSync(real)).toEqual([]);
});

test("a process killed with SIGKILL leaves its socket; uvscope top removes it when it lists the directory (and the live one stays)", async () => {
  const dead = await startApp(dir);
  const live = await startApp(dir);
  const died = new Promise((resolve) => dead.child.on('exit', resolve));
  dead.child.kill('SIGKILL');
  await died;
  expect(fs.readdirSync(dir).sort()).toEqual([`${dead.pid}.sock`, `${live.pid}.sock`].sort());
  // The CLI with its addon loads refused (and logged): it measures nothing itself.
  const addonLog = path.join(base, 'addon.log');
  const refuse = path.join(__dirname, '..', 'cli', 'fixtures', 'refuse-addon.js');
  const env = { ...process.env, UVSCOPE_CONTROL_DIR: dir, NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${refuse}`].filter(Boolean).join(' '), REFUSE_ADDON_IN: cli, ADDON_LOG: addonLog };
  const result = spawnSync(process.execPath, [cli, 'top', '--once', '--interval', '0.5'], { env, encoding: 'utf8', timeout: 60_000 });
  expect({ code: result.status, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  expect(fs.existsSync(addonLog)).toBe(false);
  expect(fs.readdirSync(dir)).toEqual([`${live.pid}.sock`]);
  expect(result.stdout).toContain(`${live.pid} node agent-app.js`);
  expect(result.stdout).not.toContain(String(dead.pid));
  live.send('exit 0');
  await live.exited;
});

test('UVSCOPE_AGENT_DISABLED=1: no socket, no line', async () => {
  const app = await startApp(dir, { UVSCOPE_AGENT_DISABLED: '1' }, false);
  expect(fs.existsSync(app.socket)).toBe(false);
  app.send('exit 0');
  expect(await app.exited).toBe(0);
  expect(app.output.stderr).toBe('');
});
