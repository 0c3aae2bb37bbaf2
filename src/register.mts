// ESM entry of uvscope/register: the CommonJS build (register.ts) re-exported, so both module systems
// share one instance; ESM importers type-check against its own declarations (register.d.mts).
export * from './register.js';
