'use strict';
// Command-line flags of the benchmark scripts: `--flag value` and `--flag=value`, integers
// checked. Stateless helpers; each script keeps its own switch over the flags it knows.

/** An integer >= min, or an Error naming the flag. */
function intArg(name, value, min) {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`${name} needs an integer >= ${min}, got ${value}`);
  return n;
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

module.exports = { intArg, eachFlag };
