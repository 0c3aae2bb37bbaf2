// ESM entry of uvscope/watchdog: the CommonJS build (watchdog.ts) re-exported, so both module systems
// share one instance; ESM importers type-check against its own declarations (watchdog.d.mts).
export * from './watchdog.js';
