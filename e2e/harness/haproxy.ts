/**
 * haproxy (Debian's) in front of River nodes, like the ALB: round robin, no stickiness, health
 * checks on /readyz, `timeout tunnel` for WebSockets. Started on a free port, stopped by PID.
 * Missing haproxy: throws with the install hint in CI (`isCI()`), `haproxyAvailable()` is false elsewhere.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCI } from './browser.js';
import { freePort } from './redis.js';
import { isReady, waitUntil } from './cluster.js';

export const HAPROXY_INSTALL_HINT = 'haproxy is not installed: apt-get install -y haproxy';

let available: boolean | undefined;
export function haproxyAvailable(): boolean {
  if (available === undefined) available = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
  if (!available && isCI()) throw new Error(HAPROXY_INSTALL_HINT);
  return available;
}

export interface HaproxyInstance {
  port: number;
  http: string;
  ws: string;
  pid: number;
  stop(): Promise<void>;
}

/** The configuration River's docs recommend (docs/self-host.md), for the given backends. */
export function haproxyConfig(port: number, backends: number[], checkIntervalMs = 200): string {
  return [
    'global',
    '  maxconn 8000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 1h',
    '  option redispatch',
    '  retries 3',
    'frontend river',
    `  bind 127.0.0.1:${port}`,
    '  default_backend river_nodes',
    'backend river_nodes',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    `  default-server inter ${checkIntervalMs} fall 1 rise 1`,
    ...backends.map((p, i) => `  server node${i + 1} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
}

export async function startHaproxy(backends: number[]): Promise<HaproxyInstance> {
  if (!haproxyAvailable()) throw new Error(HAPROXY_INSTALL_HINT);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'river-haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, backends));
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-5000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const http = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(() => isReady(http), 10_000, 'haproxy');
  } catch (e) {
    await stop();
    throw new Error(`haproxy did not come up: ${(e as Error).message}\n${err}`);
  }
  return { port, http, ws: `ws://127.0.0.1:${port}/v1/ws`, pid: child.pid!, stop };
}
