/**
 * For the preloads that write what they measured when their process ends (`uvscope trace`'s
 * register, `uvscope bench`'s probe): runs `write` once at 'exit' or at one of `signals`, which
 * without a listener would kill the process before 'exit'. After writing, the signal does what
 * it would have done: the application's own listeners, if any, decide; otherwise it is raised
 * again with the default action.
 * @internal
 * @module
 */
export function writeAtExitOrSignal(write: () => void, signals: readonly NodeJS.Signals[]): void {
  let written = false;
  const once = () => {
    if (written) return;
    written = true;
    write();
  };
  process.on('exit', once);
  for (const signal of signals) {
    const onSignal = () => {
      once();
      process.removeListener(signal, onSignal);
      // With several writers (two preloads), the last one re-raises it, and only when no
      // listener of the application's is left.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}
