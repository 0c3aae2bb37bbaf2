'use strict';
// Command-line flags of the benchmark scripts: `--flag value` and `--flag=value`. Each bench
// declares its flags as a table (flag -> kind), parseFlags reads argv against it; defaults and
// cross-checks stay with the bench. Stateless.

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

/** The kinds of flag a table may name: each sets opts[key]. */
const flag = {
  /** An integer >= min. */
  int: (key, min) => ({ key, read: (name, value) => intArg(name, value(), min) }),
  /** The value as given. */
  string: (key) => ({ key, read: (name, value) => value() }),
  /** A comma-separated list. */
  list: (key) => ({ key, read: (name, value) => listArg(value()) }),
  /** A CPU: N, none (null), or auto where allowed. */
  cpu: (key, options) => ({ key, read: (name, value) => cpuArg(name, value(), options) }),
  /** No value: sets true. */
  on: (key) => ({ key, read: () => true }),
};

/**
 * Reads argv against `table` ({ '--rounds': flag.int('rounds', 1), ... }) into an object.
 * --help and -h set `help`; an unknown argument throws, with `usage()` when given.
 */
function parseFlags(argv, table, usage) {
  const opts = {};
  eachFlag(argv, (name, value, arg) => {
    if (name === '--help' || name === '-h') opts.help = true;
    else if (Object.hasOwn(table, name)) opts[table[name].key] = table[name].read(name, value);
    else throw new Error(`unknown argument ${arg}${usage ? `\n${usage()}` : ''}`);
  });
  return opts;
}

module.exports = { intArg, listArg, cpuArg, eachFlag, flag, parseFlags };
