/**
 * `uvscope trace --attach <pid> --duration S [--out F] [--html F]`: records a window of a
 * running process that has the `uvscope/agent` preload, without a restart. The CLI makes a
 * private temporary directory (0700), asks the agent over the control socket to record for S
 * seconds into it (`trace` request: the agent checks the directory is this uid's and private,
 * records with the same recorders as `uvscope trace`, its workers too, and writes
 * `<dir>/<pid>.json`), then merges it as a launched trace's parts are (cli/trace/trace.ts) into
 * the same outputs: the trace file (one event a line), the summary on stderr, the HTML report. Ctrl-C during the window ends it
 * early: the agent drops the recording when the connection closes. Addon-free.
 * @internal
 * @module
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { checkWritable, parseArgs, positiveInt, positiveNumber, stringOption, UsageError } from '../common/args';
import { mergeParts, recordingOptions, writeOutputs } from '../trace/trace';
import { controlDir } from '../../control/socket-dir';
import { AgentClient } from './client';

export const ATTACH_USAGE = `usage: uvscope trace --attach <pid> --duration S [options]

Records S seconds of a running Node process started with the uvscope/agent preload
(node --require uvscope/agent app.js): every thread's loop, CPU samples, stalls, pool and HTTP
requests, as uvscope trace records a launched command, and writes the same trace file, summary
and report. The process keeps running; nothing is restarted.

  --attach PID      the process (its agent's control socket, see uvscope top)
  --duration S      seconds to record (from 0.1 to 3600; required)
  --out FILE        trace file (default uvscope-trace-<pid>.json)
  --html FILE       also write the HTML report
  --stall-ms MS     stall threshold of the recording, integer ms from 10 to 3600000, or 0 (default 200)
  --sample-us US    CPU sampling interval, µs from 50 to 1000000 (default 1000)
  --no-cpu          no CPU samples
  --block-ms MS     an iteration busy for longer than this is long (default 20)
  --max-markers N   loop markers kept per thread (default 1000000)`;

export function isAttach(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--attach' || a.startsWith('--attach='));
}

export async function attachCommand(argv: string[]): Promise<number> {
  const { options, positionals, rest } = parseArgs(
    argv,
    ['attach', 'out', 'html', 'duration', 'stall-ms', 'sample-us', 'block-ms', 'max-markers'],
    ['help', 'no-cpu'],
  );
  if (options.has('help')) {
    process.stdout.write(`${ATTACH_USAGE}\n`);
    return 0;
  }
  if (positionals.length + rest.length > 0) throw new UsageError('--attach takes no command: it records a process that runs already');
  const pid = positiveInt('attach', options.get('attach'), 0, 2 ** 31 - 1);
  const duration = positiveNumber('duration', options.get('duration'));
  if (duration === undefined) throw new UsageError('--attach needs --duration S (seconds to record)');
  if (duration < 0.1 || duration > 3600) throw new UsageError(`--duration must be from 0.1 to 3600 seconds with --attach, got '${options.get('duration')}'`);
  const out = path.resolve(stringOption('out', options.get('out')) ?? `uvscope-trace-${pid}.json`);
  const htmlOption = stringOption('html', options.get('html'));
  const html = htmlOption === undefined ? undefined : path.resolve(htmlOption);
  const { stallMs, sampleUs, blockMs, maxMarkers } = recordingOptions(options);
  checkWritable(out, '--out');
  if (html) checkWritable(html, '--html');

  const client = await AgentClient.connect(pid, controlDir());
  // mkdtemp makes it 0700: the agent refuses anything else.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uvscope-attach-'));
  const stop = () => client.close();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const hello = await client.hello(5000);
    const durationMs = Math.round(duration * 1000);
    // Said once the process records (not when asked): what happens after the line is in the window.
    client.onEvent = (event) => {
      if (event.event === 'trace-started') process.stderr.write(`uvscope trace: recording ${hello.title} (pid ${pid}) for ${duration} s\n`);
    };
    const reply = await client.request(
      { cmd: 'trace', durationMs, dir, blockMs, stallMs, sampleUs, maxMarkers, originNs: String(process.hrtime.bigint()) },
      durationMs + 120_000,
    );
    // The agent wrote `<pid>.json` into the directory: merged (streamed) as a launch's parts are.
    if (reply.file !== undefined && path.dirname(reply.file) !== dir) throw new Error(`the agent wrote its trace outside ${dir}: ${reply.file}`);
    const merged = mergeParts(dir, out, { blockMs, stallMs, command: `attach ${pid}: ${hello.title}` }, html !== undefined);
    writeOutputs(merged, out, html);
    return 0;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    client.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
