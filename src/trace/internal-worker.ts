/**
 * uvscope's own worker threads (a flight recorder's dump writer) carry a key in their
 * `workerData`: the preloads (register.ts, watchdog.ts), which Node runs in every worker of a
 * process started with them (NODE_OPTIONS included), do nothing there.
 * Lifetime: none (a constant and a check).
 * @internal
 * @module
 */
import { isMainThread, workerData } from 'node:worker_threads';

/** The `workerData` key of uvscope's own workers. */
export const INTERNAL_WORKER_KEY = 'uvscopeInternalWorker';

/** True in a worker thread uvscope started for itself. */
export function isInternalWorker(): boolean {
  return !isMainThread && typeof workerData === 'object' && workerData !== null && INTERNAL_WORKER_KEY in workerData;
}
