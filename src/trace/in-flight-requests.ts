/**
 * The HTTP requests still in flight when a recording ends (a traced program's exit, a flight
 * recorder's dump, the end of an attached window): the request that hangs is often the one
 * looked for, and it never finishes while recorded. At the end, the recorder turns the tracker's
 * list of requests in flight (loop/http-requests.ts `httpRequestsInFlight()`) into records that
 * end at the trace's end, flagged `inFlight` (channels.ts), drawn like the finished ones
 * (http-track.ts) with IN_FLIGHT_NOTE in their name. They are always kept in the detail (bounded
 * or not), the longest so far first, at most MAX_IN_FLIGHT_RECORDS per thread; the others are
 * counted as left out. Pure functions, addon-free. Lifetime: none.
 * @internal
 * @module
 */
import type { HttpRequestRecord } from '../channels';
import type { InFlightRequest } from '../loop/http-requests';

/** Requests in flight at the end kept per thread (the longest so far). */
export const MAX_IN_FLIGHT_RECORDS = 100;
/** What the name and the args of an in-flight request's slice say. */
export const IN_FLIGHT_NOTE = 'in flight at trace end';

/**
 * The records of the requests in `listing` at a trace's end `endNs`: those whose start the
 * tracker timed (a trace was recording: `startedAtNs` not 0n) and not after `endNs`, the
 * longest so far first, at most `max`; `leftOut`: how many of those were not kept.
 */
export function inFlightRecords(listing: readonly InFlightRequest[], endNs: bigint, max = MAX_IN_FLIGHT_RECORDS): { records: HttpRequestRecord[]; leftOut: number } {
  const timed = listing.filter((r) => r.startedAtNs !== 0n && r.startedAtNs <= endNs);
  timed.sort((a, b) => (a.startedAtNs < b.startedAtNs ? -1 : a.startedAtNs > b.startedAtNs ? 1 : a.id - b.id));
  const records = timed.slice(0, max).map(
    (r): HttpRequestRecord => ({ id: r.id, method: r.method, url: r.url, protocol: r.protocol, statusCode: 0, completed: false, startedAtNs: r.startedAtNs, endedAtNs: endNs, inFlight: true }),
  );
  return { records, leftOut: timed.length - records.length };
}
