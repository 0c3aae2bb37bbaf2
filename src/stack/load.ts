/**
 * Placeholder loader of the optional stack addon (replaced by the real loader on merge).
 * @internal
 * @module
 */
export interface StackAddon {
  provider(): unknown;
  abi: number;
}
export type StackAddonLoad = { ok: true; addon: StackAddon; path: string } | { ok: false; reason: string };

let cached: StackAddonLoad | undefined;
export function loadStackAddon(): StackAddonLoad {
  if (cached) return cached;
  const path = require('node:path').join(__dirname, '..', '..', 'build', 'Release', 'uvscope_stack.node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = { ok: true, addon: require(path) as StackAddon, path };
  } catch (error) {
    cached = { ok: false, reason: `the stack addon did not load: ${(error as Error).message}` };
  }
  return cached;
}
