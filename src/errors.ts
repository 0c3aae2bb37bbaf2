/**
 * Errors thrown by uvscope. Every error carries a `code`, following Node's conventions
 * (`ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`, ...), and names the argument or option at fault.
 * They are created here, in the caller's realm, so `instanceof TypeError` works everywhere.
 * @module
 */

/** An Error with Node's `code` property. */
export interface CodedError extends Error {
  code: string;
}

function withCode<E extends Error>(error: E, code: string): E & CodedError {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & CodedError;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  let shown = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** `TypeError` with code `ERR_INVALID_ARG_TYPE`: `name` must be `expected`. */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

/** `RangeError` with code `ERR_OUT_OF_RANGE`. */
export function outOfRange(name: string, expected: string, actual: unknown): RangeError & CodedError {
  const shown = typeof actual === 'number' || typeof actual === 'bigint' ? String(actual) : describe(actual);
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${shown}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** `TypeError` with code `ERR_INVALID_ARG_VALUE`, for a value of the right type but not allowed. */
export function invalidArgValue(name: string, reason: string, actual: unknown): TypeError & CodedError {
  return withCode(
    new TypeError(`The argument '${name}' ${reason}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_VALUE',
  );
}

/** `Error` with code `ERR_INVALID_STATE`: the object cannot do that any more (e.g. it is closed). */
export function invalidState(message: string): Error & CodedError {
  return withCode(new Error(`Invalid state: ${message}`), 'ERR_INVALID_STATE');
}

/** Error with an arbitrary code, for failures reported by the native side. */
export function codedError(message: string, code: string, extra?: Record<string, unknown>): Error & CodedError {
  const error = withCode(new Error(message), code);
  if (extra) Object.assign(error, extra);
  return error;
}

export function validateObject(name: string, value: unknown): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw invalidArgType(name, 'of type object', value);
  }
}

export function validateBoolean(name: string, value: unknown): asserts value is boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
}

/** A finite number in [min, max]; integers only when `integer`. */
export function validateNumber(
  name: string,
  value: unknown,
  { min = -Infinity, max = Infinity, integer = false }: { min?: number; max?: number; integer?: boolean } = {},
): asserts value is number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (integer && !Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (!(value >= min && value <= max)) {
    const bounds =
      max === Infinity ? `>= ${min}` : min === -Infinity ? `<= ${max}` : `>= ${min} && <= ${max}`;
    throw outOfRange(name, bounds, value);
  }
}

/**
 * Rejection of a job stopped by its AbortSignal, shaped like Node's own AbortError:
 * `name === 'AbortError'`, `code === 'ABORT_ERR'`, `cause` = the signal's reason.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** How error messages show a received value (as Node's own argument errors do). */
export { describe as describeValue };
