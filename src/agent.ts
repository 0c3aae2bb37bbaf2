/**
 * `node --require uvscope/agent app.js` (or `NODE_OPTIONS='--require uvscope/agent'`): makes the
 * process visible to `uvscope top` and `uvscope trace --attach` through a control socket of its
 * own. Meant for production: in every thread it runs a loop observer in stats mode (no trace
 * ring, no JavaScript per loop turn), a stall watchdog, a count of Node's pool requests and of
 * the HTTP requests its servers finish; figures are taken once a second. A trace is recorded
 * only while a client asks for one.
 *
 * The socket: `${XDG_RUNTIME_DIR or os.tmpdir()}/uvscope-<uid>/<pid>.sock` (or
 * `$UVSCOPE_CONTROL_DIR/<pid>.sock`), a Unix domain socket (nothing listens on the network),
 * mode 0600 in a directory created 0700; a directory that is not a real directory owned by
 * this uid and closed to group and others is refused (one line on stderr, and the process runs
 * without the socket). The socket is removed when the process exits (also on SIGINT, SIGTERM,
 * SIGHUP); `uvscope top` removes those of processes that died without exiting.
 * The wire format is newline-delimited JSON (control/protocol.ts): `hello`, `stats`,
 * `subscribe` (stalls pushed as they end), `trace` (record a window into a directory).
 *
 * Environment: UVSCOPE_AGENT_STALL_MS (the watchdog's threshold, integer ms 10 to 3600000, 0 for
 * no watchdog; default 1000), UVSCOPE_CONTROL_DIR (the socket directory), UVSCOPE_AGENT_DISABLED=1
 * (do nothing). Worker threads run the preload too (NODE_OPTIONS and execArgv reach them): their
 * figures go to the main thread, whose socket answers for every thread.
 *
 * `require('uvscope/agent').agent` is this thread's state: the socket's path (main thread, once
 * listening) or why there is none.
 * @module
 */
import { AgentState, startAgent } from './control/agent';

export type { AgentState } from './control/agent';

/** This thread's agent: `socket` once listening (main thread), `unavailable` when it cannot run. */
export const agent: AgentState = process.env.UVSCOPE_AGENT_DISABLED === '1' ? { unavailable: 'UVSCOPE_AGENT_DISABLED=1' } : startAgent();
