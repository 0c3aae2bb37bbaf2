/**
 * The saturation monitor: a no-op probe job every `intervalMs`, its queue wait sampled and
 * published on SATURATION_CHANNEL (`monitorSaturationOn`; the public `monitorSaturation` in
 * threadpool.ts runs it on the default pool's queue). Lifetime: until `stop()`; unref'd.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';

import { SATURATION_CHANNEL, SaturationEvent } from '../channels';
import { validateNumber, validateObject } from '../errors';
import { HistogramSummary, summarize } from '../histogram/summary';
import { JobFlag, NativeWorkQueue } from '../native';

/** Queue-wait samples taken by `monitorSaturation()`. */
export interface SaturationStats {
  /** Distribution of the queue wait of no-op probe jobs, ns. */
  queueWait: HistogramSummary;
  /** The latest sample, ns. */
  lastNs: number;
  /** Ticks skipped because the previous probe had not come back yet. */
  skipped: number;
}

/** A running saturation monitor. */
export interface SaturationMonitor {
  stats(): SaturationStats;
  stop(): void;
}

/** @internal `monitorSaturation`'s work, on `queue`. */
export function monitorSaturationOn(queue: NativeWorkQueue, options: { intervalMs?: number; maxSamples?: number }): SaturationMonitor {
  validateObject('options', options);
  const intervalMs = options?.intervalMs ?? 100;
  const maxSamples = options?.maxSamples ?? 10_000;
  validateNumber('options.intervalMs', intervalMs, { min: 1, max: 3_600_000 });
  validateNumber('options.maxSamples', maxSamples, { min: 1, max: 10_000_000, integer: true });
  const samples: number[] = [];
  let lastNs = 0;
  let skipped = 0;
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight) {
      skipped++;
      return;
    }
    inFlight = true;
    const probe = queue.probe(JobFlag.ExcludeStats | JobFlag.ResolveQueueWait)!;
    probe.then(
      (waitNs) => {
        inFlight = false;
        lastNs = waitNs;
        samples.push(waitNs);
        if (samples.length > maxSamples) samples.shift();
        const event: SaturationEvent = { queueWaitNs: waitNs };
        diagnosticsChannel.channel(SATURATION_CHANNEL).publish(event);
      },
      () => {
        inFlight = false;
      },
    );
  }, intervalMs);
  timer.unref();
  return {
    stats: () => ({ queueWait: summarize(samples), lastNs, skipped }),
    stop: () => clearInterval(timer),
  };
}
