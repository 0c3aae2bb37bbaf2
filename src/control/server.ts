/**
 * The control socket's server, in the main thread of a process with the agent: listens on
 * `<controlDir>/<pid>.sock` (mode 0600, in a private directory, socket-dir.ts), reads
 * newline-delimited JSON requests (protocol.ts) and answers them from what the agent holds.
 * Never keeps the process alive (the server and every connection are unref'd) and never lets a
 * client hurt the process: a request line over MAX_REQUEST_BYTES, or bytes that are not a
 * request, get an error reply (and, for an overlong line, the connection closed); a client
 * that does not read has events dropped (counted, told in its next `stats`) once
 * MAX_PENDING_BYTES wait, and is disconnected when a reply would not fit. Lifetime: from
 * `listen()` to `close()` (at exit, and on the signals the agent handles), which removes the
 * socket file.
 * @internal
 * @module
 */
import fs from 'node:fs';
import net from 'node:net';

import {
  encode,
  ERROR_CODES,
  Event,
  LineSplitter,
  MAX_CONNECTIONS,
  MAX_PENDING_BYTES,
  MAX_REQUEST_BYTES,
  Message,
  parseRequest,
  Request,
} from './protocol';

/** What answers the requests (the agent). A handler may throw: the client gets the message. */
export interface RequestHandler {
  handle(request: Request, client: Client): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** One connection. */
export class Client {
  subscribed = false;
  droppedEvents = 0;
  #closed = false;

  constructor(readonly socket: net.Socket) {}

  get closed(): boolean {
    return this.#closed || this.socket.destroyed;
  }

  /** A reply: always sent, unless the client stopped reading (then it is disconnected). */
  reply(message: Message): void {
    if (this.closed) return;
    if (this.socket.writableLength > MAX_PENDING_BYTES) {
      this.close();
      return;
    }
    this.socket.write(encode(message));
  }

  /** An event: dropped (and counted) while the client is behind. */
  event(message: Event): void {
    if (this.closed || !this.subscribed) return;
    if (this.socket.writableLength > MAX_PENDING_BYTES) {
      this.droppedEvents++;
      return;
    }
    this.socket.write(encode(message));
  }

  close(): void {
    this.#closed = true;
    this.socket.destroy();
  }
}

export class ControlServer {
  readonly #server: net.Server;
  readonly #clients = new Set<Client>();
  #path?: string;

  constructor(private readonly handler: RequestHandler) {
    this.#server = net.createServer({ allowHalfOpen: false }, (socket) => this.#accept(socket));
    this.#server.on('error', () => this.close());
  }

  /** Binds `file` (a stale file of the same name is replaced) with mode 0600. Throws when it cannot. */
  listen(file: string): Promise<void> {
    try {
      fs.unlinkSync(file);
    } catch {
      // none
    }
    // Bound with a umask that leaves the socket 0600 from its creation on (no window with a wider mode).
    const umask = process.umask(0o177);
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(file, () => {
        this.#server.removeListener('error', onError);
        this.#path = file;
        fs.chmodSync(file, 0o600);
        resolve();
      });
      process.umask(umask);
    }).finally(() => this.#server.unref());
  }

  /** Every subscribed client gets `event`. */
  broadcast(event: Event): void {
    for (const client of this.#clients) client.event(event);
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Stops listening, drops every connection and removes the socket file. Synchronous (also at exit). */
  close(): void {
    for (const client of this.#clients) client.close();
    this.#clients.clear();
    this.#server.close();
    if (this.#path) {
      try {
        fs.unlinkSync(this.#path);
      } catch {
        // gone already
      }
      this.#path = undefined;
    }
  }

  #accept(socket: net.Socket): void {
    socket.unref();
    if (this.#clients.size >= MAX_CONNECTIONS) {
      socket.destroy();
      return;
    }
    const client = new Client(socket);
    this.#clients.add(client);
    const lines = new LineSplitter(MAX_REQUEST_BYTES);
    // Requests are answered in order: one at a time per connection.
    let queue = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const got = lines.push(chunk);
      if (!got) {
        client.reply({ id: null, ok: false, error: `request line longer than ${MAX_REQUEST_BYTES} bytes`, code: ERROR_CODES.badRequest });
        socket.end();
        client.close();
        return;
      }
      for (const line of got) {
        if (line.trim() === '') continue;
        queue = queue.then(() => this.#serve(line, client));
      }
    });
    const forget = () => {
      this.#clients.delete(client);
      client.close();
    };
    socket.on('error', forget);
    socket.on('close', forget);
  }

  async #serve(line: string, client: Client): Promise<void> {
    if (client.closed) return;
    const request = parseRequest(line);
    if (typeof request === 'string') {
      let id: number | null = null;
      try {
        const raw = JSON.parse(line) as { id?: unknown };
        if (Number.isSafeInteger(raw?.id)) id = raw.id as number;
      } catch {
        // no id to answer to
      }
      client.reply({ id, ok: false, error: `bad request: ${request}`, code: ERROR_CODES.badRequest });
      return;
    }
    try {
      const result = await this.handler.handle(request, client);
      client.reply({ ...result, id: request.id, ok: true } as Message);
    } catch (error) {
      const code = (error as { code?: string }).code;
      client.reply({
        id: request.id,
        ok: false,
        error: String((error as Error).message ?? error),
        code: typeof code === 'string' && code.startsWith('E') ? code : ERROR_CODES.failed,
      });
    }
  }
}
