/**
 * `uvscope trace -- <any command>`: every Node process and worker thread of a command in one
 * trace, checked by Chrome DevTools' own trace engine (@paulirish/trace_engine, in a child
 * process: it is ESM); CPU samples; the startup slice of a program whose loop never turns; exit
 * codes; an unwritable output; the HTML report rendered in headless Chromium.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withIdleSamples } from '../../src/trace/profile-events';
import { CHROMIUM, inChromium } from '../helpers';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'lib', 'cli', 'main.js');
const fixtures = path.join(__dirname, 'fixtures');

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-trace-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('uvscope trace -- node app.js (two Node processes, a worker)', () => {
  let events: any[];
  let stderr: string;
  let engine: { processes: { pid: number; threads: { tid: number; name: string; counts: Record<string, number>; functions: string[] }[] }[]; profiles: { pid: number; threads: { tid: number; samples: number }[] }[] };
  const out = () => path.join(dir, 'multi.json');
  const html = () => path.join(dir, 'multi.html');

  beforeAll(() => {
    const result = run(['trace', '--out', out(), '--html', html(), '--', process.execPath, path.join(fixtures, 'trace-multi.js')]);
    stderr = result.stderr;
    expect({ code: result.code, stderr }).toMatchObject({ code: 0 });
    events = JSON.parse(fs.readFileSync(out(), 'utf8')).traceEvents;
    const parsed = spawnSync(process.execPath, [path.join(fixtures, 'trace-engine.mjs'), out()], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(parsed.stderr).toBe('');
    engine = JSON.parse(parsed.stdout);
  }, 120_000);

  test("DevTools' trace engine finds both processes, the worker's own track, loop slices, CPU profiles and pool slices", () => {
    expect(engine.processes).toHaveLength(2);
    const threads = engine.processes.flatMap((p) => p.threads.map((t) => ({ ...t, pid: p.pid })));
    const mains = threads.filter((t) => t.name === 'main thread');
    expect(mains).toHaveLength(2);
    const worker = threads.find((t) => t.name === 'worker 1')!;
    expect(worker).toBeDefined();
    for (const t of [...mains, worker]) {
      expect(t.counts.startup).toBe(1);
      // The engine turns the CPU samples into ProfileCall entries on the thread itself.
      expect(t.counts.ProfileCall).toBeGreaterThan(0);
    }
    // The app's main thread and its worker turned their loops: phase slices, poll's wait nested.
    for (const t of [mains.find((m) => m.pid === worker.pid)!, worker]) {
      for (const phase of ['poll', 'check', 'timers']) expect({ phase, n: t.counts[phase] > 0 }).toEqual({ phase, n: true });
    }
    // The busy function ran in the worker, and the profile knows it.
    expect(worker.functions).toContain('busyWork');
    // The worker the app terminated handed its profile first.
    const terminated = threads.find((t) => t.name === 'worker 2')!;
    expect(terminated.functions).toContain('busyWork');
    const pool = threads.find((t) => t.name === 'Node pool requests of main thread')!;
    expect(pool.counts['crypto.pbkdf2']).toBe(1);
    const profiled = engine.profiles.flatMap((p) => p.threads.map((t) => ({ pid: p.pid, ...t })));
    expect(profiled).toHaveLength(4);
    for (const p of profiled) expect(p.samples).toBeGreaterThan(10);
  });

  test('the synchronous child process has its startup slice though its loop never turned', () => {
    // Its loop turns at most once, as the process exits.
    const app = events.find((e) => e.name === 'thread_name' && e.args.name === 'worker 1').pid;
    const child = engine.processes.find((p) => p.pid !== app)!;
    expect(child).toBeDefined();
    const startup = events.find((e) => e.pid === child.pid && e.name === 'startup');
    expect(startup.dur).toBeGreaterThanOrEqual(40_000);
  });

  test('CPU samples share the loop slices\' clock: the worker\'s busy samples lie inside its long timers slice', () => {
    const worker = events.find((e) => e.name === 'thread_name' && e.args.name === 'worker 1');
    const long = events.filter((e) => e.pid === worker.pid && e.tid === worker.tid && e.name === 'timers' && e.dur >= 30_000);
    expect(long).toHaveLength(1);
    const profile = events.find((e) => e.name === 'Profile' && e.pid === worker.pid && e.tid === worker.tid);
    const chunks = events.filter((e) => e.name === 'ProfileChunk' && e.id === profile.id && e.pid === worker.pid);
    const nodes = new Map<number, string>(chunks.flatMap((c) => c.args.data.cpuProfile.nodes ?? []).map((n: any) => [n.id, n.callFrame.functionName]));
    let t = profile.ts;
    const busy: number[] = [];
    for (const chunk of chunks) {
      chunk.args.data.cpuProfile.samples.forEach((id: number, i: number) => {
        t += chunk.args.data.timeDeltas[i];
        if (nodes.get(id) === 'busyWork') busy.push(t);
      });
    }
    // At least a few samples: busyWork goes on until the sampler has woken 19 times.
    expect(busy.length).toBeGreaterThanOrEqual(3);
    const [slice] = long;
    const inside = busy.filter((ts) => ts >= slice.ts && ts <= slice.ts + slice.dur);
    expect(inside.length / busy.length).toBeGreaterThan(0.9);
  });

  test('the summary names the long iterations with their phase split and top functions, and the pool requests', () => {
    expect(stderr).toMatch(/uvscope trace: 2 processes, 4 threads/);
    expect(stderr).toMatch(/worker 1: \d+ iterations/);
    expect(stderr).toMatch(/iteration \d+: \d+\.\d+ ms: poll .*waiting .*timers \d+\.\d+ ms[^\n]*\n\s+top functions \(self\): busyWork \(trace-multi\.js:\d+\)/);
    expect(stderr).toMatch(/crypto\.pbkdf2: 1, p50/);
  });

  const chromium = fs.existsSync(CHROMIUM) ? test : test.skip;
  chromium('the HTML report is offline and renders in headless Chromium: timeline drawn, utilization lines, long iterations', async () => {
    const page = fs.readFileSync(html(), 'utf8');
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const { result: seen, problems } = await inChromium(html(), async (tab) => {
      const drawn = await tab.evaluate(() => {
        const document = (globalThis as any).document;
        const canvas = document.getElementById('timeline');
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const colors = new Set<string>();
        for (let i = 0; i < pixels.length; i += 4 * 7) if (pixels[i + 3]) colors.add(`${pixels[i]},${pixels[i + 1]},${pixels[i + 2]}`);
        const lines = [...document.querySelectorAll('svg.utilization polyline')].filter((p: any) => (p.getAttribute('points') ?? '').split(' ').length > 1).length;
        return { width: canvas.getBoundingClientRect().width, colors: [...colors], lines, long: document.querySelectorAll('tr.long').length, splits: document.querySelectorAll('svg.split rect').length };
      });
      // Zoom with the wheel redraws without an error.
      await tab.mouse.move(600, 200);
      await tab.mouse.wheel(0, -300);
      return drawn;
    });
    expect(seen.width).toBeGreaterThan(300);
    // The phase colours (poll work, timers, waiting) were drawn.
    for (const color of ['59,125,216', '208,69,47', '217,221,227']) expect(seen.colors).toContain(color);
    expect(seen.lines).toBeGreaterThanOrEqual(1);
    expect(seen.long).toBeGreaterThanOrEqual(2);
    expect(seen.splits).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  }, 60_000);
});

describe('uvscope trace: CPU samples and poll waits together', () => {
  // V8 takes each CPU sample by a SIGPROF to the thread, every 1 ms by default. A signal ends
  // epoll_wait early (EINTR) and libuv's idle time counts only the last stretch of a wait that
  // was cut so, so an idle loop read as busy: its poll was "I/O callbacks", not waiting.
  let events: any[];
  let info: any;
  beforeAll(() => {
    const out = path.join(dir, 'idle.json');
    // A loop with nothing to do for 300 ms but the tracer's own 100 ms flushes; a 30 ms busy timer first.
    const script = `function busyWork(ms) { const end = Date.now() + ms; while (Date.now() < end); } setTimeout(() => busyWork(30), 10); setTimeout(() => {}, 300);`;
    const result = run(['trace', '--out', out, '--', process.execPath, '-e', script]);
    expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 0 });
    const trace = JSON.parse(fs.readFileSync(out, 'utf8'));
    events = trace.traceEvents;
    info = trace.uvscope.processes[0].threads[0];
  }, 120_000);

  test('an idle loop waits in poll while it is sampled: a wait lasts until the next timer', () => {
    expect(info.cpuSamples).toBeGreaterThan(0);
    const waitsMs = events.filter((e) => e.name === 'waiting for I/O').map((e) => e.dur / 1000);
    // The 300 ms timer keeps the process; the loop's only other work is the 30 ms timer and
    // the tracer's flushes, every 100 ms: between them it sleeps in poll until the next one.
    // A wait the sampler's signal cut short counted only its last stretch (a sampling interval
    // and the signal's delay: at most 5 ms seen under ASan); whole, one of the three or four
    // waits lasts more than half a flush period, unless every flush took 50 ms or more.
    expect(Math.max(...waitsMs)).toBeGreaterThan(50);
  });

  test("the CPU profile shows the waits as (idle): a function sampled before a wait does not run on across it", () => {
    const profile = events.find((e) => e.name === 'Profile');
    const chunks = events.filter((e) => e.name === 'ProfileChunk' && e.id === profile.id);
    const nodes = new Map<number, string>(chunks.flatMap((c) => c.args.data.cpuProfile.nodes ?? []).map((n: any) => [n.id, n.callFrame.functionName]));
    let t = profile.ts;
    const samples: { ts: number; name: string }[] = [];
    for (const chunk of chunks) {
      chunk.args.data.cpuProfile.samples.forEach((id: number, i: number) => {
        t += chunk.args.data.timeDeltas[i];
        samples.push({ ts: t, name: nodes.get(id)! });
      });
    }
    expect(samples.some((s) => s.name === 'busyWork')).toBe(true);
    const waits = events.filter((e) => e.name === 'waiting for I/O' && e.dur >= 10_000);
    expect(waits.length).toBeGreaterThan(0);
    for (const wait of waits) {
      // DevTools draws each sample until the next: what it shows halfway through the wait is
      // the last sample at or before that point. It is an (idle) one, taken inside the wait.
      const middle = wait.ts + wait.dur / 2;
      const shown = samples.filter((s) => s.ts <= middle).pop();
      expect({ wait: wait.ts, name: shown?.name, inside: shown !== undefined && shown.ts >= wait.ts - 1 }).toEqual({ wait: wait.ts, name: '(idle)', inside: true });
    }
  });
});

describe('withIdleSamples (trace/profile-events.ts)', () => {
  const frame = (functionName: string) => ({ functionName, scriptId: '1', url: functionName.startsWith('(') ? '' : 'app.js', lineNumber: 1, columnNumber: 1 });
  // Samples every 1000 µs from 10_000; 'work' runs until 13_000, a wait from 13_100 to 60_000.
  const profile = {
    nodes: [{ id: 1, callFrame: frame('(root)'), children: [2, 3] }, { id: 2, callFrame: frame('work') }, { id: 3, callFrame: frame('listener') }],
    startTime: 10_000,
    endTime: 70_000,
    samples: [2, 2, 2, 3, 2],
    // 11_000, 12_000, 13_000; 'listener' (prepare code before epoll) at 13_150; 'work' at 60_010.
    timeDeltas: [1000, 1000, 1000, 150, 46_860],
  };
  const times = (p: typeof profile) => p.timeDeltas.map((_, i) => p.startTime + p.timeDeltas.slice(0, i + 1).reduce((a, b) => a + b, 0));

  test("an (idle) sample where the wait's longest stretch without a sample begins; a node for it when the profile has none", () => {
    const out = withIdleSamples(profile, [{ startUs: 13_100, endUs: 60_000 }]);
    const idle = out.nodes.find((n) => n.callFrame.functionName === '(idle)')!;
    expect(out.nodes[0].children).toContain(idle.id);
    expect(out.samples).toEqual([2, 2, 2, 3, idle.id, 2]);
    expect(times(out)).toEqual([11_000, 12_000, 13_000, 13_150, 13_151, 60_010]);
    expect(profile.samples).toHaveLength(5); // the input is left as it was
  });

  test('waits shorter than the sampling interval, or already covered, are left alone', () => {
    expect(withIdleSamples(profile, [{ startUs: 13_100, endUs: 13_900 }])).toBe(profile);
    const covered = withIdleSamples(profile, [{ startUs: 11_500, endUs: 12_900 }]);
    expect(covered).toBe(profile);
  });
});

describe('ThreadRecorder: the last batch taken inside an I/O callback', () => {
  test('the poll it ends in has its wait so far (a worker asked for its last batch while idle, process.exit() in a callback)', () => {
    // In a child, with no flush timer: the loop's only wake-up between 'ready' and 'go' is
    // 'go', which a worker posts 200 ms after 'ready'; the last batch is taken in its handler.
    const script = `
      const { Worker } = require('node:worker_threads');
      const { ThreadRecorder } = require(${JSON.stringify(path.join(root, 'lib', 'trace', 'thread-recorder'))});
      const { threadEvents } = require(${JSON.stringify(path.join(root, 'lib', 'trace', 'format'))});
      const recorder = new ThreadRecorder({ blockMs: 20, sampleUs: 0 });
      const worker = new Worker(\`
        const { parentPort } = require('node:worker_threads');
        parentPort.postMessage('ready');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
        parentPort.postMessage('go');\`, { eval: true });
      worker.on('message', (message) => {
        if (message !== 'go') return;
        const last = recorder.finish();
        const events = threadEvents({ pid: 1, tid: 0, threadName: 'main thread', originNs: 0n, startNs: last.startNs, endNs: last.endNs,
          markers: last.markers, longIterationNs: 20e6, jobs: [], requests: [], stalls: [], utilization: [], trailingPollWaitNs: last.final.pollWaitSoFarNs });
        const slices = events.filter((e) => e.cat === 'loop');
        worker.terminate();
        console.log(JSON.stringify({ last: slices[slices.length - 1], waitSoFarMs: last.final.pollWaitSoFarNs / 1e6 }));
      });`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    const { last, waitSoFarMs } = JSON.parse(result.stdout);
    expect(last.name).toBe('poll');
    expect(last.args.waitMs).toBe(waitSoFarMs);
    // Half the worker's 200 ms sleep: the main thread only had to finish the iteration that
    // handled 'ready' before it waited for 'go'.
    expect(waitSoFarMs).toBeGreaterThan(100);
    expect(last.args.workMs).toBeLessThan(last.args.waitMs);
    expect(last.args.waitMs + last.args.workMs).toBeCloseTo(last.dur / 1000, 3);
  });
});

describe('uvscope trace: exit codes and failures', () => {
  test("the command's exit code is kept; a command that cannot be found exits 127", () => {
    expect(run(['trace', '--no-cpu', '--out', path.join(dir, 'exit.json'), '--', process.execPath, '-e', 'process.exitCode = 7']).code).toBe(7);
    const missing = run(['trace', '--out', path.join(dir, 'missing.json'), '--', 'uvscope-no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toMatch(/cannot start uvscope-no-such-command: command not found/);
  });

  test('an output file that cannot be written fails before the command starts', () => {
    const marker = path.join(dir, 'started');
    const result = run(['trace', '--out', path.join(dir, 'no', 'such', 'dir', 't.json'), '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot write --out .*ENOENT/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  test('SIGINT to uvscope reaches the command\'s process group: the server writes its trace, dies of it, nothing is left', async () => {
    const out = path.join(dir, 'sigint.json');
    const child = spawn(process.execPath, [cli, 'trace', '--no-cpu', '--out', out, '--', process.execPath, path.join(__dirname, '..', 'fixtures', 'trace-server.js')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const serverPid = await new Promise<number>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /listening (\d+)\n/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
      child.on('exit', () => reject(new Error(`uvscope exited before the server listened: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    let alive = true;
    try {
      process.kill(serverPid, 0);
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code !== 'ESRCH';
    }
    expect(alive).toBe(false);
    const events: any[] = JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents;
    expect(events.filter((e) => e.pid === serverPid && e.name === 'poll').length).toBeGreaterThan(0);
    expect(stderr).toMatch(/main thread: \d+ iterations/);
  }, 60_000);

  test('--max-markers bounds the loop markers kept per thread; the summary says how many were dropped', () => {
    const out = path.join(dir, 'bounded.json');
    // 2000 turns of the loop: 8000 markers, far more than the bound, whatever the machine's speed.
    const turns = 'let n = 0; const step = () => { if (++n < 2000) setImmediate(step); }; setImmediate(step);';
    const result = run(['trace', '--no-cpu', '--max-markers', '100', '--out', out, '--', process.execPath, '-e', turns]);
    expect(result.code).toBe(0);
    const dropped = /dropped to bound memory \(the oldest\): (\d+) loop markers/.exec(result.stderr);
    expect(dropped).not.toBeNull();
    expect(Number(dropped![1])).toBeGreaterThan(0);
    const trace = JSON.parse(fs.readFileSync(out, 'utf8'));
    const slices = trace.traceEvents.filter((e: any) => e.cat === 'loop' && e.name !== 'startup');
    // One slice per marker, and the last runs to the end: at most the bound.
    expect(slices.length).toBeLessThanOrEqual(100);
    expect(trace.uvscope.processes[0].threads[0].dropped.markers).toBe(Number(dropped![1]));
  });

  test('--no-cpu: no Profile events', () => {
    const out = path.join(dir, 'nocpu.json');
    expect(run(['trace', '--no-cpu', '--out', out, '--', path.join(__dirname, '..', 'fixtures', 'trace-app.js')]).code).toBe(0);
    const events: any[] = JSON.parse(fs.readFileSync(out, 'utf8')).traceEvents;
    expect(events.filter((e) => e.ph === 'P')).toEqual([]);
    expect(events.filter((e) => e.name === 'poll').length).toBeGreaterThan(10);
  });
});

describe('LoopObserver.traceColumns()', () => {
  test('drains the buffer as typed arrays in time order, with poll waits on check entries only: a 30 ms idle wait, none while busy', () => {
    // In a child: jest's own handles in this process can keep poll from waiting.
    const script = `
      const { LoopObserver, MARKER_PHASE_CODES } = require(${JSON.stringify(path.join(root, 'lib'))});
      const observer = new LoopObserver({ traceCapacity: 4096 }).start();
      // Armed once the loop runs: armed at startup, it could be due before the first poll.
      setImmediate(() => setTimeout(() => {
        let n = 0;
        const spin = () => {
          if (++n < 20) return setImmediate(spin);
          const c = observer.traceColumns();
          const again = observer.traceColumns().timesNs.length;
          observer.close();
          console.log(JSON.stringify({
            phases: [...c.phases].map((code) => MARKER_PHASE_CODES[code]),
            disorder: c.timesNs.findIndex((t, i) => i > 0 && t < c.timesNs[i - 1]),
            waits: [...c.pollWaitsNs],
            again,
          }));
        };
        setImmediate(spin);
      }, 30));`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(result.stderr).toBe('');
    const { phases, disorder, waits, again } = JSON.parse(result.stdout);
    expect(again).toBe(0); // drained
    expect(disorder).toBe(-1);
    expect(new Set(phases)).toEqual(new Set(['prepare', 'check']));
    // Only check entries carry a wait; the 30 ms timer's wait is one of them, and the
    // setImmediate chain's polls did not wait (a pending immediate makes poll's timeout 0).
    expect(waits.filter((w: number, i: number) => phases[i] !== 'check' && w !== 0)).toEqual([]);
    const checks = waits.filter((_: number, i: number) => phases[i] === 'check');
    expect(Math.max(...checks)).toBeGreaterThanOrEqual(20e6);
    expect(checks.slice(-15).filter((w: number) => w >= 1e6)).toEqual([]);
  });
});
