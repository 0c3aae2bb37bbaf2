/**
 * Finds and loads the optional per-ABI stack addon (uvscope_stack.node, native/stack/), which
 * captures a thread's JavaScript stack for the stall watchdog. `UVSCOPE_STACK_ADDON=off` turns it
 * off (nothing is loaded). Otherwise tried in order:
 *   1. `UVSCOPE_STACK_ADDON` (a path; sanitizer builds set it),
 *   2. build/Release/uvscope_stack.node (a local `node-gyp` build, for this Node only),
 *   3. prebuilds/<platform>-<arch>/uvscope_stack.abi<process.versions.modules>.node (on musl
 *      Linux `.abi<ABI>.musl.node`: names as in scripts/prebuild-targets.js).
 * A file built for another Node ABI refuses to load, and the next one is tried. The result is
 * cached per thread (module state is per thread: each worker loads its own copy). Never throws.
 * @internal
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';

/** A `{status, frames, ...}` record of the addon's test hook (`_takeResult()`). */
export interface StackHookResult {
  /** What happened to the hook's first request: done() status, or request()'s refusal. */
  status: 'captured' | 'cancelled' | 'busy' | 'gone' | 'none';
  /** What each request() of the batch returned, in order. */
  requests: Array<'queued' | 'busy' | 'gone'>;
  /** How many times done() was called for the batch (exactly 1 when queued). */
  doneCalls: number;
  /** Innermost first; line and column 1-based, 0 when unknown. */
  frames: Array<{ functionName: string; url: string; line: number; column: number }>;
  /** uv_hrtime() just before the first request(). */
  requestedAtNs: bigint;
  /** uv_hrtime() when the stack was taken (0n when cancelled or not queued). */
  capturedAtNs: bigint;
  /** What done() got of the async context (when captured). */
  context?: { executionAsyncId: number; triggerAsyncId: number; requestId: number; json?: string; unavailable?: string };
}

/** Process-wide request totals over every provider of the process. */
export interface StackCounters {
  queued: number;
  busy: number;
  gone: number;
  captured: number;
  cancelled: number;
  /** Interrupts that ran after their request was cancelled (and did nothing). */
  stale: number;
  /** Threads inside `_blockUntilQueued()` now. */
  blocking: number;
}

/** What uvscope_stack.node exports (native/stack/stack_addon.cc). */
export interface StackAddon {
  /** A Node-API External wrapping this thread's `uvscope_stack_provider*` (stack_provider.h). */
  provider(): object;
  /** The NODE_MODULE_VERSION the file was built for. */
  readonly abi: number;
  /** UVSCOPE_STACK_PROVIDER_VERSION. */
  readonly providerVersion: number;
  /**
   * What the interrupt reads of the async context on this thread (native/stack/async_context.h):
   * uvscope's request storage and the user's storage (AsyncLocalStorage instances or
   * undefined), the user's fields (a JSON key and a path of property / Map-key steps each), and
   * whether AsyncLocalStorage lives in async context frames on this Node.
   */
  setContextLookup(requestStorage: object | undefined, userStorage: object | undefined, names: string[], paths: string[][], framesInUse: boolean): void;
  /** Test hook: a native thread waits `delayMs` (or, `gated`, for `_openGate()`), then calls request() `count` times. */
  _requestFromThread(delayMs: number, maxFrames?: number, count?: number, gated?: boolean): void;
  /** Test hook: request() `count` times on this thread, in one native call. */
  _requestNow(maxFrames?: number, count?: number): void;
  /** Test hook: joins the request thread; the result once final, else undefined. */
  _takeResult(): StackHookResult | undefined;
  /** Test hook: releases every gated request thread of the process. */
  _openGate(): void;
  /** Test hook: blocks in native code until this thread's hook request is queued; its uv_hrtime() on return, 0n on timeout. */
  _blockUntilQueued(timeoutMs?: number): bigint;
  /** Test hook: process-wide totals. */
  _counters(): StackCounters;
}

export type StackAddonLoad = { ok: true; addon: StackAddon; path: string } | { ok: false; reason: string };

const ROOT = path.join(__dirname, '..', '..');

/** musl Linux by node-gyp-build's rule (LIBC, else Alpine's release file), so both addons agree. */
function isMusl(): boolean {
  if (process.platform !== 'linux') return false;
  return (process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc')) === 'musl';
}

/** The files tried, in order, with where each came from. */
export function stackAddonCandidates(): Array<{ from: string; file: string }> {
  const candidates: Array<{ from: string; file: string }> = [];
  const override = process.env.UVSCOPE_STACK_ADDON;
  if (override) candidates.push({ from: 'UVSCOPE_STACK_ADDON', file: path.resolve(override) });
  candidates.push({ from: 'build', file: path.join(ROOT, 'build', 'Release', 'uvscope_stack.node') });
  candidates.push({
    from: 'prebuild',
    file: path.join(ROOT, 'prebuilds', `${process.platform}-${process.arch}`, `uvscope_stack.abi${process.versions.modules}${isMusl() ? '.musl' : ''}.node`),
  });
  return candidates;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0];
}

/** Why `error` (from require) refused the file, in a few words. */
function failure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const abi = /NODE_MODULE_VERSION (\d+)/.exec(message);
  if (abi) return `built for ABI ${abi[1]}, this Node is ${process.versions.modules}`;
  return firstLine(error);
}

function tryLoad(): StackAddonLoad {
  if (process.env.UVSCOPE_STACK_ADDON === 'off') return { ok: false, reason: 'turned off (UVSCOPE_STACK_ADDON=off)' };
  const tried: string[] = [];
  for (const { from, file } of stackAddonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${from} ${file}: missing`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as StackAddon;
      if (addon.abi !== Number(process.versions.modules) || typeof addon.provider !== 'function') {
        tried.push(`${from} ${file}: not a stack addon for ABI ${process.versions.modules}`);
        continue;
      }
      if (addon.providerVersion !== STACK_PROVIDER_VERSION) {
        tried.push(`${from} ${file}: provider version ${addon.providerVersion}, this uvscope needs ${STACK_PROVIDER_VERSION} (a stale build)`);
        continue;
      }
      return { ok: true, addon, path: file };
    } catch (error) {
      tried.push(`${from} ${file}: ${failure(error)}`);
    }
  }
  return { ok: false, reason: `no stack addon loaded (tried ${tried.join('; ')})` };
}

/** UVSCOPE_STACK_PROVIDER_VERSION of native/stack/stack_provider.h: the provider the main addon accepts. */
const STACK_PROVIDER_VERSION = 4;

let cached: StackAddonLoad | undefined;

/** The stack addon of this thread, or why there is none. Cached; never throws. */
export function loadStackAddon(): StackAddonLoad {
  if (cached === undefined) {
    try {
      cached = tryLoad();
    } catch (error) {
      cached = { ok: false, reason: `stack addon lookup failed: ${firstLine(error)}` };
    }
  }
  return cached;
}
