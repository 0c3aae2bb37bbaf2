/**
 * A small argv parser for the CLI: `--name value`, `--name=value`, boolean flags, and `--`
 * ending the options. Usage errors are thrown as UsageError (exit code 2, one line).
 * @internal
 * @module
 */
import fs from 'node:fs';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface ParsedArgs {
  options: Map<string, string | true>;
  positionals: string[];
  /** Everything after `--`. */
  rest: string[];
}

/** `valued` lists the options that take a value; others are flags. Unknown options throw. */
export function parseArgs(argv: readonly string[], valued: readonly string[], flags: readonly string[]): ParsedArgs {
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return { options, positionals, rest: argv.slice(i + 1) };
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (flags.includes(name)) {
      if (eq !== -1) throw new UsageError(`option --${name} takes no value`);
      options.set(name, true);
    } else if (valued.includes(name)) {
      const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined || (eq === -1 && value.startsWith('--'))) {
        throw new UsageError(`option --${name} needs a value`);
      }
      options.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { options, positionals, rest: [] };
}

export function positiveInt(name: string, value: string | true | undefined, fallback: number, max = 1e9): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value === true || !Number.isInteger(n) || n < 1 || n > max) {
    throw new UsageError(`--${name} must be an integer from 1 to ${max}, got '${value}'`);
  }
  return n;
}

export function positiveNumber(name: string, value: string | true | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value === true || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${value}'`);
  return n;
}

export function stringOption(name: string, value: string | true | undefined): string | undefined {
  if (value === true) throw new UsageError(`option --${name} needs a value`);
  return value;
}

/** Fails (a plain Error: exit 1) unless `file` can be written; leaves an existing file as it was. */
export function checkWritable(file: string, option: string): void {
  const existed = fs.existsSync(file);
  try {
    fs.closeSync(fs.openSync(file, 'a'));
  } catch (error) {
    throw new Error(`cannot write ${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!existed) fs.rmSync(file, { force: true });
}

export function integerOption(name: string, value: string | true | undefined, fallback: number, min: number, max: number, zero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value === true || !Number.isInteger(n) || ((n !== 0 || !zero) && (n < min || n > max))) {
    throw new UsageError(`--${name} must be ${zero ? '0 or ' : ''}an integer from ${min} to ${max}, got '${value}'`);
  }
  return n;
}
