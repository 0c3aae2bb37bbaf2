/**
 * Job flags on a whole queue: `withJobFlag` wraps a NativeWorkQueue so that every submission's
 * `control` word (cancelId * JobFlag.Span + JobFlag bits; the bits are declared in
 * src/native.ts) carries a flag more, as a lane's jobs carry JobFlag.Spread (and
 * JobFlag.LowPriority) whichever ThreadPool call submits them. Lifetime: stateless; a wrapped
 * queue lives as long as its holder (a lane's admission, lane-admission.ts).
 * @module
 */
import { JobFlag, NativeWorkQueue } from '../native';

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
