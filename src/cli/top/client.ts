/**
 * The CLI's side of one process's control socket: connects (after checking the socket
 * directory is a private one of this uid), sends requests and matches the replies by id,
 * passes pushed events to `onEvent`. A reply that does not come within `timeoutMs` rejects
 * (the process's main thread is busy: a stall); the connection stays usable. Lifetime: from
 * `connect()` to `close()` or the agent going away (`onClose`). Addon-free.
 * @internal
 * @module
 */
import net from 'node:net';

import { encode, ErrorReply, Event, LineSplitter, Message, PROTOCOL_VERSION, Reply, Request } from '../../control/protocol';
import { checkPrivateDir, controlDir, socketPath } from '../../control/socket-dir';

/** Replies and events can be large (a stats reply of many threads): a line up to 16 MiB. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export class AgentError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer?: NodeJS.Timeout };

export class AgentClient {
  readonly #socket: net.Socket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  onEvent?: (event: Event) => void;
  onClose?: () => void;

  private constructor(
    socket: net.Socket,
    readonly pid: number,
  ) {
    this.#socket = socket;
    const lines = new LineSplitter(MAX_REPLY_BYTES);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const got = lines.push(chunk);
      if (!got) return this.close();
      for (const line of got) {
        let message: Message;
        try {
          message = JSON.parse(line) as Message;
        } catch {
          continue;
        }
        this.#receive(message);
      }
    });
    const closed = () => {
      if (this.#closed) return;
      this.#closed = true;
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new AgentError(`process ${pid}: the connection closed`, 'ECLOSED'));
      }
      this.#pending.clear();
      this.onClose?.();
    };
    socket.on('close', closed);
    socket.on('error', closed);
  }

  /** Connects to `pid`'s agent. Rejects with an AgentError (ENOENT: no agent; EBADDIR: the directory is not private). */
  static connect(pid: number, dir: string = controlDir(), timeoutMs = 2000): Promise<AgentClient> {
    const problem = checkPrivateDir(dir);
    if (problem) return Promise.reject(new AgentError(`refusing the control directory: ${problem}`, 'EBADDIR'));
    const file = socketPath(dir, pid);
    return new Promise((resolve, reject) => {
      const socket = net.connect(file);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new AgentError(`process ${pid} does not answer on ${file}`, 'ETIMEDOUT'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new AgentClient(socket, pid));
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = error.code ?? 'ECONNREFUSED';
        const why = code === 'ENOENT' ? `no control socket ${file} (is the process running with uvscope/agent?)` : `cannot connect to ${file} (${code})`;
        reject(new AgentError(`process ${pid}: ${why}`, code));
      });
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request; resolves with its reply, rejects with an AgentError (the agent's code, or ETIMEDOUT). */
  request(request: DistributiveOmit<Request, 'id'>, timeoutMs?: number): Promise<Reply> {
    if (this.#closed) return Promise.reject(new AgentError(`process ${this.pid}: the connection closed`, 'ECLOSED'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      if (timeoutMs !== undefined) {
        pending.timer = setTimeout(() => {
          // A late reply is dropped; the connection stays.
          this.#pending.delete(id);
          reject(new AgentError(`process ${this.pid} did not answer within ${timeoutMs} ms`, 'ETIMEDOUT'));
        }, timeoutMs);
      }
      this.#pending.set(id, pending);
      this.#socket.write(encode({ ...request, id } as Request));
    });
  }

  /** `hello`, checking the protocol version. */
  async hello(timeoutMs = 2000): Promise<Reply> {
    const reply = await this.request({ cmd: 'hello' }, timeoutMs);
    if (reply.protocol !== PROTOCOL_VERSION) throw new AgentError(`process ${this.pid} speaks control protocol ${reply.protocol}, this uvscope ${PROTOCOL_VERSION}`, 'EPROTO');
    return reply;
  }

  close(): void {
    this.#socket.destroy();
  }

  #receive(message: Message): void {
    if ('event' in message) {
      this.onEvent?.(message);
      return;
    }
    if (message.id === null) return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    clearTimeout(pending.timer);
    if (message.ok) pending.resolve(message);
    else pending.reject(new AgentError(`process ${this.pid}: ${(message as ErrorReply).error}`, (message as ErrorReply).code));
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
