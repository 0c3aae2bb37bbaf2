// Loads the CommonJS index.js from ES module code before index.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./index.js');
