/**
 * The control protocol against independent sources in the target process: the loop utilization
 * `stats` reports for the main thread against performance.eventLoopUtilization() over the same
 * window, fs.stat requests per second against the completions the app counted, stalls pushed to
 * subscribers with their on-CPU share (a computing stall against an Atomics.wait one), worker
 * threads answered for by the main thread; live stall reports written to a client's FIFO while
 * the thread is blocked; and clients that misbehave (garbage, an overlong
 * line, one that never reads) get errors or are dropped while the app and other clients go on.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { openStallFifo, readStallReports } from '../../src/cli/common/stall-fifo';
import type { LiveStallReport } from '../../src/loop/stall-report-format';
import { App, rawClient, startApp } from './agent-helpers';

let base: string;
let app: App;
beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-protocol-'));
  app = await startApp(path.join(base, 'sockets'));
}, 30_000);
afterAll(async () => {
  app.send('exit 0');
  await app.exited;
  fs.rmSync(base, { recursive: true, force: true });
});

/** The first stats reply whose main-thread window is a whole one taken after `afterMs`. */
async function statsAfter(client: ReturnType<typeof rawClient>, afterMs: number): Promise<any> {
  for (;;) {
    const reply = await client.request({ cmd: 'stats' });
    const main = reply.threads.find((t: any) => t.threadId === 0);
    if (main.atMs - main.windowNs / 1e6 >= afterMs) return reply;
    // The next window ends within a second: ask when the app says another 100 ms passed.
    const tag = `wait-${Date.now()}`;
    app.send(`elu ${Date.now()} ${Date.now()} ${tag}`);
    await app.next((l) => l.tag === tag);
  }
}

test("the main thread's utilization is the app's own eventLoopUtilization over the same second; its fs.stat rate the app's count", async () => {
  const client = rawClient(app.socket);
  await client.connected;
  const reply = await statsAfter(client, Date.now());
  expect(reply).toMatchObject({ ok: true, pid: app.pid, droppedEvents: 0 });
  const main = reply.threads.find((t: any) => t.threadId === 0);
  expect(main.name).toBe('main');
  const fromMs = main.atMs - main.windowNs / 1e6;
  app.send(`elu ${Math.round(fromMs)} ${main.atMs} window`);
  const own = await app.next((l) => l.tag === 'window');
  expect(Math.abs(own.fromMs - fromMs)).toBeLessThanOrEqual(30);
  expect(Math.abs(own.toMs - main.atMs)).toBeLessThanOrEqual(30);
  expect(Math.abs(main.utilization - own.elu)).toBeLessThan(0.1);
  expect(main.utilization).toBeGreaterThan(0.2);
  // The app counted its fs.stat completions over (about) the same window.
  const statsPerS = main.pool['fs.stat'].perS;
  const ownPerS = own.stats / ((own.toMs - own.fromMs) / 1000);
  expect(Math.abs(statsPerS - ownPerS)).toBeLessThan(ownPerS * 0.2 + 5);
  expect(main.pool['fs.stat'].p99Ns).toBeGreaterThan(0);
  // A turn every ~10 ms (the app's 10 ms interval, a fs.stat callback, the snapshot timer).
  expect(main.iterationsPerS).toBeGreaterThan(30);
  expect(main.iterationP99Ns).toBeGreaterThan(4e6);
  // The worker (busy ~3 ms of each 10) is answered for by the main thread.
  const worker = reply.threads.find((t: any) => t.threadId === app.worker);
  expect(worker).toMatchObject({ name: `worker ${app.worker}`, stalls: 0 });
  expect(worker.utilization).toBeGreaterThan(0.1);
  expect(worker.utilization).toBeLessThan(0.7);
  expect(Date.now() - worker.atMs).toBeLessThan(5000);
  client.close();
}, 30_000);

test('subscribers get each stall as it ends: a computing one mostly on CPU, an Atomics.wait one mostly off; stats count them', async () => {
  const client = rawClient(app.socket);
  await client.connected;
  expect(await client.request({ cmd: 'subscribe' })).toEqual({ id: 1, ok: true });
  app.send('stall-cpu 1200');
  const cpu = await client.nextEvent((e) => e.event === 'stall' && e.stall.stall === 1);
  expect(cpu).toMatchObject({ event: 'stall', pid: app.pid, stall: { threadId: 0, stall: 1 } });
  expect(cpu.stall.durationNs).toBeGreaterThan(1.1e9);
  expect(cpu.stall.durationNs).toBeLessThan(5e9);
  // Near 1 on a CPU of its own; on a loaded machine the spinning thread also waits for a CPU.
  // Against the process's CPU time over the spin: the main thread's share is at most that, and
  // at least that minus the worker's (busy 3 ms of each 10 ms, so at most about 0.35).
  const own = await app.next((l) => l.stalled === 'cpu');
  expect(cpu.stall.cpuShare).toBeLessThanOrEqual(own.processCpuShare + 0.05);
  expect(cpu.stall.cpuShare).toBeGreaterThanOrEqual(own.processCpuShare - 0.4);
  expect(cpu.stall.cpuShare).toBeGreaterThan(0.05);
  app.send('stall-wait 1200');
  const wait = await client.nextEvent((e) => e.event === 'stall' && e.stall.stall === 2);
  expect(wait.stall.durationNs).toBeGreaterThan(1.1e9);
  expect(wait.stall.cpuShare).toBeLessThan(0.1);
  expect(wait.stall.cpuShare).toBeLessThan(cpu.stall.cpuShare / 2);
  const after = await statsAfter(client, wait.stall.endedAtMs);
  const main = after.threads.find((t: any) => t.threadId === 0);
  expect(main.stalls).toBe(2);
  expect(main.lastStall).toEqual(wait.stall);
  client.close();
}, 30_000);

test("live: every thread's watchdog writes its live stall reports to the client's FIFO (the blocked thread cannot answer); a FIFO nobody reads is refused; stalls keep their numbers", async () => {
  const client = rawClient(app.socket);
  await client.connected;
  await client.request({ cmd: 'subscribe' });
  expect(await client.request({ cmd: 'live', fifo: 'relative/stalls.fifo' })).toMatchObject({ ok: false, code: 'EBADREQUEST' });
  const unread = path.join(base, 'unread.fifo');
  execFileSync('mkfifo', ['-m', '600', unread]);
  expect(await client.request({ cmd: 'live', fifo: unread })).toMatchObject({ ok: false, code: 'EFAILED', error: expect.stringMatching(/ENXIO/) });
  // Not a FIFO: refused before it is opened, left as it was.
  const regular = path.join(base, 'regular-file');
  fs.writeFileSync(regular, 'keep');
  for (const notFifo of [regular, '/dev/null']) {
    expect(await client.request({ cmd: 'live', fifo: notFifo })).toMatchObject({ ok: false, code: 'EFAILED', error: expect.stringMatching(/is not a FIFO/) });
  }
  expect(fs.readFileSync(regular, 'utf8')).toBe('keep');
  const liveDir = fs.mkdtempSync(path.join(base, 'live-'));
  const fifo = openStallFifo(liveDir)!;
  const reports: LiveStallReport[] = [];
  const firstReport = new Promise<LiveStallReport>((resolve) => {
    readStallReports(fifo.socket, (report) => {
      reports.push(report);
      resolve(report);
    });
  });
  try {
    expect(await client.request({ cmd: 'live', fifo: fifo.path })).toMatchObject({ ok: true });
    const sentAtNs = process.hrtime.bigint();
    app.send('stall-cpu 1500');
    // The report comes while the main thread is still blocked: before the stall's end event.
    const report = await firstReport;
    expect(client.events.some((e) => e.event === 'stall' && e.stall.stall === 3)).toBe(false);
    expect(report).toMatchObject({ pid: app.pid, threadId: 0, stall: 1, report: 1 });
    expect(report.startedAtNs).toBeGreaterThan(sentAtNs);
    expect(report.elapsedNs).toBeGreaterThanOrEqual(1e9);
    expect(report.cpuNs).toEqual(expect.any(Number));
    const ended = await client.nextEvent((e) => e.event === 'stall' && e.stall.stall === 3);
    expect(ended.stall.startedAtNs).toBe(String(report.startedAtNs));
    const after = await statsAfter(client, ended.stall.endedAtMs);
    expect(after.threads.find((t: any) => t.threadId === 0).stalls).toBe(3);
  } finally {
    fifo.close();
    fifo.socket.destroy();
    client.close();
  }
}, 30_000);

test('garbage gets error replies (with the id when there is one); an overlong line closes that connection only; the app goes on', async () => {
  const bad = rawClient(app.socket);
  await bad.connected;
  bad.socket.write('not json\n{"id":7}\n[1,2]\n{"id":8,"cmd":"launch"}\n{"id":9,"cmd":"trace","dir":"/tmp","durationMs":-1}\n\x00\xff\n');
  const other = rawClient(app.socket);
  await other.connected;
  await bad.request({ cmd: 'hello' }); // after the garbage: its replies came first
  const errors = bad.all.filter((m) => m.ok === false);
  expect(errors.map((e) => [e.id, e.code])).toEqual([
    [null, 'EBADREQUEST'],
    [7, 'EBADREQUEST'],
    [null, 'EBADREQUEST'],
    [8, 'EUNKNOWNCMD'],
    [9, 'EBADREQUEST'],
    [null, 'EBADREQUEST'],
  ]);
  expect(errors[4].error).toMatch(/durationMs must be an integer/);
  // 100 KiB without a newline.
  bad.socket.write('x'.repeat(100 * 1024));
  await bad.closed;
  expect(bad.all[bad.all.length - 1]).toMatchObject({ id: null, ok: false, code: 'EBADREQUEST', error: expect.stringMatching(/longer than 65536 bytes/) });
  expect(await other.request({ cmd: 'hello' })).toMatchObject({ ok: true, pid: app.pid });
  app.send('stall-wait 1');
  expect(await app.next((l) => l.stalled === 'wait')).toBeDefined();
  other.close();
}, 30_000);

test('a client that never reads is disconnected once a MiB of replies waits for it; the others are served', async () => {
  const other = rawClient(app.socket);
  await other.connected;
  const connections = async () => (await other.request({ cmd: 'hello' })).connections as number;
  const before = await connections();
  const slow = rawClient(app.socket);
  await slow.connected;
  while ((await connections()) !== before + 1); // until the agent has accepted it
  slow.socket.pause();
  // 20,000 stats requests: some 15 MB of replies nobody reads.
  const line = `${JSON.stringify({ id: 1, cmd: 'stats' })}\n`;
  slow.socket.write(line.repeat(20_000));
  // The agent drops the slow one.
  while ((await connections()) !== before);
  slow.socket.resume();
  await slow.closed;
  expect(slow.all.length).toBeLessThan(20_000);
  expect(await other.request({ cmd: 'stats' })).toMatchObject({ ok: true, pid: app.pid });
  app.send('stall-wait 1');
  expect(await app.next((l) => l.stalled === 'wait')).toBeDefined();
  other.close();
}, 60_000);
