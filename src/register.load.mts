// Loads the CommonJS register.js from ES module code before register.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./register.js');
