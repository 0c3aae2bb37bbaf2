'use strict';
// The configurations bench/observer.js compares, what each one is, and its target or reference
// ratio; read by the parent (choice, report) and the chain child (trace ring size).

/** Ring buffer size of the trace configurations. Every loop iteration records 2 events
 *  (prepare, check), 4 with phase markers (timers and close too). */
const TRACE_CAPACITY = 65536;

const CONFIGS = {
  baseline: { about: 'no observer' },
  empty: { about: 'yardstick: empty prepare+check pair, unref', reference: '1.04' },
  clock2: { about: 'yardstick: prepare+check, each stores uv_hrtime()', reference: '1.09-1.10' },
  stats: { about: 'LoopObserver stats mode (traceCapacity 0, no listeners)', target: 1.07 },
  trace: { about: `LoopObserver traceCapacity ${TRACE_CAPACITY}, trace() drained`, target: 1.2 },
  'trace-markers': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY} + phaseMarkers, trace() drained` },
  'trace-columns': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY}, traceColumns() drained (typed arrays)`, target: 1.2 },
  'trace-columns-markers': { about: `LoopObserver traceCapacity ${TRACE_CAPACITY} + phaseMarkers, traceColumns() drained (as uvscope trace)` },
  listener: { about: "LoopObserver + on('check', () => {})" },
  datadog: {
    about: "@datadog/native-metrics start('loop'): its own prepare+check pair (clock reads, backend timeout, histogram)",
  },
  'stats-watchdog': { about: 'stats mode + a started StallWatchdog({ thresholdMs: 1000, stacks: false })' },
  'trace-bounded': {
    about: `uvscope trace's recorder in bounded mode (traceCapacity ${TRACE_CAPACITY} + phaseMarkers, windows summed natively, ring trimmed at each flush(); no CPU samples, no watchdog), flush() every drain interval`,
    target: 1.1,
  },
  flight: { about: 'FlightRecorder({ seconds: 60, stallMs: 1000, signal: null }): bounded recorder + watchdog, flushed by its own 100 ms timer (compare with stats-watchdog)' },
  // Diagnostics, run only when named in --configs: they split the observer's cost apart.
  markers: { about: 'diag: stats mode + phaseMarkers: true', diagnostic: true },
  eld: {
    about: 'perf_hooks.monitorEventLoopDelay({ samplePerIteration: true }) (Node 24+; run this script with that node)',
    diagnostic: true,
  },
  'trace-nodrain': { about: `diag: traceCapacity ${TRACE_CAPACITY}, never drained (ring overwrites)`, diagnostic: true },
};
const DEFAULT_CONFIGS = Object.keys(CONFIGS).filter((name) => !CONFIGS[name].diagnostic);

/** The drained trace configurations: phase markers on, and drained as columns or as objects. */
const DRAINED_TRACES = {
  trace: { markers: false, columns: false },
  'trace-markers': { markers: true, columns: false },
  'trace-columns': { markers: false, columns: true },
  'trace-columns-markers': { markers: true, columns: true },
};

module.exports = { TRACE_CAPACITY, CONFIGS, DEFAULT_CONFIGS, DRAINED_TRACES };
