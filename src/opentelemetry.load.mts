// Loads the CommonJS opentelemetry.js from ES module code before opentelemetry.mts re-exports it
// (why: there).
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./opentelemetry.js');
