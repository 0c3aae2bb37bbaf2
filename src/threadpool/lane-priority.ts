/**
 * A lane's priority: with `priority: 'low'` its jobs run under SCHED_IDLE (native/threadpool/
 * job_priority.h: the pool thread is moved for the job and returned after it), so that fs,
 * dns.lookup and the loop's own thread take a CPU from them the moment they wake when more
 * threads are busy than there are CPUs (a lane cannot give fs a free CPU; this gives it the
 * CPU first). Returning a thread to its policy needs RLIMIT_NICE >= 20 (`ulimit -e`) or
 * CAP_SYS_NICE: the addon probes that once, on a thread of its own, and a lane asks for low
 * priority only where it holds; elsewhere createLane() throws ERR_UVSCOPE_PRIORITY_UNAVAILABLE.
 * Lifetime: the probe's answer is kept for the process.
 * @module
 */
import { codedError, invalidArgValue } from '../errors';
import { native } from '../native';

/** `'normal'` (default): the pool thread's own priority; `'low'`: SCHED_IDLE while the job runs (Linux). */
export type LanePriority = 'normal' | 'low';

let probed: string | undefined;

/** Why low priority cannot be had here ('' when it can); probed once. */
export function lowPriorityUnavailable(): string {
  probed ??= native.priorityProbe();
  return probed;
}

/** Validates `options.priority`; throws ERR_UVSCOPE_PRIORITY_UNAVAILABLE for 'low' where threads cannot be returned to their priority. */
export function lanePriority(priority: unknown): LanePriority {
  if (priority === undefined || priority === 'normal') return 'normal';
  if (priority !== 'low') throw invalidArgValue('options.priority', "must be 'normal' or 'low'", priority);
  const why = lowPriorityUnavailable();
  if (why !== '') throw codedError(`createLane: priority 'low' is unavailable: ${why}`, 'ERR_UVSCOPE_PRIORITY_UNAVAILABLE');
  return 'low';
}
