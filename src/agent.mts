// ESM entry of uvscope/agent: the CommonJS build (agent.ts) re-exported, so both module
// systems share one instance; ESM importers type-check against its own declarations
// (agent.d.mts). agent.load.mts runs first and requires the CommonJS module from ES module
// code: a module that throws while loading (a missing optional peer, no native build) then rejects
// the import. Without it, Node 20 also reports that throw as an uncaught exception (and exits) when
// it comes from the CommonJS dependency of an ES module; Node 22 and later only reject.
import './agent.load.mjs';
export * from './agent.js';
