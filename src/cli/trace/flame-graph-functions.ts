/**
 * The functions a report's flame graphs name, each once: its name, file, line and kind (what
 * colours it: the user's code, a dependency under node_modules, Node's own `node:` internals,
 * native or V8 work without a script ((program), (garbage collector), builtins), or (idle)).
 * Frames refer to a function by its index in the table. One table per report; pure data.
 * @internal
 * @module
 */

/** Kinds, as the page's legend lists them (the index is what frames and the page use). */
export const FUNCTION_KINDS = ['user code', 'node_modules', 'node: internals', 'native / V8', '(idle)'] as const;
export type FunctionKind = 0 | 1 | 2 | 3 | 4;

export interface CallFrameLike {
  functionName: string;
  url: string;
  /** 0-based; -1 when unknown. */
  lineNumber: number;
  columnNumber?: number;
}

/** A function of the table: [name, file (URL without file://, '' for none), 1-based line (0: unknown), kind]. */
export type FunctionRow = [name: string, file: string, line: number, kind: FunctionKind];

export function functionKind(frame: CallFrameLike): FunctionKind {
  if (frame.functionName === '(idle)' && !frame.url) return 4;
  if (!frame.url) return 3;
  if (frame.url.startsWith('node:') || /^internal[/\\]/.test(frame.url)) return 2;
  if (/[/\\]node_modules[/\\]/.test(frame.url)) return 1;
  return 0;
}

export class FunctionTable {
  readonly #rows: FunctionRow[] = [];
  readonly #index = new Map<string, number>();

  /** The index of `frame`'s function, added when new. */
  add(frame: CallFrameLike): number {
    const name = frame.functionName || '(anonymous)';
    const file = frame.url.replace(/^file:\/\//, '');
    const line = frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0;
    const key = `${name}\0${file}\0${line}\0${frame.columnNumber ?? -1}`;
    let index = this.#index.get(key);
    if (index === undefined) {
      index = this.#rows.push([name, file, line, functionKind(frame)]) - 1;
      this.#index.set(key, index);
    }
    return index;
  }

  rows(): FunctionRow[] {
    return this.#rows;
  }
}
