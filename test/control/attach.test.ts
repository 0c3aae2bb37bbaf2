/**
 * `uvscope trace --attach <pid> --duration S`: a window of a running process with the agent,
 * recorded without a restart, written as a launched trace is (the streamable layout, read by
 * Chrome DevTools' own trace engine: the main thread and the worker with their loop slices and
 * CPU profiles, a stall made during the window), by a CLI that loads no addon. One recording at
 * a time (a second is refused as busy); a directory that is not private is refused by the agent;
 * a client that goes away mid-window leaves the process as it was, ready for the next.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { watchOutput } from '../helpers';
import { App, cli, rawClient, root, startApp } from './agent-helpers';

const refuse = path.join(root, 'test', 'cli', 'fixtures', 'refuse-addon.js');
const engineScript = path.join(root, 'test', 'trace', 'fixtures', 'trace-engine.mjs');

let base: string;
let sockets: string;
let app: App;
beforeAll(async () => {
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-attach-test-'));
  sockets = path.join(base, 'sockets');
  app = await startApp(sockets);
}, 30_000);
afterAll(async () => {
  app.send('exit 0');
  await app.exited;
  fs.rmSync(base, { recursive: true, force: true });
});

/** `uvscope trace --attach` as a child whose addon loads are refused (and logged). */
function attach(args: string[], addonLog: string) {
  const child = spawn(process.execPath, [cli, 'trace', '--attach', String(app.pid), ...args], {
    cwd: base,
    env: {
      ...process.env,
      UVSCOPE_CONTROL_DIR: sockets,
      NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${refuse}`].filter(Boolean).join(' '),
      REFUSE_ADDON_IN: cli,
      ADDON_LOG: addonLog,
    },
  });
  return watchOutput(child as any);
}

test('records a window of the running process (its worker too) into the same trace file a launch writes, with no addon in the CLI', async () => {
  const out = path.join(base, 'attached.json');
  const html = path.join(base, 'attached.html');
  const addonLog = path.join(base, 'addon.log');
  const run = attach(['--duration', '2', '--out', out, '--html', html], addonLog);
  await run.until(() => run.output.stderr.includes('recording'), 'the recording line');
  // A second recording of the same process meanwhile is refused.
  const second = attach(['--duration', '1', '--out', path.join(base, 'second.json')], addonLog);
  expect(await second.exited).toBe(1);
  expect(second.output.stderr).toMatch(/a trace of this process is being recorded already/);
  // A stall inside the window (the recording's threshold: 200 ms).
  app.send('stall-cpu 400');
  await app.next((l) => l.stalled === 'cpu');
  expect({ code: await run.exited, stderr: run.output.stderr }).toMatchObject({ code: 0 });
  expect(run.output.stderr).toMatch(new RegExp(`trace: ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ events from 1 Node process\\)`));
  expect(run.output.stderr).toContain(`report: ${html}`);
  expect(fs.existsSync(addonLog)).toBe(false);

  // The streamable layout: the head, one event a line, the uvscope section on the last line.
  const text = fs.readFileSync(out, 'utf8');
  const lines = text.trimEnd().split('\n');
  expect(lines[0]).toBe('{"traceEvents":[');
  expect(lines[lines.length - 1]).toMatch(/^\],"displayTimeUnit":"ms","uvscope":\{.*\}\}$/);
  const middle = lines.slice(1, -1);
  middle.forEach((line, i) => expect(JSON.parse(i < middle.length - 1 ? line.replace(/,$/, '') : line)).toHaveProperty('ph'));
  const trace = JSON.parse(text);
  expect(trace.traceEvents).toHaveLength(middle.length);
  expect(trace.uvscope.processes.map((p: any) => p.pid)).toEqual([app.pid]);
  expect(trace.uvscope.command).toBe(`attach ${app.pid}: node agent-app.js`);
  const stalls = trace.traceEvents.filter((e: any) => e.cat === 'stall' && e.args?.phase !== 'startup');
  expect(stalls.length).toBeGreaterThanOrEqual(1);
  expect(stalls.some((s: any) => s.dur >= 300_000)).toBe(true);

  const parsed = spawnSync(process.execPath, [engineScript, out], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(parsed.stderr).toBe('');
  const engine = JSON.parse(parsed.stdout);
  expect(engine.processes).toHaveLength(1);
  const threads = engine.processes[0].threads;
  const main = threads.find((t: any) => t.name === 'main thread');
  const worker = threads.find((t: any) => t.name === `worker ${app.worker}`);
  for (const t of [main, worker]) {
    expect(t).toBeDefined();
    for (const phase of ['poll', 'timers']) expect({ phase, n: t.counts[phase] > 0 }).toEqual({ phase, n: true });
    expect(t.counts.ProfileCall).toBeGreaterThan(0);
  }
  // A bounded recording keeps sample times only around long iterations; the whole run's call
  // tree has every sample: the app's own code among them (spin, or its caller where V8 inlined it).
  const tree = trace.uvscope.processes[0].threads.find((t: any) => t.tid === 0).cpuTree;
  const appSamples = tree.nodes.filter((n: any) => n.url.endsWith('agent-app.js')).reduce((sum: number, n: any) => sum + n.selfSamples, 0);
  expect(appSamples).toBeGreaterThan(0);
  expect(fs.readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/i);

  // The process runs on, its socket in place, and it can be recorded again.
  expect(fs.existsSync(app.socket)).toBe(true);
  const again = attach(['--duration', '0.3', '--no-cpu', '--out', path.join(base, 'again.json')], addonLog);
  expect(await again.exited).toBe(0);
}, 90_000);

test('the agent refuses a directory that is not private to its uid, or missing', async () => {
  const client = rawClient(app.socket);
  await client.connected;
  const open = path.join(base, 'open');
  fs.mkdirSync(open, { mode: 0o755 });
  fs.chmodSync(open, 0o755);
  const request = { cmd: 'trace', durationMs: 100, blockMs: 20, stallMs: 0, sampleUs: 0 };
  expect(await client.request({ ...request, dir: open })).toMatchObject({ ok: false, code: 'EBADDIR', error: expect.stringMatching(/open to group or others/) });
  expect(await client.request({ ...request, dir: path.join(base, 'missing') })).toMatchObject({ ok: false, code: 'EBADDIR' });
  expect(fs.readdirSync(open)).toEqual([]);
  client.close();
});

test('a client that goes away mid-window: the recording is dropped and the next one runs', async () => {
  const dir = fs.mkdtempSync(path.join(base, 'gone-'));
  const client = rawClient(app.socket);
  await client.connected;
  client.socket.write(`${JSON.stringify({ id: 1, cmd: 'trace', durationMs: 60_000, dir, blockMs: 20, stallMs: 200, sampleUs: 1000 })}\n`);
  // Told to the asker once it records (an event, not the reply: no id), and to no one else.
  const other = rawClient(app.socket);
  await other.connected;
  expect(await client.nextEvent((e) => e.event === 'trace-started')).toEqual({ event: 'trace-started', pid: app.pid, requestId: 1 });
  expect(client.all).toHaveLength(1);
  // Recording: a second asker is told so.
  expect(await other.request({ cmd: 'trace', durationMs: 100, dir, blockMs: 20, stallMs: 0, sampleUs: 0 })).toMatchObject({ ok: false, code: 'EBUSY' });
  expect(other.events).toEqual([]);
  client.close();
  // Once the agent has dropped it, a recording can start again (and finishes).
  for (;;) {
    const reply = await other.request({ cmd: 'trace', durationMs: 100, dir, blockMs: 20, stallMs: 0, sampleUs: 0 });
    if (reply.ok) {
      expect(reply.file).toBe(path.join(dir, `${app.pid}.json`));
      break;
    }
    expect(reply.code).toBe('EBUSY');
  }
  expect(JSON.parse(fs.readFileSync(path.join(dir, `${app.pid}.json`), 'utf8')).traceEvents.length).toBeGreaterThan(0);
  other.close();
  app.send('stall-wait 1');
  expect(await app.next((l) => l.stalled === 'wait')).toBeDefined();
}, 60_000);

test('a request the app has not answered when the window ends is drawn to its end, flagged in flight', async () => {
  const out = path.join(base, 'in-flight.json');
  const run = attach(['--duration', '2', '--no-cpu', '--out', out], path.join(base, 'addon-in-flight.log'));
  await run.until(() => run.output.stderr.includes('recording'), 'the recording line');
  app.send('http-hang');
  expect(await app.next((l) => l.hanging)).toEqual({ hanging: '/hang?from=attach' });
  expect({ code: await run.exited, stderr: run.output.stderr }).toMatchObject({ code: 0 });
  const events = JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents;
  const slices = events.filter((e: any) => e.args?.uvscope === 'http-request');
  expect(slices.map((e: any) => e.name)).toEqual(['GET /hang?from=attach (in flight at trace end)']);
  expect(slices[0].args).toMatchObject({ method: 'GET', url: '/hang?from=attach', inFlight: true, status: 0, completed: false });
  expect(run.output.stderr).toMatch(/^ {2}still in flight when the trace ended: 1 \(drawn to the end, time so far\): GET \/hang\?from=attach \d+\.\d\d ms \(main thread of pid \d+\)$/m);
}, 60_000);
