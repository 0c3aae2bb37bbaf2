/**
 * The CPU profile events a trace's HTML report draws its flame graphs of long iterations and
 * stalls from, picked out of the events as a trace file is streamed: Profile and ProfileChunk
 * events, at most MAX_KEPT_SAMPLES samples; past that a chunk keeps its nodes (later chunks'
 * samples may name them) and loses its samples, which are counted. Lifetime: one file's reading.
 * @internal
 * @module
 */
import type { TraceEvent } from '../../trace/format';

/** CPU samples kept in memory (about 16 bytes each). */
export const MAX_KEPT_SAMPLES = 2_000_000;

export class ProfileEventKeeper {
  readonly events: TraceEvent[] = [];
  /** CPU samples left out (their chunks kept with their nodes only). */
  samplesLeftOut = 0;
  #keptSamples = 0;

  add(event: TraceEvent): void {
    if (event.ph !== 'P') return;
    if (event.name === 'Profile') this.events.push(event);
    if (event.name !== 'ProfileChunk') return;
    const data = event.args?.data as { cpuProfile?: { nodes?: unknown[]; samples?: number[] } } | undefined;
    const n = data?.cpuProfile?.samples?.length ?? 0;
    if (this.#keptSamples + n <= MAX_KEPT_SAMPLES) {
      this.#keptSamples += n;
      this.events.push(event);
      return;
    }
    this.samplesLeftOut += n;
    if (data?.cpuProfile?.nodes?.length) this.events.push({ ...event, args: { data: { cpuProfile: { nodes: data.cpuProfile.nodes, samples: [] }, timeDeltas: [] } } });
  }

  /** The stderr line's tail that says what the flame graphs miss ('' when nothing). */
  leftOutNote(): string {
    return this.samplesLeftOut ? ` (${this.samplesLeftOut} CPU samples past the first ${MAX_KEPT_SAMPLES} left out of its flame graphs of long iterations and stalls)` : '';
  }
}
