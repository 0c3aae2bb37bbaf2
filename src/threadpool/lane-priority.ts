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
import { JobFlag, native, NativeWorkQueue } from '../native';

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

/** The submissions of a NativeWorkQueue: each takes `control` (cancelId * Span + flags) last. */
const SUBMISSIONS = [
  'noop', 'spin', 'sleep', 'hash', 'hashMany', 'hmac', 'hashFile', 'pbkdf2', 'scrypt',
  'hasherUpdate', 'hasherDigest', 'cipher', 'cipherUpdate', 'cipherFinal', 'hkdf', 'argon2', 'probe', 'hold',
] as const satisfies readonly (keyof NativeWorkQueue)[];
/** Its other methods. */
const OTHERS = ['cancel', 'stats', 'resetStats', 'buckets', 'setReporter'] as const satisfies readonly (keyof NativeWorkQueue)[];
// A method added to NativeWorkQueue and to neither list is a compile error here.
const EVERY_METHOD: Exclude<keyof NativeWorkQueue, (typeof SUBMISSIONS)[number] | (typeof OTHERS)[number]> extends never ? true : never = true;
void EVERY_METHOD;

/** `pool`, with `flag` added to every submission's `control`; its other methods as they are. */
export function withJobFlag(pool: NativeWorkQueue, flag: JobFlag): NativeWorkQueue {
  const methods = pool as unknown as Record<string, (...args: unknown[]) => unknown>;
  const flagged: Record<string, (...args: unknown[]) => unknown> = {};
  for (const name of OTHERS) flagged[name] = methods[name].bind(pool);
  for (const name of SUBMISSIONS) {
    const submit = methods[name].bind(pool);
    flagged[name] = (...args: unknown[]) => {
      args[args.length - 1] = (args[args.length - 1] as number) + flag;
      return submit(...args);
    };
  }
  return flagged as unknown as NativeWorkQueue;
}
