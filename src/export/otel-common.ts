/**
 * What the OpenTelemetry instruments and the metric producer share: the package version for
 * the instrumentation scope, the validation of `options.attributes`, and the descriptions of
 * the pool-thread instruments.
 * @internal
 * @module
 */
import type { Attributes } from '@opentelemetry/api';

import { invalidArgType, validateObject } from '../errors';

export function packageVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function validateAttributes(attributes: unknown): Attributes {
  validateObject('options.attributes', attributes);
  const result: Attributes = {};
  for (const [key, value] of Object.entries(attributes ?? {})) {
    const ok =
      ['string', 'number', 'boolean'].includes(typeof value) ||
      (Array.isArray(value) && value.every((v) => v == null || ['string', 'number', 'boolean'].includes(typeof v)));
    if (!ok) throw invalidArgType(`options.attributes.${key}`, 'a string, number, boolean or array of them', value);
    result[key] = value as Attributes[string];
  }
  return result;
}

/** Descriptions of the pool-thread instruments, registerUvMetrics' and UvMetricProducer's. */
export const POOL_THREAD_TEXT = {
  cpu: 'Time the pool threads spent on a CPU running any work (fs, dns.lookup, zlib, node:crypto, addons, uvscope), ' +
    'summed over the threads, each since the exporter first saw it.',
  wait: 'Time the pool threads were runnable but waiting for a CPU (oversubscription), summed over the threads, ' +
    'each since the exporter first saw it.',
  threads: 'Pool threads found and measured by the thread time counters (a counter\'s rate divided by this is a ratio per thread).',
} as const;
