/**
 * The worker thread that writes one flight recorder dump (flight-dump.ts) off the loop thread:
 * it takes the snapshot from `workerData.dump`, writes the file, answers `{ ok: true }` or
 * `{ ok: false, message, code }`, and ends. Started by flight-recorder.ts, one per dump.
 * Lifetime: one dump.
 * @internal
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

import { FlightDump, writeFlightDump } from './flight-dump';

try {
  writeFlightDump((workerData as { dump: FlightDump }).dump);
  parentPort!.postMessage({ ok: true });
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  parentPort!.postMessage({ ok: false, message: String(e?.message ?? e), code: typeof e?.code === 'string' ? e.code : undefined });
}
