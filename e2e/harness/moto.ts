/**
 * Starts moto's AWS emulator (`moto_server`, preinstalled) on a free loopback port; stopped by PID.
 * Point the AWS SDK at it with AWS_ENDPOINT_URL=<url> and fake credentials.
 *
 * When moto_server is missing: in CI (`isCI()`) `motoAvailable()` throws with the install hint, so
 * suites fail instead of skipping; elsewhere it is false and suites skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { isCI } from './browser.js';
import { freePort } from './redis.js';

export const MOTO_INSTALL_HINT = 'moto_server is not installed: pip install "moto[server]"';

export interface MotoInstance {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

let available: boolean | undefined;

export function motoAvailable(): boolean {
  if (available === undefined) available = spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
  if (!available && isCI()) throw new Error(MOTO_INSTALL_HINT);
  return available;
}

export async function startMoto(): Promise<MotoInstance> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${stderr}`);
    if (await fetch(`${url}/moto-api/`).then((r) => r.status < 500, () => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${url} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
