// Loads the CommonJS agent.js from ES module code before agent.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./agent.js');
