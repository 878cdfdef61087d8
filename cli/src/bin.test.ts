/** The shims as real processes: bin/river (a checkout) and cli/bin/river.js (what npm links as `river`). Needs `npm run build`. */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempProject } from './test-context.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${root}cli/dist/main.js`);
if (!built && process.env.CI) throw new Error('cli/dist is missing: run `npm run build` before the tests');

describe.skipIf(!built)('bin/river as a process (after npm run build)', () => {
  let project: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    project = await tempProject();
  });
  afterAll(async () => {
    await project.cleanup();
  });

  it.each(['bin/river', 'cli/bin/river.js'])('node %s --help lists the commands, exit 0', async (shim) => {
    const { stdout } = await run(process.execPath, [`${root}${shim}`, '--help'], { cwd: project.dir });
    expect(stdout).toContain('Usage: river');
    for (const cmd of ['dev', 'token', 'publish', 'listen']) expect(stdout).toContain(`\n  ${cmd} `);
  });

  it('$(river token --sub u1) captures exactly one JWT', async () => {
    const secret = 'process-test-secret-0123456789abcdefghijkl';
    const { stdout, stderr } = await run(process.execPath, [`${root}bin/river`, 'token', '--sub', 'u1'], {
      cwd: project.dir,
      env: { ...process.env, RIVER_JWT_SECRET: secret },
    });
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode(secret));
    expect(payload.sub).toBe('u1');
  });

  it('a user mistake exits 1 with an error and a hint on stderr, nothing on stdout', async () => {
    const err = await run(process.execPath, [`${root}bin/river`, 'token', '--sub', 'u1', '--ttl', 'x'], { cwd: project.dir }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 1, stdout: '' });
    expect((err as { stderr: string }).stderr).toMatch(/^error: --ttl "x" is not a duration\nhint: /);
  });

  it('river dev as a process: prints its URLs, serves, and SIGTERM drains it to exit 0', async () => {
    const child = spawn(process.execPath, [`${root}bin/river`, 'dev', '--port', '0', '--json'], {
      cwd: project.dir,
      env: { ...process.env, RIVER_DRAIN_MS: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 15_000;
      while (!out.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const printed = JSON.parse(out.split('\n')[0]!) as { url: string; wsUrl: string; apiKey: string; token: string };
      expect((await fetch(`${printed.url}/healthz`)).status).toBe(200);
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
      await expect(fetch(`${printed.url}/healthz`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
