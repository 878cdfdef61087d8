/**
 * Starts a throwaway `moto_server` (the AWS emulator, moto 5) on a free loopback port, stopped by PID.
 * Point an SDK or the CLI at it with `motoEnv(instance)` (AWS_ENDPOINT_URL, fake credentials, no
 * metadata probe).
 *
 * When moto_server is not installed: in CI (`isCI()`) `motoAvailable()` throws with the install hint,
 * so suites fail instead of skipping; elsewhere it is false and suites skip
 * (`describe.skipIf(!motoAvailable())`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { isCI } from './browser.js';
import { freePort } from './redis.js';
import { afterAll, beforeAll } from 'vitest';

export const MOTO_INSTALL_HINT = "moto_server is not installed: pip install 'moto[server]>=5'";

export interface MotoInstance {
  endpoint: string;
  pid: number;
  /** Stops the server (SIGTERM to its PID, SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
}

let available: boolean | undefined;

export function motoAvailable(): boolean {
  if (available === undefined) {
    const r = spawnSync('moto_server', ['--help'], { stdio: 'ignore' });
    available = r.status === 0;
  }
  if (!available && isCI()) throw new Error(MOTO_INSTALL_HINT);
  return available;
}

/** The environment that sends the AWS SDK (and the CLI) to moto, and nowhere else. */
export function motoEnv(moto: Pick<MotoInstance, 'endpoint'>, region = 'us-east-1'): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: region,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startMoto(): Promise<MotoInstance> {
  if (!motoAvailable()) throw new Error(MOTO_INSTALL_HINT);
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${stderr}`);
    const ok = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      process.kill(child.pid!, 'SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    endpoint,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      }, 5000);
      await exited(child);
      clearTimeout(timer);
    },
  };
}

/**
 * Starts moto and points this process's AWS SDK at it (AWS_ENDPOINT_URL), for in-process tests;
 * `stop()` puts the variable back as it was and stops moto.
 */
export async function startMotoAsEndpoint(): Promise<MotoInstance> {
  const saved = process.env.AWS_ENDPOINT_URL;
  const moto = await startMoto();
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  return {
    ...moto,
    async stop() {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
      await moto.stop();
    },
  };
}

/** startMotoAsEndpoint for the enclosing describe: started before its tests (60 s allowed), stopped after them. */
export function motoEndpointForSuite(): void {
  let moto: MotoInstance | undefined;
  beforeAll(async () => {
    moto = await startMotoAsEndpoint();
  }, 60_000);
  afterAll(async () => {
    await moto?.stop();
  });
}
