// Loads the CommonJS prometheus.js from ES module code before prometheus.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./prometheus.js');
