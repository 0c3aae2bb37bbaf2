'use strict';
// Command-line flags of the benchmark scripts: `--flag value` and `--flag=value`. Each bench
// declares its flags once, as a table (flag -> kind, value name, help text): parseFlags reads
// argv against it and usageText prints it; defaults and cross-checks stay with the bench.
// Stateless.

/** An integer >= min, or an Error naming the flag. */
function intArg(name, value, min) {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}, got ${value}`);
  return n;
}

/** "a, b,,c" -> ['a', 'b', 'c']. */
function listArg(value) {
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A CPU to pin to: an integer, null for "none", or 'auto' where `auto` allows it. */
function cpuArg(name, value, { auto = false } = {}) {
  if (value === 'none') return null;
  if (auto && value === 'auto') return 'auto';
  return intArg(name, value, 0);
}

/**
 * Calls onFlag(flag, value, arg) for each argument; `value()` takes the flag's value (inline
 * after `=`, else the next argument) and throws when there is none.
 */
function eachFlag(argv, onFlag) {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    onFlag(flag, value, arg);
  }
}

/**
 * The kinds of flag a table may name. Each sets opts[key] and carries its line of the usage
 * text: `arg` (the value's name, '' for none) and `help` (may hold '\n' for more lines).
 */
const flag = {
  /** An integer >= min. */
  int: (key, min, arg, help) => ({ key, arg, help, read: (name, value) => intArg(name, value(), min) }),
  /** The value as given. */
  string: (key, arg, help) => ({ key, arg, help, read: (name, value) => value() }),
  /** A comma-separated list. */
  list: (key, arg, help) => ({ key, arg, help, read: (name, value) => listArg(value()) }),
  /** A CPU: N, none (null), or auto where `options.auto`. */
  cpu: (key, arg, help, options) => ({ key, arg, help, read: (name, value) => cpuArg(name, value(), options) }),
  /** No value: sets true. */
  on: (key, help) => ({ key, arg: '', help, read: () => true }),
};

/**
 * Reads argv against `table` ({ '--rounds': flag.int('rounds', 1, 'R', 'rounds'), ... }) into
 * an object. --help and -h set `help`; an unknown argument throws, with `usage` (text) when
 * given.
 */
function parseFlags(argv, table, usage) {
  const opts = {};
  eachFlag(argv, (name, value, arg) => {
    if (name === '--help' || name === '-h') opts.help = true;
    else if (Object.hasOwn(table, name)) opts[table[name].key] = table[name].read(name, value);
    else throw new Error(`unknown argument ${arg}${usage ? `\n${usage}` : ''}`);
  });
  return opts;
}

/**
 * The usage text of `script` from its flag table, one flag a line in the table's order, help
 * texts aligned (at `width`, default two past the longest flag and value), then --help.
 */
function usageText(script, table, { width } = {}) {
  const heads = Object.entries(table).map(([name, f]) => (f.arg ? `${name} ${f.arg}` : name));
  const column = width ?? Math.max(...heads.map((h) => h.length)) + 2;
  const lines = Object.values(table).flatMap((f, i) =>
    f.help.split('\n').map((text, j) => `  ${(j === 0 ? heads[i] : '').padEnd(column)}${text}`));
  return [`usage: node ${script} [options]`, ...lines, '  --help'].join('\n');
}

module.exports = { intArg, listArg, cpuArg, eachFlag, flag, parseFlags, usageText };
