/**
 * One River node process (`node server/dist/main.js`) that a test can stop by PID and start again on
 * the same port (a node restart as the clients see it). Built on startNode of ./cluster.ts.
 */
import { freePort } from './redis.js';
import { startNode, type RiverProcess } from './cluster.js';

export interface RestartableRiver {
  readonly port: number;
  readonly http: string;
  readonly ws: string;
  /** The PID of the running process (undefined while stopped). */
  readonly pid: number | undefined;
  /** SIGTERM (drain) then SIGKILL after graceMs; waits for the exit. */
  stop(graceMs?: number): Promise<void>;
  /** Starts the node again on the same port and waits for /readyz. */
  start(): Promise<void>;
}

export async function startRiver(env: Record<string, string>, name = 'river'): Promise<RestartableRiver> {
  const port = await freePort();
  let proc: RiverProcess | undefined = await startNode({ name, env, port });
  return {
    port,
    http: proc.http,
    ws: proc.ws,
    get pid() {
      return proc?.pid;
    },
    async stop(graceMs = 5000) {
      const p = proc;
      proc = undefined;
      await p?.stop(graceMs);
    },
    async start() {
      if (proc) throw new Error(`${name} is already running (pid ${proc.pid})`);
      proc = await startNode({ name, env, port });
    },
  };
}
