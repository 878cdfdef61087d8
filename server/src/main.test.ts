import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { API_KEY, SECRET } from './test-support.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs main.ts from source (tsx) as its own process, the way `node server/dist/main.js` runs. */
function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--conditions=river-source', '--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('main (process entry)', () => {
  it('prints a config error as one line and exits 1', async () => {
    const p = run({ RIVER_API_KEY: 'k' });
    expect(await p.exited).toBe(1);
    expect(p.err().trim().split('\n')).toEqual([expect.stringContaining('RIVER_JWT_SECRET is required')]);
  });

  it('prints an unreadable JWT secret (RIVER_JWT_SECRET_ID) as one line and exits 1', async () => {
    // Secrets Manager at a closed loopback port: the first read fails fast, nothing leaves the machine.
    const p = run({
      RIVER_JWT_SECRET_ID: 'river/jwt',
      RIVER_API_KEY: API_KEY,
      RIVER_PORT: '0',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
      AWS_SECRET_ACCESS_KEY: 'fake',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
    });
    expect(await p.exited).toBe(1);
    // The last line (the AWS SDK may print a Node version warning before it).
    expect(p.err().trim().split('\n').at(-1)).toMatch(/^river: cannot read the JWT secret river\/jwt from Secrets Manager/);
  }, 30_000);

  it('logs one listening line with the port, serves, and drains to exit 0 on SIGTERM', async () => {
    const p = run({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_DRAIN_MS: '100' });
    const deadline = Date.now() + 15_000;
    let port: number | undefined;
    while (port === undefined && Date.now() < deadline) {
      const line = p
        .out()
        .split('\n')
        .find((l) => l.includes('"listening"'));
      if (line !== undefined) port = (JSON.parse(line) as { port: number }).port;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.out()).not.toContain(SECRET);
    expect(p.out()).not.toContain(API_KEY);
  }, 30_000);
});
