/**
 * The loop trace as the addon hands it over (`LoopObserver.traceColumns()`): four typed arrays
 * filled by native/loop/trace_ring.cc (drained through observer.cc), declared once here with a
 * table of their array types the compiler holds to the interface. Addon-free: the trace format
 * (trace/format.ts) reads it in the CLI's collector. test/loop/stall-report-format.test.ts
 * holds real columns against the table.
 * Lifetime: none (types and constants).
 * @module
 */
import { MARKER_PHASE_CODES } from './phases';

/**
 * The trace buffer as columns (`LoopObserver.traceColumns()`): entry `i` is the marker
 * `PHASE_CODES[phases[i]]` of iteration `iterations[i]` at `timesNs[i]`. Typed arrays, no object per event.
 */
export interface TraceColumns {
  /** When each marker ran, on libuv's monotonic clock, ns. */
  timesNs: BigUint64Array;
  iterations: Float64Array;
  /** Marker codes: 1 timers, 3 idle, 4 prepare, 6 check, 7 close (see {@link MARKER_PHASE_CODES}). */
  phases: Uint8Array;
  /** On a check entry: the time the poll phase it ends spent waiting for I/O (`uv_metrics_idle_time`), ns; 0 on the others. */
  pollWaitsNs: Float64Array;
}

type TypedArrayConstructor = BigUint64ArrayConstructor | Float64ArrayConstructor | Uint8ArrayConstructor;

/** The array type of each column (the mapped type makes a column added to the interface a compile error here). @internal */
export const TRACE_COLUMN_TYPES: { readonly [K in keyof TraceColumns]-?: TypedArrayConstructor } = {
  timesNs: BigUint64Array,
  iterations: Float64Array,
  phases: Uint8Array,
  pollWaitsNs: Float64Array,
};

/** What in `columns` disagrees with the declaration: a column missing, of another type or length, or undeclared. @internal */
export function traceColumnsProblems(columns: unknown): string[] {
  if (typeof columns !== 'object' || columns === null) return [`expected an object, got ${String(columns)}`];
  const record = columns as Record<string, unknown>;
  const problems: string[] = [];
  const length = (record.timesNs as { length?: number } | undefined)?.length;
  for (const [name, type] of Object.entries(TRACE_COLUMN_TYPES)) {
    // By tag, not instanceof: arrays the addon creates may belong to another realm (jest's).
    const tag = Object.prototype.toString.call(record[name]);
    const column = record[name] as ArrayLike<unknown>;
    if (tag !== `[object ${type.name}]`) problems.push(`${name}: expected ${type.name}, got ${tag}`);
    else if (column.length !== length) problems.push(`${name}: ${column.length} entries, timesNs has ${length}`);
  }
  for (const name of Object.keys(record)) {
    if (!Object.prototype.hasOwnProperty.call(TRACE_COLUMN_TYPES, name)) problems.push(`${name}: not declared`);
  }
  if (Object.prototype.toString.call(record.phases) === '[object Uint8Array]') {
    for (const code of new Set(record.phases as Uint8Array)) if (!(code in MARKER_PHASE_CODES)) problems.push(`phases: code ${code} is not a marker code`);
  }
  return problems;
}

/** Markers `from` to `to` (exclusive; default: the end) of `columns`: views, no copy. @internal */
export function sliceColumns(columns: TraceColumns, from: number, to?: number): TraceColumns {
  return {
    timesNs: columns.timesNs.subarray(from, to),
    iterations: columns.iterations.subarray(from, to),
    phases: columns.phases.subarray(from, to),
    pollWaitsNs: columns.pollWaitsNs.subarray(from, to),
  };
}
