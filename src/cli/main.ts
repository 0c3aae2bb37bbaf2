#!/usr/bin/env node
/**
 * The `uvscope` command: `uvscope bench` and `uvscope trace`. Usage errors exit 2 with one line
 * and the usage, never a stack trace.
 * @internal
 * @module
 */
import { UsageError } from './common/args';
import { BENCH_USAGE, benchCommand } from './bench/bench';
import { TRACE_USAGE, traceCommand } from './trace/trace';

const USAGE = `usage: uvscope <command> [options]

commands:
  bench    benchmark UV_THREADPOOL_SIZE values side by side (uvscope bench --help)
  trace    trace any command: each Node process's threads, their loops, CPU samples, pool
           requests and stalls, in one Chrome trace (uvscope trace --help)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const usageFor = command === 'bench' ? BENCH_USAGE : command === 'trace' ? TRACE_USAGE : USAGE;
  try {
    if (command === 'bench') return await benchCommand(rest);
    if (command === 'trace') return await traceCommand(rest);
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
