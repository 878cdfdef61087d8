/**
 * The servers a benchmark measures: a local River node (`node server/dist/main.js`), the Socket.IO 4
 * baseline, the raw-socket floor, or a remote River the user points at (no CPU figures then). Local
 * servers are started as child processes on free loopback ports and stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TargetKind } from './lean-client.js';

export interface Target {
  /** Column label: "River", "Socket.IO 4", "raw floor", "bare ws". */
  name: string;
  kind: TargetKind;
  /** Where clients connect. */
  host: string;
  port: number;
  tls: boolean;
  wsPath: string;
  /** Base URL of the HTTP publish API. */
  httpUrl: string;
  apiKey: string;
  /** JWT secret to mint client tokens ('' for none). */
  secret: string;
  /** A fixed client token to use instead of minting (remote targets). */
  token?: string;
  /** Local process whose CPU and RSS are measured; undefined for a remote target. */
  pid?: number;
  /** Prometheus endpoint, when the target has one. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

export class BenchSetupError extends Error {
  readonly code = 'bench_setup';
}

/** The monorepo root (the nearest package.json with workspaces above this file). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown }).workspaces) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new BenchSetupError('cannot find the River repository root');
    dir = up;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new BenchSetupError(`server exited with code ${child.exitCode} before it was ready`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BenchSetupError(`server not ready at ${url} within ${timeoutMs} ms`);
}

/** Servers started by this process: killed by PID if the benchmark dies before stopping them. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function track(child: ChildProcess): void {
  if (child.pid === undefined) return;
  const pid = child.pid;
  live.add(pid);
  child.once('exit', () => live.delete(pid));
}

function stopper(child: ChildProcess): () => Promise<void> {
  track(child);
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
      const pid = child.pid;
      const kill = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      process.kill(pid, 'SIGTERM');
    });
}

export interface LocalOptions {
  /** Directory for `node --cpu-prof` output; no profiling when undefined. */
  profileDir?: string;
  /** Extra environment for the River node (e.g. RIVER_REDIS_URL). */
  env?: Record<string, string>;
  /** Extra node options for the server process (e.g. --heapsnapshot-signal=SIGUSR2). */
  nodeArgs?: string[];
}

function profArgs(opts: LocalOptions, name: string): string[] {
  // One directory per server process: node names each thread's profile itself (a loader thread
  // writes one too, so a fixed --cpu-prof-name would let the threads overwrite each other).
  return [
    ...(opts.nodeArgs ?? []),
    ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(opts.profileDir, `${name}-${Date.now()}`)}`] : []),
  ];
}

const isTs = import.meta.url.endsWith('.ts');

function baselineFile(name: string): { file: string; execArgv: string[] } {
  const file = fileURLToPath(new URL(`../baselines/${name}${isTs ? '.ts' : '.js'}`, import.meta.url));
  return { file, execArgv: isTs ? ['--import', 'tsx'] : [] };
}

const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const KEY = 'bench-api-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';

export async function startRiver(opts: LocalOptions = {}): Promise<Target> {
  // RIVER_BENCH_SERVER points at another build of server/dist/main.js (A/B runs of a change).
  const main = process.env.RIVER_BENCH_SERVER ?? path.join(repoRoot(), 'server', 'dist', 'main.js');
  if (!existsSync(main)) throw new BenchSetupError(`${main} is missing: build first (npm run build)`);
  const port = await freePort();
  const child = spawn(process.execPath, [...profArgs(opts, 'river'), main], {
    env: {
      ...process.env,
      RIVER_PORT: String(port),
      RIVER_HOST: '127.0.0.1',
      RIVER_JWT_SECRET: SECRET,
      RIVER_API_KEY: KEY,
      RIVER_LOG_LEVEL: 'warn',
      RIVER_DRAIN_MS: '300',
      ...opts.env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  track(child);
  const httpUrl = `http://127.0.0.1:${port}`;
  await waitHealthy(`${httpUrl}/readyz`, child);
  return {
    name: 'River',
    kind: 'river',
    host: '127.0.0.1',
    port,
    tls: false,
    wsPath: '/v1/ws',
    httpUrl,
    apiKey: KEY,
    secret: SECRET,
    pid: child.pid!,
    metricsUrl: `${httpUrl}/metrics`,
    stop: stopper(child),
  };
}

const KEY_AND_SECRET = ['--key', KEY, '--secret', SECRET];

/** A baseline server of bench/baselines as a child process, ready once its `/healthz` answers. */
async function startBaseline(
  opts: LocalOptions,
  file: string,
  target: Pick<Target, 'name' | 'kind' | 'wsPath' | 'secret'>,
  args: (port: number, httpPort: number) => string[],
  separateHttp = false,
): Promise<Target> {
  const { file: script, execArgv } = baselineFile(file);
  const port = await freePort();
  const httpPort = separateHttp ? await freePort() : port;
  const child = spawn(process.execPath, [...execArgv, ...profArgs(opts, file.replace(/-server$/, '')), script, ...args(port, httpPort)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  track(child);
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  await waitHealthy(`${httpUrl}/healthz`, child);
  return { ...target, host: '127.0.0.1', port, tls: false, httpUrl, apiKey: KEY, pid: child.pid!, stop: stopper(child) };
}

export function startSocketIo(opts: LocalOptions = {}): Promise<Target> {
  return startBaseline(
    opts,
    'socketio-server',
    { name: 'Socket.IO 4', kind: 'socketio', wsPath: '/socket.io/', secret: SECRET },
    (port) => ['--port', String(port), ...KEY_AND_SECRET],
  );
}

export function startWs(opts: LocalOptions = {}): Promise<Target> {
  return startBaseline(opts, 'ws-server', { name: 'bare ws', kind: 'river', wsPath: '/v1/ws', secret: SECRET }, (port) => [
    '--port',
    String(port),
    ...KEY_AND_SECRET,
  ]);
}

export function startRaw(opts: LocalOptions = {}): Promise<Target> {
  return startBaseline(
    opts,
    'raw-server',
    { name: 'raw floor', kind: 'raw', wsPath: '', secret: '' },
    (port, httpPort) => ['--port', String(port), '--http-port', String(httpPort), '--key', KEY],
    true,
  );
}

export interface RemoteOptions {
  /** HTTP base URL of the River API (https://… or http://…). */
  url: string;
  /** WebSocket URL; default: the HTTP URL with ws(s):// and /v1/ws. */
  wsUrl?: string;
  apiKey: string;
  secret?: string;
  token?: string;
  /** PID of the node when it runs on this machine, to measure its CPU and RSS. */
  pid?: number;
}

/** A River deployment that is already running. */
export function remoteRiver(opts: RemoteOptions): Target {
  const http = new URL(opts.url);
  const ws = new URL(opts.wsUrl ?? `${http.protocol === 'https:' ? 'wss:' : 'ws:'}//${http.host}/v1/ws`);
  const secure = ws.protocol === 'wss:';
  return {
    name: 'River',
    kind: 'river',
    host: ws.hostname,
    port: Number(ws.port || (secure ? 443 : 80)),
    tls: secure,
    wsPath: ws.pathname + ws.search,
    httpUrl: http.origin,
    apiKey: opts.apiKey,
    secret: opts.secret ?? '',
    ...(opts.token !== undefined ? { token: opts.token } : {}),
    ...(opts.pid !== undefined ? { pid: opts.pid } : {}),
    metricsUrl: `${http.origin}/metrics`,
    stop: async () => {},
  };
}

/** Used heap bytes from a prom-client /metrics page (nodejs_heap_size_used_bytes), or undefined. */
export async function heapUsed(target: Target): Promise<number | undefined> {
  if (!target.metricsUrl) return undefined;
  try {
    const r = await fetch(target.metricsUrl);
    if (!r.ok) return undefined;
    const m = /^(?:[a-z_]*_)?nodejs_heap_size_used_bytes(?:\{[^}]*\})?\s+([0-9.e+]+)/m.exec(await r.text());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
