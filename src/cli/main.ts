#!/usr/bin/env node
/**
 * The `uvscope` command: `uvscope bench`, `uvscope trace` (`--attach <pid>`: cli/top/attach.ts),
 * `uvscope report` and `uvscope top`. Usage errors exit 2 with one line
 * and the usage, never a stack trace.
 * @internal
 * @module
 */
import { UsageError } from './common/args';
import { BENCH_USAGE, benchCommand } from './bench/bench';
import { TRACE_USAGE, traceCommand } from './trace/trace';
import { ATTACH_USAGE, attachCommand, isAttach } from './top/attach';
import { TOP_USAGE, topCommand } from './top/top';
import { REPORT_USAGE, reportCommand } from './trace/report';

const USAGE = `usage: uvscope <command> [options]

commands:
  bench    benchmark UV_THREADPOOL_SIZE values side by side (uvscope bench --help)
  trace    trace any command: each Node process's threads, their loops, CPU samples, pool
           requests and stalls, in one Chrome trace (uvscope trace --help); with
           --attach <pid>, a window of a process running with uvscope/agent
  report   the summary of a trace file written earlier (a flight recorder's dump, say), and
           --html its report with flame graphs (uvscope report --help)
  top      a live view of processes running with uvscope/agent, or of a command it
           starts with it (uvscope top --help)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const attach = command === 'trace' && isAttach(rest);
  const usageFor = command === 'bench' ? BENCH_USAGE : attach ? ATTACH_USAGE : command === 'trace' ? TRACE_USAGE : command === 'top' ? TOP_USAGE : command === 'report' ? REPORT_USAGE : USAGE;
  try {
    if (command === 'bench') return await benchCommand(rest);
    if (attach) return await attachCommand(rest);
    if (command === 'trace') return await traceCommand(rest);
    if (command === 'top') return await topCommand(rest);
    if (command === 'report') return reportCommand(rest);
    if (command === undefined || command === '--help' || command === 'help' || command === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command '${command}'`);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`uvscope: ${error.message}\n\n${usageFor}\n`);
      return 2;
    }
    process.stderr.write(`uvscope: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
