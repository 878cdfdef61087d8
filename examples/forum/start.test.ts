// `npm run example` with a port taken: one line saying which port and what to do, exit 1, no stack
// trace; a `river dev` on the River port is used as is; the forum's default port gives way.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeDevState } from 'river';
import { loadConfig, startRiver } from '@river/server';
import { listenOn } from './ports.js';

const start = fileURLToPath(new URL('./start.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');
let dir: string;
let taken: Server;
let takenPort: number;

beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  takenPort = (taken.address() as { port: number }).port;
});
afterAll(() => new Promise((r) => taken.close(r)));
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'river-forum-start-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function runExample(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = promisify(execFile);
  const base: NodeJS.ProcessEnv = { ...process.env, RIVER_LOG_LEVEL: 'silent', RIVER_DRAIN_MS: '0' };
  delete base.RIVER_URL;
  return run(process.execPath, ['--import', tsx, start], { cwd: dir, env: { ...base, ...env }, timeout: 30_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

describe('npm run example with a port taken', () => {
  it('RIVER_PORT taken by something else: exit 1, which port, how to pick another or use the node there', async () => {
    const r = await runExample({ RIVER_PORT: String(takenPort) });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(
      `forum: port ${takenPort} on 127.0.0.1 (RIVER_PORT) is taken, so the example cannot start its River dev node there`,
    );
    expect(r.stderr).toContain('RIVER_PORT=0 npm run example');
    expect(r.stderr).toContain(`RIVER_URL=http://127.0.0.1:${takenPort} npm run example`);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(lines.length).toBeLessThanOrEqual(3);
  }, 40_000);

  it('PORT taken: exit 1 naming it (after stopping the River dev node it started)', async () => {
    const r = await runExample({ RIVER_PORT: '0', PORT: String(takenPort) });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`forum: port ${takenPort} on 127.0.0.1 (PORT) is taken`);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 40_000);

  it('RIVER_PORT taken by the running `river dev` of .river/dev.json: the forum uses that node', async () => {
    const secret = 'forum-start-secret-0123456789abcdefghijklmnop';
    const apiKey = 'forum-start-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
    const node = await startRiver(
      loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: secret, RIVER_API_KEY: apiKey, RIVER_LOG_LEVEL: 'silent' }),
    );
    // This test process plays `river dev`: its pid is alive.
    await writeDevState(dir, { secret, apiKey, url: node.urls.http, wsUrl: node.urls.ws, pid: process.pid });
    const child = spawn(process.execPath, ['--import', tsx, start], {
      cwd: dir,
      env: { ...process.env, RIVER_PORT: String(node.port), PORT: '0', RIVER_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 30_000;
      while (!out.includes('Forum: ') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain(`River: port ${node.port} is taken by the running \`river dev\` (pid ${process.pid}`);
      const forum = /Forum: (http:\S+)\/f\/dogs/.exec(out)![1]!;
      expect((await fetch(`${forum}/river-token`)).status).toBe(200); // signed with the dev node's secret
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      await node.close();
    }
  }, 40_000);
});

describe('listenOn', () => {
  it('a taken default port gives way to a free one; a chosen one is an EADDRINUSE', async () => {
    const a = createHttpServer();
    try {
      const got = await listenOn(a, takenPort, '127.0.0.1', true);
      expect(got.fellBack).toBe(true);
      expect(got.port).not.toBe(takenPort);
      await expect(listenOn(createHttpServer(), takenPort, '127.0.0.1', false)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      a.close();
    }
  });
});
