// Loads the CommonJS watchdog.js from ES module code before watchdog.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./watchdog.js');
