'use strict';
/*
 * The measured child of bench/observer.js: one configuration (configs.js), a warm-up chain and
 * one measured chain of setImmediate turns, then sanity checks; answers with one JSON line
 * (CPU and wall time per turn, context switches, what the observer counted).
 *
 * Options (JSON argument): { config, turns, warmup, drainEvery }.
 *
 * Every child loads uvscope, the yardstick addon and @datadog/native-metrics whatever its
 * configuration, so every child carries the same code; only the configuration decides which
 * loop watchers exist.
 */

const { childMain, fail } = require('../lib/children');
const { yardstick } = require('../lib/addons');
const { LIB } = require('../lib/main');
const { TRACE_CAPACITY, DRAINED_TRACES } = require('./configs');

/**
 * Runs `turns` setImmediate turns: each callback schedules the next, so each turn is one
 * loop iteration. Every `every` turns (counting down) it calls hook(). Resolves with the
 * CPU and wall time of the whole chain, taken synchronously in the last turn.
 */
function runChain(turns, every, hook) {
  return new Promise((resolve) => {
    let left = turns;
    let cpu0;
    let wall0;
    let ru0;
    function step() {
      if (--left % every === 0) {
        if (left === 0) {
          const wallNs = process.hrtime.bigint() - wall0;
          const cpu = process.cpuUsage(cpu0);
          const ru = process.resourceUsage();
          resolve({
            wallNs: Number(wallNs),
            userUs: cpu.user,
            systemUs: cpu.system,
            voluntaryCtxSw: ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches,
            involuntaryCtxSw: ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches,
            minorFaults: ru.minorPageFault - ru0.minorPageFault,
            startNs: wall0,
          });
          return;
        }
        hook();
      }
      setImmediate(step);
    }
    ru0 = process.resourceUsage();
    cpu0 = process.cpuUsage();
    wall0 = process.hrtime.bigint();
    setImmediate(step);
  });
}

/**
 * Trace bookkeeping: events counted per phase (a switch on the interned phase strings, so
 * counting stays cheap); the CPU time of the drain call itself (trace() converts the native
 * buffer into PhaseEvent objects, traceColumns() into typed arrays) is measured on its own.
 */
function makeTraceCounter(observer, columns) {
  const phases = { idle: 0, prepare: 0, check: 0, timers: 0, close: 0, other: 0 };
  const drain = { calls: 0, events: 0, cpuUs: 0, wallNs: 0 };
  const countEvents = (events) => {
    for (let i = 0; i < events.length; i++) {
      switch (events[i].phase) {
        case 'prepare': phases.prepare++; break;
        case 'check': phases.check++; break;
        case 'timers': phases.timers++; break;
        case 'close': phases.close++; break;
        case 'idle': phases.idle++; break;
        default: phases.other++;
      }
    }
    drain.events += events.length;
  };
  // traceColumns(): counted from the phase codes (4 prepare, 6 check, 1 timers, 7 close, 3 idle).
  const CODE_NAMES = { 1: 'timers', 3: 'idle', 4: 'prepare', 6: 'check', 7: 'close' };
  const countColumns = (drained) => {
    const codes = drained.phases;
    for (let i = 0; i < codes.length; i++) phases[CODE_NAMES[codes[i]] ?? 'other']++;
    drain.events += codes.length;
  };
  return {
    phases,
    drain,
    /** The timed drain, called from the chain. */
    hook() {
      const c0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      const drained = columns ? observer.traceColumns() : observer.trace();
      drain.wallNs += Number(process.hrtime.bigint() - w0);
      const c = process.cpuUsage(c0);
      drain.cpuUs += c.user + c.system;
      drain.calls++;
      if (columns) countColumns(drained);
      else countEvents(drained);
    },
    /** An untimed drain: what is left after the chain. */
    drainOnce: () => (columns ? countColumns(observer.traceColumns()) : countEvents(observer.trace())),
    reset() {
      for (const key of Object.keys(phases)) phases[key] = 0;
      Object.assign(drain, { calls: 0, events: 0, cpuUs: 0, wallNs: 0 });
    },
  };
}

async function runConfig({ config, turns, warmup, drainEvery }) {
  const { LoopObserver, StallWatchdog } = require(LIB);
  const watchers = yardstick.load();
  // The comparison's addon loads everywhere too; loading it initialises its (stopped) handles.
  const ddMetrics = require('@datadog/native-metrics');
  let ddStarted = false;
  let watchdog = null;
  const extra = {};
  let observer = null;
  let hook = () => {};
  let tracer = null;
  let eldHistogram = null;

  if (Object.hasOwn(DRAINED_TRACES, config)) {
    const { markers, columns } = DRAINED_TRACES[config];
    observer = new LoopObserver(markers ? { traceCapacity: TRACE_CAPACITY, phaseMarkers: true } : { traceCapacity: TRACE_CAPACITY }).start();
    tracer = { ...makeTraceCounter(observer, columns), markers };
    hook = tracer.hook;
  } else {
    switch (config) {
      case 'baseline':
        break;
      case 'empty':
        watchers.start('empty');
        break;
      case 'clock2':
        watchers.start('clock');
        break;
      case 'stats':
        observer = new LoopObserver({ traceCapacity: 0 }).start();
        break;
      case 'datadog':
        // start() with no argument also installs V8 GC callbacks; 'loop' enables only its loop
        // watchers (a prepare+check pair), which is what compares with the observer.
        ddMetrics.start('loop');
        ddStarted = true;
        break;
      case 'trace-bounded': {
        // The recorder `uvscope trace` runs in each thread (bounded mode is its default).
        const path = require('node:path');
        const { ThreadRecorder } = require(path.join(LIB, 'trace', 'thread-recorder.js'));
        const recorder = new ThreadRecorder({ detail: 'bounded', blockMs: 20, sampleUs: 0, traceCapacity: TRACE_CAPACITY });
        const flushes = { calls: 0, windows: 0, markersKept: 0, leftOut: 0 };
        hook = () => {
          const batch = recorder.flush();
          flushes.calls++;
          flushes.windows += batch.windows.length;
          flushes.markersKept += batch.markers.timesNs.length;
          flushes.leftOut += batch.left.markers;
        };
        extra.bounded = flushes;
        extra.finishRecorder = () => recorder.finish();
        break;
      }
      case 'flight': {
        const path = require('node:path');
        const { FlightRecorder } = require(path.join(LIB, 'trace', 'flight-recorder.js'));
        const flight = new FlightRecorder({ seconds: 60, stallMs: 1000, signal: null });
        extra.finishRecorder = () => {
          const stats = flight.stats();
          flight.close();
          return stats;
        };
        break;
      }
      case 'stats-watchdog':
        observer = new LoopObserver({ traceCapacity: 0 }).start();
        watchdog = new StallWatchdog({ thresholdMs: 1000, stacks: false }).start();
        break;
      case 'markers':
        observer = new LoopObserver({ traceCapacity: 0, phaseMarkers: true }).start();
        break;
      case 'trace-nodrain':
        // Recording alone: nothing is drained, the ring overwrites its oldest entries.
        observer = new LoopObserver({ traceCapacity: TRACE_CAPACITY }).start();
        break;
      case 'eld': {
        // Node's own per-iteration sampler, the built-in uvscope's stats mode is compared with.
        const [major] = process.versions.node.split('.').map(Number);
        if (major < 24) fail(`eld: monitorEventLoopDelay({ samplePerIteration }) needs Node 24+, this is ${process.version}`);
        const { monitorEventLoopDelay } = require('node:perf_hooks');
        const histogram = monitorEventLoopDelay({ samplePerIteration: true });
        histogram.enable();
        eldHistogram = histogram;
        break;
      }
      case 'listener': {
        observer = new LoopObserver().start();
        // First prove that a check listener is called once per turn, then measure the empty one.
        let calls = 0;
        const counting = () => calls++;
        observer.on('check', counting);
        await runChain(200, 1e9, () => {});
        observer.off('check', counting);
        if (calls < 199) fail(`a 'check' listener ran ${calls} times in 200 turns`);
        extra.probeCalls = calls;
        observer.on('check', () => {});
        break;
      }
      default:
        throw new Error(`unknown configuration ${config}`);
    }
  }

  // Warm-up: same chain, same code path, so the measured chain runs optimised code. The
  // observer's window and trace are then reset so they describe the measured chain only.
  if (warmup > 0) await runChain(warmup, drainEvery, hook);
  if (eldHistogram) eldHistogram.reset();
  if (ddStarted) ddMetrics.stats(); // stats() resets its histogram: count the measured chain only
  if (observer) {
    observer.trace(); // discard warm-up events (reset() clears them too)
    observer.reset();
    tracer?.reset();
  }

  const run = await runChain(turns, drainEvery, hook);

  // Sanity, outside the measured chain.
  if (eldHistogram) {
    eldHistogram.disable();
    // One sample per iteration, or samplePerIteration was not honoured.
    if (Math.abs(eldHistogram.count - turns) > Math.max(100, turns / 100)) {
      fail(`eld: ${eldHistogram.count} samples for ${turns} turns: samplePerIteration not in effect`);
    }
    extra.eldSamples = eldHistogram.count;
    extra.eldP50Ns = eldHistogram.percentile(50);
  }
  if (observer) {
    const s = observer.stats();
    extra.iterations = s.iterations;
    extra.loopCount = s.loopCount;
    // Where each turn's time went, by the observer's own account (medians, ns).
    extra.observed = {
      iterationP50: s.iteration.p50,
      pollWorkP50: s.pollWork.p50,
      pollWaitP50: s.pollWait.p50,
      outsidePollP50: s.outsidePoll.p50,
      iterationMean: s.iteration.mean,
    };
    if (!(s.iterations >= turns)) fail(`${config}: stats().iterations = ${s.iterations} < turns = ${turns}`);
    if (s.iterations > turns + Math.max(100, turns / 100)) {
      fail(`${config}: stats().iterations = ${s.iterations}, far more than the ${turns} turns`);
    }
    if (config === 'listener' && observer.listenerCount('check') !== 1) fail('listener: the check listener is gone');
  }
  if (tracer) {
    const dropped = observer.traceDropped;
    if (dropped !== 0) fail(`${config}: ${dropped} trace events dropped (drain more often: --drain-every)`);
    tracer.drainOnce(); // the rest, untimed
    const { phases, drain } = tracer;
    const perTurn = tracer.markers ? ['prepare', 'check', 'timers', 'close'] : ['prepare', 'check'];
    for (const phase of Object.keys(phases)) {
      const expected = perTurn.includes(phase) ? turns : 0;
      if (Math.abs(phases[phase] - expected) > 2) {
        fail(`${config}: ${phases[phase]} '${phase}' trace events for ${turns} turns (expected ${expected} ± 2)`);
      }
    }
    extra.traceEvents = drain.events;
    extra.tracePhases = { ...phases };
    extra.traceDropped = dropped;
    extra.drain = { ...drain };
  }
  if (config === 'trace-nodrain') {
    const s = observer.stats();
    const recorded = s.trace.buffered + s.trace.dropped;
    if (s.trace.buffered !== TRACE_CAPACITY || Math.abs(recorded - 4 * turns) > 8) {
      fail(`trace-nodrain: ${recorded} events recorded for ${turns} turns (expected ${4 * turns} ± 8)`);
    }
    extra.traceEvents = recorded;
    extra.traceDropped = s.trace.dropped;
  }
  if (ddStarted) {
    const loop = ddMetrics.stats().eventLoop;
    ddMetrics.stop();
    // One histogram entry per check callback, i.e. per iteration.
    if (!(Math.abs(loop.count - turns) <= Math.max(100, turns / 100))) {
      fail(`datadog: its loop histogram counted ${loop.count} iterations for ${turns} turns`);
    }
    extra.datadogCount = loop.count;
  }
  if (watchdog) {
    const w = watchdog.stats();
    if (!watchdog.running) fail('stats-watchdog: the watchdog is not running');
    // A 1 s stall during a chain of setImmediate turns would mean the measurement is broken.
    if (w.stalls !== 0) fail(`stats-watchdog: the watchdog saw ${w.stalls} stall(s) during the chain`);
    extra.watchdogStalls = w.stalls;
    watchdog.close();
  }
  if (config === 'empty' || config === 'clock2') {
    if (!watchers.active()) fail(`${config}: the yardstick's watchers are not active`);
    if (config === 'clock2' && !(watchers.sink() >= run.startNs)) {
      fail('clock2: the yardstick clock callbacks did not run during the chain');
    }
  }

  if (extra.finishRecorder) {
    const last = extra.finishRecorder();
    delete extra.finishRecorder;
    if (config === 'trace-bounded') {
      // Every turn is in a window: the windows' iterations add up to the turns run (warm-up included).
      const windows = extra.bounded.windows + last.windows.length;
      if (windows < 1) fail('trace-bounded: no window closed');
      extra.bounded.windows = windows;
      extra.bounded.iterations = last.final.iterations;
      if (last.final.iterations < turns) fail(`trace-bounded: the recorder counted ${last.final.iterations} iterations for ${turns} turns`);
    } else if (last.dumps !== 0) fail(`flight: ${last.dumps} dumps during the chain`);
  }
  if (observer) observer.close();
  watchers.stop();
  const { startNs, ...timing } = run;
  const cpuNs = (timing.userUs + timing.systemUs) * 1000;
  return {
    config,
    turns,
    warmup,
    ...timing,
    cpuNs,
    cpuNsPerTurn: cpuNs / turns,
    wallNsPerTurn: timing.wallNs / turns,
    maxRssKb: process.resourceUsage().maxRSS,
    ...extra,
  };
}

childMain(runConfig, { label: (options) => options.config });
