// ESM entry of uvscope/opentelemetry: the CommonJS build (opentelemetry.ts) re-exported, so both module systems
// share one instance; ESM importers type-check against its own declarations (opentelemetry.d.mts).
export * from './opentelemetry.js';
