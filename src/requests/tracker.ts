/**
 * Which source sees this thread's pool requests while monitors run: the wrapper source
 * (wrapper-source.ts, no async_hooks) when every running monitor names fs operations and Node's
 * bindings can be reached, the hook source (hook-source.ts) otherwise. One tracker per thread,
 * for the life of the thread; a source runs only while a monitor does.
 *
 * A monitor with `fsOperations: false` leaves Node's fs binding alone, which only the hook
 * source can: when one starts while the wrapper source runs, the thread switches to the hook
 * source (requests already in flight still settle through their trampolines), and stays on it
 * until no monitor runs, since the hook's requests in flight would otherwise never settle. The
 * hook source names fs operations (through the binding's wrappers) while a running monitor
 * wants names.
 * @internal
 * @module
 */
import { HookSource } from './hook-source';
import { RequestRecorder, Sink } from './recorder';
import { startWrapperSource, stopWrapperSource } from './wrapper-source';

export class RequestTracker {
  readonly recorder = new RequestRecorder();
  #hooks: HookSource | undefined;
  #source: 'wrappers' | 'hooks' | undefined;
  /** Running monitors that name fs operations. */
  #naming = 0;

  #hookSource(): HookSource {
    this.#hooks ??= new HookSource(this.recorder);
    return this.#hooks;
  }

  add(sink: Sink, fsOperations: boolean): void {
    if (this.#source === undefined) {
      this.#source = fsOperations && startWrapperSource(this.recorder) ? 'wrappers' : 'hooks';
      if (this.#source === 'hooks') this.#hookSource().start();
    } else if (this.#source === 'wrappers' && !fsOperations) {
      stopWrapperSource();
      this.#hookSource().start();
      this.#source = 'hooks';
    }
    this.recorder.add(sink);
    if (fsOperations) this.#naming++;
    if (this.#source === 'hooks') this.#hookSource().nameFsOperations(this.#naming > 0);
  }

  remove(sink: Sink, fsOperations: boolean): void {
    if (!this.recorder.remove(sink)) return;
    if (fsOperations) this.#naming--;
    if (this.recorder.sinks.length === 0) {
      if (this.#source === 'wrappers') stopWrapperSource();
      else this.#hooks?.stop();
      this.#source = undefined;
    } else if (this.#source === 'hooks') {
      this.#hookSource().nameFsOperations(this.#naming > 0);
    }
  }

  /** Whether an async_hooks hook sees the requests now. */
  get usesHooks(): boolean {
    return this.#source === 'hooks';
  }

  /** Whether fs requests are named by operation now. */
  get fsOperations(): boolean {
    return this.#source === 'wrappers' || (this.#source === 'hooks' && this.#hookSource().fsOperations);
  }

  /** Whether Node's promise hooks run for the source now. */
  get promiseHooks(): boolean {
    return this.#source === 'hooks' && this.#hookSource().promiseHooks;
  }
}
