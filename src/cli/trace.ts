/**
 * `uvscope trace -- script args`: runs a script with uvscope/register preloaded and reports its
 * loop and pool activity as a Chrome trace, a summary, and optionally an HTML report.
 * @internal
 * @module
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { parseArgs, positiveNumber, stringOption, UsageError } from './args';
import { barChart } from './bench-html';
import type { TraceEvent } from './chrome-trace';
import { formatStallReport, parseReportLine } from './stall-report';

export const TRACE_USAGE = `usage: uvscope trace [--out trace.json] [--html report.html] [--duration S] [--stall-ms MS] -- node-script.js [args...]

Runs the script with uvscope preloaded (node --require uvscope/register) and, when it exits,
is interrupted (Ctrl-C) or --duration seconds have passed, writes a Chrome trace event file
(open it in Perfetto or chrome://tracing: the loop's phases, its stalls, uvscope's jobs per
pool thread, utilization) and prints a summary. The exit code is the script's.
While the main thread's loop is blocked for longer than --stall-ms, a line says so on stderr
as it happens ("stall: main thread blocked 412 ms in timers", with the innermost frames when
the stack addon is there), repeated every second (or every --stall-ms, if longer) while the
block lasts.

  --out FILE       trace file (default uvscope-trace.json)
  --html FILE      also write an HTML report of the trace
  --duration S     stop the script with SIGINT after S seconds (exit code 0 then)
  --stall-ms MS    stall threshold, integer ms from 10 to 3600000, or 0 for no stall
                   watchdog (default 200)`;

const STALL_FD = 3;

export async function traceCommand(argv: string[]): Promise<number> {
  const { options, positionals, rest } = parseArgs(argv, ['out', 'html', 'duration', 'stall-ms'], ['help']);
  if (options.has('help')) {
    process.stdout.write(`${TRACE_USAGE}\n`);
    return 0;
  }
  const command = [...positionals, ...rest];
  if (command.length === 0) throw new UsageError('missing the script to trace (uvscope trace -- app.js)');
  const script = path.resolve(command[0]);
  if (!fs.existsSync(script)) throw new UsageError(`script not found: ${command[0]}`);
  const out = path.resolve(stringOption('out', options.get('out')) ?? 'uvscope-trace.json');
  const html = stringOption('html', options.get('html'));
  const duration = positiveNumber('duration', options.get('duration'));
  const stallMs = stallThreshold(options.get('stall-ms'));

  const register = path.join(__dirname, '..', 'register.js');
  // The watchdog in the child writes its report lines to fd 3, a pipe read here as they come.
  const child = spawn(process.execPath, ['--require', register, script, ...command.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', stallMs === 0 ? 'ignore' : 'pipe'],
    env: {
      ...process.env,
      UVSCOPE_TRACE_OUT: out,
      UVSCOPE_TRACE_STALL_MS: String(stallMs),
      UVSCOPE_TRACE_STALL_FD: stallMs === 0 ? '' : String(STALL_FD),
    },
  });
  const stallsDone = printStalls(child.stdio[STALL_FD] as Readable | null);
  // Ctrl-C reaches the child too (same process group); the parent waits for it to finish.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  let stoppedByUs = false;
  const timer = duration
    ? setTimeout(() => {
        stoppedByUs = true;
        child.kill('SIGINT');
      }, duration * 1000)
    : undefined;
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c, s) => resolve([c, s]));
  });
  if (timer) clearTimeout(timer);
  process.removeListener('SIGINT', ignore);
  // The last report lines may still be in the pipe. A process the script started may hold its
  // end open after the script exited: do not wait for it longer than a second.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([stallsDone, new Promise<void>((resolve) => (bound = setTimeout(resolve, 1000)))]);
  clearTimeout(bound);
  (child.stdio[STALL_FD] as Readable | null)?.destroy();

  if (html && fs.existsSync(out)) {
    const trace = JSON.parse(fs.readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[] };
    fs.writeFileSync(html, renderTraceHtml(trace.traceEvents, command.join(' ')));
  }
  if (signal) return stoppedByUs && signal === 'SIGINT' ? 0 : 128 + (os.constants.signals[signal] ?? 0);
  if (stoppedByUs && code === 130) return 0;
  return code ?? 1;
}

function stallThreshold(value: string | true | undefined): number {
  if (value === undefined) return 200;
  const n = Number(value);
  if (value === true || !Number.isInteger(n) || (n !== 0 && (n < 10 || n > 3_600_000))) {
    throw new UsageError(`--stall-ms must be 0 or an integer from 10 to 3600000, got '${value}'`);
  }
  return n;
}

/** Prints each stall report line from the child's watchdog on stderr as it arrives; resolves when the pipe ends. */
function printStalls(stream: Readable | null): Promise<void> {
  if (!stream) return Promise.resolve();
  let buffered = '';
  let saidUnavailable = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const report = parseReportLine(line);
      if (!report) continue;
      const out = formatStallReport(report);
      if (report.stackUnavailable && !saidUnavailable) {
        saidUnavailable = true;
        out.push(`    (no stacks: ${report.stackUnavailable.split('\n')[0]})`);
      }
      process.stderr.write(`${out.join('\n')}\n`);
    }
  });
  return new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
}

function renderTraceHtml(events: TraceEvent[], title: string): string {
  const slices = events.filter((e) => e.ph === 'X' && e.cat === 'loop');
  const jobs = events.filter((e) => e.ph === 'X' && e.cat === 'job');
  const phases = ['poll', 'check', 'timers', 'pending'];
  const totals = phases.map((p) => slices.filter((s) => s.name === p).reduce((sum, s) => sum + (s.dur ?? 0), 0) / 1000);
  const longest = phases.map((p) => Math.max(0, ...slices.filter((s) => s.name === p).map((s) => (s.dur ?? 0) / 1000)));
  const kernels = [...new Set(jobs.map((j) => j.name))];
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const chart = (metric: string, name: string, unit: string, labels: string[], values: number[]) =>
    barChart(metric, name, unit, labels as unknown as number[], [{ name, values }]);
  const slowJobs = [...jobs]
    .sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0))
    .slice(0, 20)
    .map((j) => `<tr><td>${esc(j.name)}</td><td>${((j.dur ?? 0) / 1000).toFixed(2)}</td><td>${Number(j.args?.queueWaitMs ?? 0).toFixed(2)}</td><td>${j.tid! - 100}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>uvscope trace</title>
<style>body{font:14px system-ui,sans-serif;margin:24px}figure{display:inline-block;margin:8px;border:1px solid #ddd;padding:8px}
svg text{font-size:11px}svg .title{font-size:13px;font-weight:600}.grid{stroke:#eee}td,th{border:1px solid #ddd;padding:4px 8px}table{border-collapse:collapse}</style>
</head><body><h1>uvscope trace: ${esc(title)}</h1>
<p>${slices.length} phase slices, ${jobs.length} pool jobs. Open the JSON trace in Perfetto for the timeline.</p>
${chart('phaseTime', 'Time per phase', 'ms', phases, totals)}
${chart('phaseLongest', 'Longest slice per phase', 'ms', phases, longest)}
${kernels.length ? chart('jobsPerKernel', 'Jobs per kernel', 'jobs', kernels, kernels.map((k) => jobs.filter((j) => j.name === k).length)) : ''}
<h2>Slowest jobs</h2><table><tr><th>kernel</th><th>run ms</th><th>queue wait ms</th><th>pool thread</th></tr>${slowJobs}</table>
</body></html>
`;
}
