/**
 * The HTTP requests in flight on this thread, in typed arrays the addon reads without a call
 * per request (native/loop/request_table.h): the stall watchdog's interrupt finds there the
 * request a blocked thread was running in. A slot per request: in `meta`, its state (1 live,
 * 0 free), id, async id, start (performance.now(), ms) and the byte lengths of its method and
 * URL; in `text`, TEXT_STRIDE bytes: the method, then the URL as UTF-8, cut at a character
 * boundary. Where the request's async context frame holds its method and URL (Node 24+), the
 * slot has neither text nor async id (`requestSlotStarted`): the watchdog finds it by its id
 * there. A slot is marked live after its fields are written and free before they change, so
 * an interrupt between two of these writes reads a whole request or none. The arrays start at
 * INITIAL_SLOTS and double when full, up to MAX_SLOTS; beyond, a request is counted as
 * untracked. Lifetime: the thread's (module state), handed to the addon at first use.
 * @internal
 * @module
 */
import { native } from '../native';

/** Fields per slot in `meta` (RequestTable::kMetaStride). */
const META_STRIDE = 6;
/** Bytes per slot: the method (at most 32) and the URL. */
const TEXT_STRIDE = 1024;
const MAX_METHOD_BYTES = 32;
const INITIAL_SLOTS = 64;
/** 8 MiB of text: requests in flight on one thread beyond this are not tracked. */
const MAX_SLOTS = 8192;

/** Read once: the global's lazy getter costs ~240 instructions an access on Node 24. */
const clock = performance;

let meta = new Float64Array(0);
let text = new Uint8Array(0);
/** Free slots, the most recently freed last. */
let free: number[] = [];
let inFlight = 0;
let untracked = 0;

/** Grows the arrays (first use: allocates them) and hands them to the addon; false at MAX_SLOTS. */
function grow(): boolean {
  const slots = meta.length / META_STRIDE;
  if (slots >= MAX_SLOTS) return false;
  const next = slots === 0 ? INITIAL_SLOTS : Math.min(slots * 2, MAX_SLOTS);
  const nextMeta = new Float64Array(next * META_STRIDE);
  const nextText = new Uint8Array(next * TEXT_STRIDE);
  nextMeta.set(meta);
  nextText.set(text);
  // performance.now() counts from this thread's time origin on the clock of process.hrtime:
  // the addon turns a start back into that clock's ns with this offset.
  const offsetNs = Number(process.hrtime.bigint()) - clock.now() * 1e6;
  native.setRequestSlots(nextMeta, nextText, TEXT_STRIDE, offsetNs);
  meta = nextMeta;
  text = nextText;
  for (let slot = next - 1; slot >= slots; slot--) free.push(slot);
  return true;
}

/** Writes `value` as UTF-8 into `text` at `at`, at most `room` bytes, whole characters only; returns the bytes written. */
export function writeUtf8(text: Uint8Array, value: string, at: number, room: number): number {
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      if (n + 1 > room) break;
      text[at + n++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      const low = value.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        if (n + 4 > room) break;
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
        text[at + n++] = 0xf0 | (c >> 18);
        text[at + n++] = 0x80 | ((c >> 12) & 0x3f);
        text[at + n++] = 0x80 | ((c >> 6) & 0x3f);
        text[at + n++] = 0x80 | (c & 0x3f);
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate
    if (c < 0x800) {
      if (n + 2 > room) break;
      text[at + n++] = 0xc0 | (c >> 6);
      text[at + n++] = 0x80 | (c & 0x3f);
    } else {
      if (n + 3 > room) break;
      text[at + n++] = 0xe0 | (c >> 12);
      text[at + n++] = 0x80 | ((c >> 6) & 0x3f);
      text[at + n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/**
 * `writeUtf8` with a loop of its own for the usual case, an ASCII value that fits (a method, most
 * URLs): small enough to be inlined where it is called.
 */
function writeText(text: Uint8Array, value: string, at: number, room: number): number {
  const length = value.length;
  if (length > room) return writeUtf8(text, value, at, room);
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) return writeUtf8(text, value, at, room);
    text[at + i] = c;
  }
  return length;
}

/** A free slot (the table grown when full), or -1 when the request is not tracked (counted). */
function takeSlot(): number {
  if (free.length !== 0 || grow()) return free.pop()!;
  untracked++;
  return -1;
}

/** Writes a taken slot's fields, its text written before, and marks it live. */
function markLive(slot: number, id: number, asyncId: number, methodBytes: number, urlBytes: number): number {
  const m = slot * META_STRIDE;
  meta[m + 1] = id;
  meta[m + 2] = asyncId;
  meta[m + 3] = clock.now();
  meta[m + 4] = methodBytes;
  meta[m + 5] = urlBytes;
  meta[m] = 1;
  inFlight++;
  return slot;
}

/**
 * Records a request that starts now, whose async context frame holds its method and URL (an
 * async id of 0: it is found by its id alone); returns its slot, or -1 when it is not tracked (full).
 */
export function requestSlotStarted(id: number): number {
  const slot = takeSlot();
  return slot < 0 ? slot : markLive(slot, id, 0, 0, 0);
}

/** Records a request that starts now in `asyncId`, with its method and URL; returns its slot, or -1 when it is not tracked (full). */
export function requestSlotStartedWithText(id: number, asyncId: number, method: string, url: string): number {
  const slot = takeSlot();
  if (slot < 0) return slot;
  const at = slot * TEXT_STRIDE;
  const methodBytes = writeText(text, method, at, MAX_METHOD_BYTES);
  const urlBytes = writeText(text, url, at + methodBytes, TEXT_STRIDE - methodBytes);
  return markLive(slot, id, asyncId, methodBytes, urlBytes);
}

const utf8 = new TextDecoder();

/** The request `slot` holds, read back from the table (its method and URL as written: a long URL cut). */
export function requestSlotRequest(slot: number): { id: number; method: string; url: string } {
  const m = slot * META_STRIDE;
  const at = slot * TEXT_STRIDE;
  const methodBytes = meta[m + 4];
  return { id: meta[m + 1], method: utf8.decode(text.subarray(at, at + methodBytes)), url: utf8.decode(text.subarray(at + methodBytes, at + methodBytes + meta[m + 5])) };
}

/** Free slots in the table as it is (0: the next start grows it, or is not tracked). */
export function requestSlotsFree(): number {
  return free.length;
}

/** The request in `slot` ended (a slot of -1: it was not tracked). */
export function requestSlotFinished(slot: number): void {
  if (slot < 0 || meta[slot * META_STRIDE] !== 1) return;
  meta[slot * META_STRIDE] = 0;
  free.push(slot);
  inFlight--;
}

/** Requests in the table now, and those not kept because it was full. */
export function requestSlotStats(): { inFlight: number; untracked: number } {
  return { inFlight, untracked };
}
