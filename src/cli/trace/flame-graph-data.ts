/**
 * What the report's flame graphs draw, per thread with CPU samples: the whole run (the thread's
 * `cpuTree` from the trace's `uvscope` section when there is one: every sample of the run, also
 * those whose times were not kept; else the file's timed samples folded), and one graph per
 * long iteration and per stall (the timed samples inside it; the longest MAX_SPANS of each
 * kind per thread), each laid out and bounded (flame-graph-layout.ts), with one function table
 * for the report. Pure function of the trace and its model; JSON-ready.
 * @internal
 * @module
 */
import type { CpuTree } from '../../trace/cpu-tree';
import type { TraceFile, TraceModel } from '../../trace/trace-model';
import { FUNCTION_KINDS, FunctionRow, FunctionTable } from './flame-graph-functions';
import { FlameLayout, LayoutLimits, layoutFlameGraph, SPAN_LIMITS, WHOLE_RUN_LIMITS } from './flame-graph-layout';
import { foldSamples, threadSamples } from './flame-graph-samples';

/** Long iterations, and stalls, with a graph of their own per thread: the longest. */
export const MAX_SPANS = 30;

export interface FlameSpan {
  kind: 'long' | 'stall';
  label: string;
  /** ms from the start of the trace (the report's timeline clock). */
  fromMs: number;
  toMs: number;
  graph: FlameLayout;
}

export interface FlameThread {
  /** `${pid}:${tid}`, as in the trace model. */
  key: string;
  label: string;
  /** Where the whole-run graph comes from. */
  source: 'cpuTree' | 'samples';
  whole: FlameLayout;
  spans: FlameSpan[];
}

export interface FlameData {
  kinds: readonly string[];
  functions: FunctionRow[];
  threads: FlameThread[];
}

export interface FlameOptions {
  whole?: LayoutLimits;
  span?: LayoutLimits;
  maxSpans?: number;
}

export function flameGraphData(file: TraceFile, model: TraceModel, options: FlameOptions = {}): FlameData {
  const functions = new FunctionTable();
  const timed = threadSamples(file.traceEvents);
  const t0 = model.startUs;
  const maxSpans = options.maxSpans ?? MAX_SPANS;
  const threads: FlameThread[] = [];
  for (const t of model.threads) {
    // ThreadInfo.cpuTree (contract 2); read structurally so files from before it still work.
    const cpuTree = (t.info as { cpuTree?: CpuTree } | undefined)?.cpuTree;
    const samples = timed.get(t.key);
    const hasTree = !!cpuTree && Array.isArray(cpuTree.nodes) && cpuTree.samples > 0;
    if (!hasTree && !samples?.samples) continue;
    const intervalUs = hasTree ? cpuTree!.intervalUs : samples!.intervalUs;
    const whole = layoutFlameGraph(hasTree ? cpuTree! : foldSamples(samples!, -Infinity, Infinity, intervalUs), functions, options.whole ?? WHOLE_RUN_LIMITS);
    const spans: FlameSpan[] = [];
    if (samples?.samples) {
      const span = (kind: FlameSpan['kind'], label: string, fromUs: number, toUs: number) =>
        spans.push({
          kind,
          label,
          fromMs: round3((fromUs - t0) / 1000),
          toMs: round3((toUs - t0) / 1000),
          graph: layoutFlameGraph(foldSamples(samples, fromUs, toUs, intervalUs), functions, options.span ?? SPAN_LIMITS),
        });
      for (const l of [...t.long].sort((a, b) => b.durationMs - a.durationMs).slice(0, maxSpans)) {
        span('long', `${l.iteration === 0 ? 'startup' : `iteration ${l.iteration}`}: ${l.durationMs.toFixed(2)} ms`, l.startUs, l.startUs + l.durationMs * 1000);
      }
      for (const s of [...t.stalls].sort((a, b) => (b.dur ?? 0) - (a.dur ?? 0)).slice(0, maxSpans)) {
        span('stall', `stall: ${((s.dur ?? 0) / 1000).toFixed(2)} ms in ${String(s.args?.phase ?? 'the loop')}`, s.ts!, s.ts! + (s.dur ?? 0));
      }
    }
    threads.push({ key: t.key, label: `${t.process}: ${t.name}`, source: hasTree ? 'cpuTree' : 'samples', whole, spans });
  }
  return { kinds: FUNCTION_KINDS, functions: functions.rows(), threads };
}

/** The index of a thread's span that starts at `fromMs` (as flameGraphData rounded it), or -1. */
export function spanIndex(thread: FlameThread | undefined, kind: FlameSpan['kind'], fromMs: number): number {
  return thread ? thread.spans.findIndex((s) => s.kind === kind && s.fromMs === round3(fromMs)) : -1;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
