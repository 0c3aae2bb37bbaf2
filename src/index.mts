// ESM entry: the CommonJS build re-exported, so `import { LoopObserver } from 'uvscope'` works.
export * from './index.js';
