// ESM entry of uvscope/prometheus: the CommonJS build (prometheus.ts) re-exported, so both module systems
// share one instance; ESM importers type-check against its own declarations (prometheus.d.mts).
export * from './prometheus.js';
