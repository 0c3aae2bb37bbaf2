/**
 * Progress for long CLI runs: a live bar on a TTY, plain lines on a pipe.
 * @internal
 * @module
 */
export class Progress {
  #done = 0;
  readonly #total: number;
  readonly #out: NodeJS.WriteStream;
  readonly #tty: boolean;

  constructor(total: number, out: NodeJS.WriteStream) {
    this.#total = total;
    this.#out = out;
    this.#tty = Boolean(out.isTTY);
  }

  step(label: string): void {
    this.#done++;
    if (this.#tty) {
      const width = 24;
      const filled = Math.round((width * (this.#done - 1)) / this.#total);
      this.#out.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} ${label}`);
    } else {
      this.#out.write(`[${this.#done}/${this.#total}] ${label}\n`);
    }
  }

  note(text: string): void {
    this.#out.write(this.#tty ? `\r\x1b[K${text}\n` : `${text}\n`);
  }

  done(): void {
    if (this.#tty) this.#out.write('\r\x1b[K');
  }
}
