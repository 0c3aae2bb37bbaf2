/**
 * The phases of a libuv loop iteration as plain data: their names, and the numbers the addon
 * writes for them (native/loop/phase.h; src/native.ts's `PhaseCode` holds the same numbers and is
 * checked against the addon's at load, test/cli/cli-no-addon.test.ts checks these against it).
 * Addon-free, so the CLI parent and the trace format can name phases without loading the addon.
 * Lifetime: none (constants).
 * @module
 */

/** A phase of one libuv loop iteration, in the order libuv runs them. */
export type Phase = 'timers' | 'pending' | 'idle' | 'prepare' | 'poll' | 'check' | 'close' | 'unknown';

/** The phases uvscope has a marker for: the events `trace()` returns and listeners receive. */
export type MarkerPhase = 'idle' | 'prepare' | 'check' | 'timers' | 'close';

/** Phase names by code (index = the addon's phase code). @internal */
export const PHASE_NAMES: readonly Phase[] = ['unknown', 'timers', 'pending', 'idle', 'prepare', 'poll', 'check', 'close'];

/** The marker phase of each code in `TraceColumns.phases` (`LoopObserver.traceColumns()`). */
export const MARKER_PHASE_CODES: Readonly<Record<number, MarkerPhase>> = { 1: 'timers', 3: 'idle', 4: 'prepare', 6: 'check', 7: 'close' };
