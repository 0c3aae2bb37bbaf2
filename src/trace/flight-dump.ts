/**
 * A flight recorder's dump as plain data (FlightDump: what the loop thread snapshots; a worker
 * takes it by structured clone) and what turns it into the trace file (writeFlightDump: the
 * events made by a ProcessCollector as writeProcessTrace writes them beside the file, renamed).
 * Run off the loop thread by flight-dump-worker.ts. Addon-free.
 * Lifetime: none (types and a function).
 * @internal
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';

import { ProcessCollector } from './process-collector';
import { ProcessTraceStream, writeProcessTrace } from './session';
import type { ThreadBatch } from './thread-recorder';

export interface FlightDump {
  file: string;
  pid: number;
  title: string;
  reason: string;
  seconds: number;
  skippedDumps: number;
  blockMs: number;
  stallMs: number;
  /** The dump's time 0 (`seconds` before it began) and its end, monotonic ns. */
  horizonNs: bigint;
  nowNs: bigint;
  /** Per thread, when it began and its first marker, for threads whose first batch is gone. */
  starts: [number, { startNs: bigint; firstMarkerNs?: bigint }][];
  /** The kept batches, oldest first; then the main thread's figures so far. */
  batches: ThreadBatch[];
  final: NonNullable<ThreadBatch['final']>;
  stall?: { threadId: number; startedAtNs: bigint; durationNs: number; phase: string; reportCount: number };
}

/** Loop markers a dump holds at most (the flight recorder keeps no more). */
export const MAX_DUMP_MARKERS = 2_000_000;

const emptyColumns = () => ({ timesNs: new BigUint64Array(0), iterations: new Float64Array(0), phases: new Uint8Array(0), pollWaitsNs: new Float64Array(0) });
/** A batch with nothing in it, of thread `threadId`. */
export const emptyBatch = (threadId: number): ThreadBatch => ({ threadId, markers: emptyColumns(), droppedMarkers: 0, longIterations: [], utilization: [], jobs: [], requests: [], httpRequests: [], stalls: [] });

/** Builds the dump's trace and writes it to `dump.file` (its directory created when missing). */
export function writeFlightDump(dump: FlightDump): void {
  const { horizonNs, nowNs } = dump;
  const collector = new ProcessCollector({ maxMarkers: MAX_DUMP_MARKERS, maxRecords: 1_000_000 });
  const starts = new Map(dump.starts);
  // Each thread from the horizon (or its start, when later), its markers from the first kept.
  for (const threadId of new Set(dump.batches.map((b) => b.threadId))) {
    const start = starts.get(threadId);
    const startNs = start && start.startNs > horizonNs ? start.startNs : horizonNs;
    const firstMarkerNs = start && start.startNs > horizonNs ? start.firstMarkerNs : startNs;
    collector.add({ ...emptyBatch(threadId), startNs, ...(firstMarkerNs !== undefined ? { firstMarkerNs } : {}) });
  }
  for (const batch of dump.batches) collector.add(batch);
  collector.add({ ...emptyBatch(0), final: dump.final });
  // Made as written: the events are never all in memory at once.
  const { events, info } = collector.stream(dump.pid, dump.title, horizonNs, dump.blockMs * 1e6, nowNs);
  const stall = dump.stall;
  const trace: ProcessTraceStream & { uvscope: ProcessTraceStream['uvscope'] & { flight: Record<string, unknown> } } = {
    traceEvents: events,
    uvscope: {
      blockMs: dump.blockMs,
      stallMs: dump.stallMs,
      processes: [info],
      flight: {
        reason: dump.reason,
        seconds: dump.seconds,
        /** The horizon is the trace's time 0. */
        fromUs: 0,
        toUs: Number(nowNs - horizonNs) / 1000,
        skippedDumps: dump.skippedDumps,
        ...(stall
          ? { stall: { threadId: stall.threadId, startUs: Number(stall.startedAtNs - horizonNs) / 1000, durationMs: stall.durationNs / 1e6, phase: stall.phase, reportCount: stall.reportCount } }
          : {}),
      },
    },
  };
  fs.mkdirSync(path.dirname(dump.file), { recursive: true });
  writeProcessTrace(dump.file, trace);
}
