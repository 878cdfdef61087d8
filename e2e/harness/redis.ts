/**
 * Starts a throwaway `redis-server` on a free loopback port (no persistence), stopped by PID.
 * Shared by the Redis engine tests (server/src/redis-*.test.ts), e2e and the benchmarks.
 *
 * When redis-server is not installed: in CI (`isCI()`: `CI` set and not '', 'false' or '0')
 * `redisAvailable()` throws with the install hint, so suites fail instead of skipping; elsewhere it
 * is false and suites skip (`describe.skipIf(!redisAvailable())`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { isCI } from './browser.js';

export const REDIS_INSTALL_HINT = 'redis-server is not installed: apt-get install -y redis-server';

export interface RedisInstance {
  url: string;
  port: number;
  pid: number;
  /** Stops the server (SIGTERM to its PID, SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Stops it and starts it again on the same port, empty (no persistence). */
  restart(): Promise<void>;
}

let available: boolean | undefined;

/** Whether redis-server can be run here. In CI a missing binary is an error, not a skip. */
export function redisAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
    available = r.status === 0;
  }
  if (!available && isCI()) throw new Error(REDIS_INSTALL_HINT);
  return available;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export interface StartRedisOptions {
  /** Extra redis-server arguments (e.g. ['--cluster-enabled', 'yes']). */
  args?: string[];
  port?: number;
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisInstance> {
  if (!redisAvailable()) throw new Error(REDIS_INSTALL_HINT);
  const port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      ...(options.args ?? []),
    ];
    const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const died = new Promise<never>((_, reject) => c.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${stderr}`))));
    died.catch(() => undefined);
    await Promise.race([waitFor(() => canConnect(port), 10_000, `redis-server on port ${port}`), died]);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (c === undefined || c.pid === undefined) return;
    child = undefined;
    if (c.exitCode === null && c.signalCode === null) {
      process.kill(c.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGKILL');
      }, 5000);
      await exited(c);
      clearTimeout(timer);
    }
  };

  await launch();
  const instance: RedisInstance = {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child!.pid!,
    stop,
    async restart() {
      await stop();
      await launch();
      instance.pid = child!.pid!;
    },
  };
  return instance;
}

export interface RedisClusterInstance {
  /** Seed URL (the first master). */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

/**
 * Starts a small Redis Cluster: `masters` redis-server processes with cluster mode on, joined with
 * `redis-cli --cluster create` (no replicas; one master takes every slot itself), resolved once
 * `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterInstance> {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'river-redis-cluster-'));
  const nodes: RedisInstance[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      nodes.push(
        await startRedis({
          port,
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-announce-ip',
            '127.0.0.1',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--dir',
            dir,
          ],
        }),
      );
    }
    // redis-cli --cluster create wants 3 masters or more; one master takes every slot itself (the
    // like-for-like base the bench scales a cluster against).
    const create =
      masters === 1
        ? spawnSync('redis-cli', ['-p', String(nodes[0]!.port), 'CLUSTER', 'ADDSLOTSRANGE', '0', '16383'], {
            encoding: 'utf8',
            timeout: 30_000,
          })
        : spawnSync(
            'redis-cli',
            ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
            { encoding: 'utf8', timeout: 30_000 },
          );
    if (create.status !== 0 || /ERR/.test(create.stdout)) throw new Error(`creating the cluster failed: ${create.stderr || create.stdout}`);
    await waitFor(
      async () =>
        nodes.every((n) => {
          const info = spawnSync('redis-cli', ['-p', String(n.port), 'cluster', 'info'], { encoding: 'utf8' });
          return info.stdout.includes('cluster_state:ok');
        }),
      20_000,
      'cluster_state:ok',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: nodes[0]!.url, ports: nodes.map((n) => n.port), stop };
}
