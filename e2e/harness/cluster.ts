/**
 * Starts River node processes (`node server/dist/main.js`, built by `npm run build`) on free
 * loopback ports, waits for `/readyz`, and stops them by PID. Used by the multi-node e2e tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';

export const MAIN_JS = fileURLToPath(new URL('../../server/dist/main.js', import.meta.url));

export interface RiverProcess {
  name: string;
  port: number;
  http: string;
  ws: string;
  pid: number;
  child: ChildProcess;
  /** stdout + stderr so far (for failure messages). */
  output(): string;
  /** Resolves with the exit code / signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the PID (SIGKILL, SIGTERM). */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface NodeOptions {
  name: string;
  env: Record<string, string>;
  port?: number;
  /** How long to wait for /readyz. Default 20 s. */
  readyTimeoutMs?: number;
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, stepMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function isReady(http: string): Promise<boolean> {
  try {
    const r = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

export async function startNode(opts: NodeOptions): Promise<RiverProcess> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` first`);
  const port = opts.port ?? (await freePort());
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { PATH: process.env.PATH ?? '', RIVER_HOST: '127.0.0.1', RIVER_LOG_LEVEL: 'warn', ...opts.env, RIVER_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const http = `http://127.0.0.1:${port}`;
  const proc: RiverProcess = {
    name: opts.name,
    port,
    http,
    ws: `ws://127.0.0.1:${port}/v1/ws`,
    pid: child.pid!,
    child,
    output: () => out,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    },
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await waitUntil(
      async () => {
        if (gone) throw new Error('exited');
        return isReady(http);
      },
      opts.readyTimeoutMs ?? 20_000,
      `${opts.name} /readyz`,
    );
  } catch (err) {
    await proc.stop(500);
    throw new Error(`River node ${opts.name} did not become ready: ${(err as Error).message}\n${out}`);
  }
  return proc;
}

export interface RiverCluster {
  nodes: RiverProcess[];
  /** Starts a replacement for node `i` on the same port (after it died). */
  replace(i: number): Promise<RiverProcess>;
  stop(): Promise<void>;
}

export async function startCluster(count: number, env: Record<string, string>): Promise<RiverCluster> {
  const nodes: RiverProcess[] = [];
  const cluster: RiverCluster = {
    nodes,
    async replace(i) {
      const old = nodes[i]!;
      await old.stop(500);
      nodes[i] = await startNode({ name: old.name, env, port: old.port });
      return nodes[i]!;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode({ name: `node${i + 1}`, env }));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
