/**
 * The agent of the `uvscope/agent` preload, one per thread. In every thread: a
 * ThreadStatsCollector (loop figures over the last second, a stall watchdog, pool requests,
 * HTTP requests). The main thread also serves the control socket (server.ts) and answers for
 * every thread: workers post their figures each second and their stalls as they end over the
 * BroadcastChannels `agentChannelName()`, and record a trace window when the main thread says
 * so (attach-recording.ts). The main thread's pool-thread figures (Linux) start with the first
 * `stats` request, so a process nobody looks at never has its pool probed.
 *
 * Lifetime: from `startAgent()` to the thread's exit; on the main thread the socket file is
 * removed at exit and on SIGINT, SIGTERM and SIGHUP (after which the signal does what it would
 * have done: trace/exit-writer.ts). Nothing of it keeps a thread alive, and nothing it does
 * throws into the application: what cannot start is said once on stderr and left out.
 * @internal
 * @module
 */
import fs from 'node:fs';
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';

import { writeAtExitOrSignal } from '../trace/exit-writer';
import { processTitle } from '../trace/session';
import type { PoolThreadMonitor } from '../threadpool/threads';
import { AttachRecorder, WorkerAttach } from './attach-recording';
import { agentChannelName, ERROR_CODES, HelloReply, PROTOCOL_VERSION, Request, StallSummary, StatsReply, ThreadMessage, ThreadStats } from './protocol';
import { Client, ControlServer } from './server';
import { controlDir, preparePrivateDir, socketPath } from './socket-dir';
import { ThreadStatsCollector } from './thread-stats';

/** A worker's figures older than this are left out (the worker is stuck or gone without saying). */
const WORKER_STALE_MS = 5000;
/** ... and forgotten after this long (a worker terminated by `worker.terminate()` runs no 'exit' listener to say it is gone). */
const WORKER_FORGOTTEN_MS = 30_000;

function say(message: string): void {
  try {
    fs.writeSync(2, `uvscope/agent: ${message}\n`);
  } catch {
    // stderr closed
  }
}

function uvscopeVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The agent's stall threshold: UVSCOPE_AGENT_STALL_MS, integer ms 10 to 3600000, or 0 for none; default 1000. */
export function agentStallMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.UVSCOPE_AGENT_STALL_MS;
  if (raw === undefined || raw === '') return 1000;
  const n = Number(raw);
  if (Number.isInteger(n) && (n === 0 || (n >= 10 && n <= 3_600_000))) return n;
  if (isMainThread) say(`UVSCOPE_AGENT_STALL_MS must be 0 or an integer from 10 to 3600000, got '${raw}': using 1000`);
  return 1000;
}

export interface AgentState {
  /** The socket's path (main thread, once listening). */
  socket?: string;
  /** Why there is no socket, when so. */
  unavailable?: string;
}

/** The main thread's agent. */
class MainAgent {
  readonly state: AgentState = {};
  readonly #stallMs: number;
  readonly #collector: ThreadStatsCollector;
  /** Workers to this thread. */
  readonly #channel = new BroadcastChannel(agentChannelName('up'));
  /** This thread to the workers. */
  readonly #down = new BroadcastChannel(agentChannelName('down'));
  readonly #workers = new Map<number, ThreadStats | undefined>();
  readonly #server: ControlServer;
  readonly #attach: AttachRecorder;
  #poolThreads?: PoolThreadMonitor;
  #poolThreadsUnavailable?: string;
  #poolTimer?: NodeJS.Timeout;
  #poolLatest?: StatsReply['poolThreads'];

  constructor() {
    this.#stallMs = agentStallMs();
    this.#collector = new ThreadStatsCollector(this.#stallMs, (stall) => this.#stall(stall));
    this.#channel.unref();
    this.#down.unref();
    this.#attach = new AttachRecorder(
      (message) => this.#down.postMessage(message),
      () => [...this.#workers.keys()],
    );
    this.#channel.onmessage = (event) => this.#fromWorker((event as { data: ThreadMessage }).data);
    this.#server = new ControlServer({ handle: (request, client) => this.#handle(request, client) });
  }

  async listen(): Promise<void> {
    const dir = controlDir();
    const problem = preparePrivateDir(dir);
    if (problem) {
      this.state.unavailable = problem;
      say(`${problem}: no control socket (uvscope top cannot see process ${process.pid})`);
      return;
    }
    const file = socketPath(dir, process.pid);
    writeAtExitOrSignal(() => this.close(), ['SIGINT', 'SIGTERM', 'SIGHUP']);
    try {
      await this.#server.listen(file);
      this.state.socket = file;
    } catch (error) {
      this.state.unavailable = `cannot listen on ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
      say(`${this.state.unavailable}: no control socket`);
    }
  }

  close(): void {
    this.#server.close();
    this.#collector.close();
    this.#poolThreads?.stop();
    clearInterval(this.#poolTimer);
    this.#channel.close();
    this.#down.close();
  }

  #stall(stall: StallSummary): void {
    this.#server.broadcast({ event: 'stall', pid: process.pid, stall });
  }

  #fromWorker(message: ThreadMessage): void {
    switch (message.type) {
      case 'hello':
        this.#workers.set(message.threadId, this.#workers.get(message.threadId));
        this.#attach.workerAppeared();
        break;
      case 'stats':
        this.#workers.set(message.stats.threadId, message.stats);
        break;
      case 'stall':
        this.#stall(message.stall);
        break;
      case 'gone':
        this.#workers.delete(message.threadId);
        this.#attach.workerStopped(message.threadId);
        break;
      case 'trace-stopped':
        this.#attach.workerStopped(message.threadId);
        break;
      default:
        break;
    }
  }

  #hello(): HelloReply {
    return {
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      title: processTitle().replace(/ \(pid \d+\)$/, ''),
      node: process.version,
      uvscope: uvscopeVersion(),
      threads: [0, ...[...this.#workers.keys()].sort((a, b) => a - b)],
      stallMs: this.#stallMs,
      connections: this.#server.clients,
    };
  }

  /** Pool-thread figures: started on the first ask, then taken each second. */
  #pool(): Pick<StatsReply, 'poolThreads' | 'poolThreadsUnavailable'> {
    if (!this.#poolThreads && !this.#poolThreadsUnavailable) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { monitorThreads } = require('../threadpool/threadpool') as typeof import('../threadpool/threadpool');
        const monitor = monitorThreads();
        this.#poolThreads = monitor;
        this.#poolTimer = setInterval(() => {
          const s = monitor.stats();
          monitor.reset();
          this.#poolLatest = s.threads.length
            ? { threads: s.threads.length, expected: s.expectedThreads, busyRatio: s.busyRatio, runQueueRatio: s.runQueueRatio ?? 0 }
            : undefined;
        }, 1000);
        this.#poolTimer.unref();
      } catch (error) {
        this.#poolThreadsUnavailable = String((error as Error).message).split('\n')[0];
      }
    }
    return this.#poolThreadsUnavailable ? { poolThreadsUnavailable: this.#poolThreadsUnavailable } : { poolThreads: this.#poolLatest };
  }

  #stats(client: Client): StatsReply {
    const now = Date.now();
    const threads = [this.#collector.latest];
    for (const [id, stats] of [...this.#workers].sort(([a], [b]) => a - b)) {
      // A worker terminated from outside never says it is gone: forgotten after a while.
      if (stats && now - stats.atMs > WORKER_FORGOTTEN_MS) {
        this.#workers.delete(id);
        continue;
      }
      if (stats && now - stats.atMs <= WORKER_STALE_MS) threads.push(stats);
      else if (!stats) continue;
      else threads.push({ ...stats, utilization: NaN, iterationsPerS: NaN, iterationP99Ns: NaN, name: `worker ${id} (silent)` });
    }
    return { pid: process.pid, threads, ...this.#pool(), droppedEvents: client.droppedEvents };
  }

  async #handle(request: Request, client: Client): Promise<Record<string, unknown>> {
    switch (request.cmd) {
      case 'hello':
        return { ...this.#hello() };
      case 'stats':
        return { ...this.#stats(client) };
      case 'subscribe':
        client.subscribed = true;
        return {};
      case 'live':
        // This thread's watchdog first: a FIFO nobody reads fails here (ENXIO), before the workers are told.
        try {
          this.#collector.liveReportsTo(request.fifo);
        } catch (error) {
          throw Object.assign(new Error(`cannot write to ${request.fifo}: ${(error as Error).message}`), { code: ERROR_CODES.failed });
        }
        this.#down.postMessage({ type: 'live', fifo: request.fifo } satisfies ThreadMessage);
        return {};
      case 'trace': {
        const { durationMs, dir, blockMs, stallMs, sampleUs, maxMarkers, originNs } = request;
        const cancelled = new Promise<void>((resolve) => client.socket.once('close', () => resolve()));
        const started = () => client.reply({ event: 'trace-started', pid: process.pid, requestId: request.id });
        return { ...(await this.#attach.record({ durationMs, dir, blockMs, stallMs, sampleUs, maxMarkers, originNs }, cancelled, started)) };
      }
      default:
        throw Object.assign(new Error(`unknown command '${(request as { cmd: string }).cmd}'`), { code: ERROR_CODES.unknownCommand });
    }
  }
}

/** A worker's agent: figures to the main thread, trace windows when asked. */
function startWorkerAgent(): void {
  const channel = new BroadcastChannel(agentChannelName('up'));
  const down = new BroadcastChannel(agentChannelName('down'));
  channel.unref();
  down.unref();
  const post = (message: ThreadMessage) => {
    try {
      channel.postMessage(message);
    } catch {
      // closed at exit
    }
  };
  const attach = new WorkerAttach(post);
  const collector = new ThreadStatsCollector(
    agentStallMs(),
    (stall) => post({ type: 'stall', stall }),
    (stats) => post({ type: 'stats', stats }),
  );
  down.onmessage = (event) => {
    const message = (event as { data: ThreadMessage }).data;
    if (message.type !== 'live') return attach.handle(message, threadId);
    try {
      collector.liveReportsTo(message.fifo);
    } catch {
      // The client went away before this worker got there: its stalls are still pushed as they end.
    }
  };
  post({ type: 'hello', threadId });
  process.on('exit', () => {
    attach.stop();
    post({ type: 'gone', threadId });
    collector.close();
    channel.close();
    down.close();
  });
}

/** Starts this thread's agent. Never throws. */
export function startAgent(): AgentState {
  try {
    if (!isMainThread) {
      startWorkerAgent();
      return {};
    }
    const agent = new MainAgent();
    agent.listen().catch(() => undefined);
    return agent.state;
  } catch (error) {
    const message = `cannot start${isMainThread ? '' : ` in worker ${threadId}`}: ${String((error as Error).message).split('\n')[0]}`;
    say(message);
    return { unavailable: message };
  }
}
