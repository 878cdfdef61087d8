import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { decodeJwt, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempProject, testContext, waitFor } from '../test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

const line = (lines: string[], label: string) =>
  lines
    .find((l) => l.trim().startsWith(label))
    ?.trim()
    .slice(label.length)
    .trim();

async function startDev(env: Record<string, string> = {}, args: string[] = []) {
  const t = testContext({ cwd: project.dir, env: { RIVER_DRAIN_MS: '0', ...env } });
  const exit = t.run(['dev', '--port', '0', ...args]);
  await waitFor(() => t.io.stderr.some((l) => l.includes('Ctrl+C')) || t.io.stderr.some((l) => l.startsWith('error')), 'the dev node');
  return { ...t, exit };
}

describe('river dev', () => {
  it('prints the WebSocket URL, HTTP URL, API key and a token that verifies, then stops on Ctrl+C with exit 0', async () => {
    const dev = await startDev();
    const out = dev.io.stdout;
    const ws = line(out, 'WebSocket URL');
    const http = line(out, 'HTTP API URL');
    const key = line(out, 'API key');
    const token = line(out, 'Test token');
    expect(ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/ws$/);
    expect(http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(dev.io.stdoutText()).toContain('npx river listen dogs');
    expect(dev.io.stdoutText()).toContain('npx river publish dogs new-post');

    const state = JSON.parse(await readFile(join(project.dir, '.river/dev.json'), 'utf8')) as Record<string, unknown>;
    expect(state.apiKey).toBe(key);
    expect(Buffer.from(String(state.secret), 'base64url')).toHaveLength(32);
    expect(state).toMatchObject({ url: http, wsUrl: ws, pid: process.pid });
    const { payload } = await jwtVerify(token!, new TextEncoder().encode(String(state.secret)), { algorithms: ['HS256'] });
    expect(payload.sub).toBe('dev-user');
    expect(payload.exp! - payload.iat!).toBe(24 * 3600);

    // the node really serves with that key
    const res = await fetch(`${http}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'dogs', event: 'e', data: 1 }),
    });
    expect(res.status).toBe(200);

    // the console, open without a key on 127.0.0.1
    const consoleUrl = line(out, 'Console');
    expect(consoleUrl).toBe(`${http}/console`);
    const page = await fetch(consoleUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('River console');
    expect((await fetch(`${http}/console/api/state`, { headers: { 'x-river-console': '1' } })).status).toBe(200);

    dev.abort();
    expect(await dev.exit).toBe(0);
    await expect(fetch(`${http}/healthz`)).rejects.toThrow();
    expect(dev.io.stderrText()).toContain('stopped');
  });

  it('creates .river/dev.json once (mode 0600, git-ignored) and reuses it', async () => {
    const first = await startDev();
    first.abort();
    expect(await first.exit).toBe(0);
    const path = join(project.dir, '.river/dev.json');
    const before = JSON.parse(await readFile(path, 'utf8')) as { secret: string; apiKey: string };
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(join(project.dir, '.river/.gitignore'), 'utf8')).toBe('*\n');
    expect(first.io.stderrText()).toContain('created .river/dev.json');

    const second = await startDev({}, ['--json']);
    const printed = JSON.parse(second.io.stdout[0]!) as { apiKey: string; token: string; url: string; wsUrl: string };
    expect(printed.apiKey).toBe(before.apiKey);
    await jwtVerify(printed.token, new TextEncoder().encode(before.secret));
    expect(second.io.stderrText()).not.toContain('created .river/dev.json');
    second.abort();
    expect(await second.exit).toBe(0);
    const after = JSON.parse(await readFile(path, 'utf8')) as { secret: string; apiKey: string; pid?: number };
    expect(after).toMatchObject({ secret: before.secret, apiKey: before.apiKey });
    expect(after.pid).toBeUndefined();
  });

  it('uses RIVER_JWT_SECRET and RIVER_API_KEY from the environment when set', async () => {
    const secret = 'an-environment-secret-that-is-long-enough-0123456789';
    const dev = await startDev({ RIVER_JWT_SECRET: secret, RIVER_API_KEY: 'env-key' }, ['--json']);
    const printed = JSON.parse(dev.io.stdout[0]!) as { apiKey: string; token: string };
    expect(printed.apiKey).toBe('env-key');
    await jwtVerify(printed.token, new TextEncoder().encode(secret));
    expect(decodeJwt(printed.token).sub).toBe('dev-user');

    // Another shell finds the node through dev.json, which says the credentials are the node's env:
    // without them it is told so (exit 1, hint), never handed the file's own secret and key.
    const state = JSON.parse(await readFile(join(project.dir, '.river/dev.json'), 'utf8')) as Record<string, unknown>;
    expect(state.fromEnv).toEqual(['RIVER_JWT_SECRET', 'RIVER_API_KEY']);
    expect(JSON.stringify(state)).not.toContain(secret);
    const bare = testContext({ cwd: project.dir });
    expect(await bare.run(['publish', 'dogs', 'e', '1'])).toBe(1);
    expect(bare.io.stderr).toEqual([
      expect.stringMatching(/^error: the river dev node at http:\/\/127\.0\.0\.1:\d+ uses RIVER_API_KEY from its own environment/),
      'hint: set RIVER_API_KEY in this shell too (or pass --key)',
    ]);
    const noSecret = testContext({ cwd: project.dir });
    expect(await noSecret.run(['token', '--sub', 'u1'])).toBe(1);
    expect(noSecret.io.stderr[1]).toBe('hint: set RIVER_JWT_SECRET in this shell too');
    const withEnv = testContext({ cwd: project.dir, env: { RIVER_API_KEY: 'env-key' } });
    expect(await withEnv.run(['publish', 'dogs', 'e', '1'])).toBe(0);

    dev.abort();
    expect(await dev.exit).toBe(0);
  });

  it('a busy port or a bad flag is exit 1 with a hint', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const t = testContext({ cwd: project.dir });
      expect(await t.run(['dev', '--port', String(port)])).toBe(1);
      expect(t.io.stderr).toEqual([
        expect.stringContaining('created .river/dev.json'),
        `error: port ${port} on 127.0.0.1 is already in use`,
        expect.stringMatching(/^hint: .*--port/),
      ]);
    } finally {
      blocker.close();
    }
    const bad = testContext({ cwd: project.dir });
    expect(await bad.run(['dev', '--port', 'abc'])).toBe(1);
    expect(bad.io.stderr).toEqual(['error: --port "abc" is not a port number', expect.stringMatching(/^hint: /)]);
    const redis = testContext({ cwd: project.dir });
    expect(await redis.run(['dev', '--redis', 'http://x'])).toBe(1);
    expect(redis.io.stderr[1]).toMatch(/^hint: use redis:\/\//);
  });
});
