/**
 * One event of a Chrome trace (JSON Object Format), as uvscope writes and reads them: the shape
 * every writer (format.ts, profile-events.ts, http-track.ts) and reader (trace-reader.ts) of
 * src/trace/ shares. A type only.
 * @internal
 * @module
 */
export interface TraceEvent {
  name: string;
  ph: 'X' | 'M' | 'C' | 'i' | 'I' | 'P' | 'b' | 'e';
  /** Profiles ('P'): the id pairing a Profile with its chunks. */
  id?: string;
  /** Async slices ('b'/'e'): the id pairing a begin with its end, process-scoped. */
  id2?: { local: string };
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}
