/**
 * Helpers of the control-channel tests: a process run with the uvscope/agent preload (lib/,
 * built by pretest) in a socket directory of the test's own, and a raw newline-JSON client of
 * its socket (written against the wire format, not with the CLI's client).
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { jsonLines, watchOutput } from '../helpers';

export const root = path.resolve(__dirname, '..', '..');
export const agentPreload = path.join(root, 'lib', 'agent.js');
export const cli = path.join(root, 'lib', 'cli', 'main.js');
export const agentApp = path.join(__dirname, 'fixtures', 'agent-app.js');

export interface App {
  child: ChildProcess;
  pid: number;
  worker: number;
  socket: string;
  output: ReturnType<typeof watchOutput>['output'];
  exited: Promise<number | null>;
  until: ReturnType<typeof watchOutput>['until'];
  next: (match: (line: any) => boolean) => Promise<any>;
  send(line: string): void;
}

/** Starts `script` (default the agent app) with the agent preloaded; resolves once it says it is ready and its socket exists. */
export async function startApp(dir: string, env: NodeJS.ProcessEnv = {}, expectSocket = true, script = agentApp): Promise<App> {
  const child = spawn(process.execPath, ['--require', agentPreload, script], {
    env: { ...process.env, UVSCOPE_CONTROL_DIR: dir, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const { output, exited, until } = watchOutput(child as any);
  const lines = jsonLines<any>(child.stdout!, exited);
  const ready = await lines.next((l) => l.ready);
  const socket = path.join(dir, `${child.pid}.sock`);
  // The socket is bound while the preload runs, before the app's first line; ready comes later.
  if (expectSocket && !fs.existsSync(socket)) throw new Error(`no socket ${socket}; stderr: ${output.stderr}`);
  return { child, pid: child.pid!, worker: ready.worker, socket, output, exited, until, next: lines.next, send: (line) => child.stdin!.write(`${line}\n`) };
}

/** A raw client: `request(obj)` sends one line and resolves with the reply of that id; `events` collects pushed events. */
export function rawClient(file: string) {
  const socket = net.connect(file);
  const replies = new Map<number, (reply: any) => void>();
  const events: any[] = [];
  const eventWaiters: { match: (e: any) => boolean; resolve: (e: any) => void }[] = [];
  const all: any[] = [];
  let buffered = '';
  let nextId = 1;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let at;
    while ((at = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, at));
      buffered = buffered.slice(at + 1);
      all.push(message);
      if (message.event) {
        events.push(message);
        for (const w of [...eventWaiters]) if (w.match(message)) (eventWaiters.splice(eventWaiters.indexOf(w), 1), w.resolve(message));
      } else if (message.id !== null && replies.has(message.id)) {
        replies.get(message.id)!(message);
        replies.delete(message.id);
      }
    }
  });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  // A connection the agent drops (EPIPE, ECONNRESET) just closes.
  socket.on('error', () => undefined);
  return {
    socket,
    connected,
    closed,
    all,
    events,
    request(body: Record<string, unknown>): Promise<any> {
      const id = nextId++;
      return new Promise((resolve) => {
        replies.set(id, resolve);
        socket.write(`${JSON.stringify({ id, ...body })}\n`);
      });
    },
    nextEvent(match: (e: any) => boolean): Promise<any> {
      const found = events.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => eventWaiters.push({ match, resolve }));
    },
    close: () => socket.destroy(),
  };
}
