/**
 * The wrapper source: sees Node's pool requests without async_hooks, through wrappers of the
 * functions and callback properties of Node's internal objects that start and complete them
 * (fs-requests.ts, dns-requests.ts, job-requests.ts, zlib-requests.ts), put in place while it
 * runs and taken away when it stops. It costs each pool request two clock reads and a few
 * calls, and nothing else: no hook runs for the application's other async resources or its
 * promises. It needs Node's fs, cares_wrap and zlib bindings and AsyncWrap.prototype
 * (node-internals.ts); where one cannot be reached it does not start, and the hook source sees
 * the requests instead. Per thread.
 * @internal
 * @module
 */
import { stopDnsRequests, trackDnsRequests, dnsBindingReachable } from './dns-requests';
import { fsBindingReachable, stopFsRequests, trackFsRequests } from './fs-requests';
import { jobsReachable, stopJobRequests, trackJobRequests } from './job-requests';
import type { RequestRecorder } from './recorder';
import { stopZlibRequests, trackZlibRequests, zlibBindingReachable } from './zlib-requests';

/** Whether everything the wrapper source needs can be reached on this thread. */
export function wrapperSourceAvailable(): boolean {
  return fsBindingReachable() && dnsBindingReachable() && zlibBindingReachable() && jobsReachable();
}

/** Starts the wrapper source into `recorder`; returns false (starting nothing) where it is not available. */
export function startWrapperSource(recorder: RequestRecorder): boolean {
  if (!wrapperSourceAvailable()) return false;
  trackFsRequests(recorder);
  trackDnsRequests(recorder);
  trackJobRequests(recorder);
  trackZlibRequests(recorder);
  return true;
}

/** Stops it: Node's objects are as they were; requests in flight still settle through their trampolines. */
export function stopWrapperSource(): void {
  stopFsRequests();
  stopDnsRequests();
  stopJobRequests();
  stopZlibRequests();
}
