/**
 * The CPU samples of one thread's trace recording (thread-recorder.ts): a CpuProfiler on the
 * thread, its profiles folded into a CpuTreeBuilder (every sample of the run).
 * - `bounded`: the profile is taken in chunks of `cpuChunkMs` (30 s; see thread-recorder.ts for
 *   what a rotation costs the loop): the recorder asks at each flush whether the chunk is `due`
 *   and then `rotate`s it, which stops the profiler and starts the next chunk, folds the chunk
 *   into the tree and keeps its samples inside the detail spans with their times (a
 *   ProfileSplicer, profile-splicer.ts). Rotations are counted and timed, and the pause of the
 *   last one is held for the recorder's next long iteration (`takeRotationPause`).
 * - `full`: one chunk, the whole run, stopped by `stopWhole` at the end.
 * Lifetime: its recorder's: the profiler starts at construction (the recorder constructs this
 * first) and stops at the last `rotate` (bounded) or at `stopWhole` (full).
 * @internal
 * @module
 */
import { CpuProfile, CpuProfiler } from './cpu-profiler';
import { CpuTree, CpuTreeBuilder } from './cpu-tree';
import type { DetailSpan } from './detail-spans';
import { ProfileSplicer } from './profile-splicer';

/** The recorder's options the CPU chunks read (RecorderOptions holds them, documented there). */
export interface CpuChunkOptions {
  sampleUs: number;
  cpuChunkMs?: number;
  maxDetailSamples?: number;
}

/** The figures of a bounded recording's last batch (ThreadBatch['final']). */
export interface CpuChunkFigures {
  cpuSamplesOmitted?: number;
  cpuSamplesDropped?: number;
  cpuRotations?: number;
  cpuRotationMaxMs?: number;
  cpuRotationMeanMs?: number;
}

export class CpuChunks {
  readonly #options: CpuChunkOptions;
  #profiler?: CpuProfiler;
  #cpuUnavailable?: string;
  readonly #cpuTree?: CpuTreeBuilder;
  readonly #splicer?: ProfileSplicer;
  #chunkStartNs = process.hrtime.bigint();
  #rotations = 0;
  #rotationMaxMs = 0;
  #rotationTotalMs = 0;
  /** The pause of a rotation not yet followed by a long iteration report (cleared at each flush). */
  #lastRotationMs = 0;

  /** No profiler when `sampleUs` is 0, or when it cannot start (see `unavailable`). */
  constructor(options: CpuChunkOptions, bounded: boolean) {
    this.#options = options;
    if (options.sampleUs > 0) {
      this.#startProfiler();
      if (this.#profiler) {
        this.#cpuTree = new CpuTreeBuilder(options.sampleUs);
        if (bounded) this.#splicer = new ProfileSplicer(options.maxDetailSamples ?? 500_000);
      }
    }
  }

  /** Why there are no CPU samples when they were asked for. */
  get unavailable(): string | undefined {
    return this.#cpuUnavailable;
  }

  /** The profiler is running (a chunk is open). */
  get running(): boolean {
    return this.#profiler !== undefined;
  }

  #startProfiler(): void {
    try {
      const profiler = new CpuProfiler();
      profiler.start(this.#options.sampleUs);
      this.#profiler = profiler;
      this.#chunkStartNs = process.hrtime.bigint();
    } catch (error) {
      this.#profiler = undefined;
      this.#cpuUnavailable = String((error as Error).message).split('\n')[0];
    }
  }

  /** Bounded: the current chunk is `cpuChunkMs` old at `nowNs` (false with no profiler running). */
  due(nowNs: bigint): boolean {
    return !!this.#profiler && nowNs - this.#chunkStartNs >= BigInt(this.#options.cpuChunkMs ?? 30_000) * 1_000_000n;
  }

  /** Bounded: ends the CPU chunk (folds it, keeps its samples in the spans) and starts the next unless `last`. */
  rotate(last: boolean, spans: readonly DetailSpan[]): void {
    const profiler = this.#profiler;
    if (!profiler) return;
    const beganNs = process.hrtime.bigint();
    let profile: CpuProfile | undefined;
    try {
      profile = profiler.stop();
    } catch (error) {
      this.#cpuUnavailable = String((error as Error).message).split('\n')[0];
    }
    this.#profiler = undefined;
    if (!last) this.#startProfiler();
    if (!last) {
      this.#rotations++;
      const ms = Number(process.hrtime.bigint() - beganNs) / 1e6;
      this.#lastRotationMs = ms;
      this.#rotationMaxMs = Math.max(this.#rotationMaxMs, ms);
      this.#rotationTotalMs += ms;
    }
    if (!profile) return;
    this.#cpuTree?.addProfile(profile);
    this.#splicer?.add(profile, spans);
  }

  /** The pause of the last rotation not yet taken (0: none), ms; forgets it. */
  takeRotationPause(): number {
    const ms = this.#lastRotationMs;
    this.#lastRotationMs = 0;
    return ms;
  }

  /** Full: stops the profiler and folds the whole run's profile. */
  stopWhole(): { profile?: CpuProfile; cpuTree?: CpuTree } {
    let profile: CpuProfile | undefined;
    let cpuTree: CpuTree | undefined;
    try {
      profile = this.#profiler?.stop();
    } catch (error) {
      this.#cpuUnavailable = String((error as Error).message).split('\n')[0];
    }
    if (profile && this.#cpuTree) {
      this.#cpuTree.addProfile(profile);
      cpuTree = this.#cpuTree.tree();
    }
    return { profile, cpuTree };
  }

  /** Bounded: the kept samples with their times, as one profile. */
  profile(): CpuProfile | undefined {
    return this.#splicer?.profile();
  }

  /** Every folded sample so far. */
  tree(): CpuTree | undefined {
    return this.#cpuTree?.tree();
  }

  /** Samples whose times were not kept (outside the detail spans). */
  get omitted(): number {
    return this.#splicer?.omitted ?? 0;
  }

  /** Kept samples dropped past the cap. */
  get dropped(): number {
    return this.#splicer?.dropped ?? 0;
  }

  /** Forgets kept CPU sample times before `ns` (the flight recorder's horizon). */
  forgetSamplesBefore(ns: bigint): void {
    this.#splicer?.forgetBefore(ns);
  }

  /** Bounded with samples: the figures of the last batch; otherwise none. */
  figures(): CpuChunkFigures {
    const splicer = this.#splicer;
    if (!splicer) return {};
    return { cpuSamplesOmitted: splicer.omitted, cpuSamplesDropped: splicer.dropped, cpuRotations: this.#rotations, cpuRotationMaxMs: this.#rotationMaxMs, cpuRotationMeanMs: this.#rotations ? this.#rotationTotalMs / this.#rotations : 0 };
  }
}
