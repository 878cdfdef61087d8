/** `river env`: the .env lines for the dev node (also from a subfolder) and for a deployment (fake cloud). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDevState, writeDeployedState } from '../state.js';
import { fakeCloud, OUTPUTS } from '../test-cloud.js';
import { tempProject, testContext, waitFor } from '../test-context.js';

let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

/** KEY=value lines → object; fails on any other line on stdout. */
function parseEnv(lines: string[]): Record<string, string> {
  return Object.fromEntries(
    lines.map((l) => {
      const m = /^([A-Z_]+)=(.*)$/.exec(l);
      if (!m) throw new Error(`not a KEY=value line: ${l}`);
      return [m[1]!, m[2]!];
    }),
  );
}

describe('river env', () => {
  it("prints the running dev node's settings, which publish to it and sign tokens it accepts; also from src/", async () => {
    await writeFile(join(project.dir, 'package.json'), '{"name":"app"}\n');
    const dev = testContext({ cwd: project.dir, env: { RIVER_DRAIN_MS: '0' } });
    const exit = dev.run(['dev', '--port', '0']);
    await waitFor(() => dev.io.stderr.some((l) => l.includes('Ctrl+C')), 'the dev node');
    try {
      expect(dev.io.stdoutText()).toContain('npx river env >> .env');
      const src = join(project.dir, 'src');
      await mkdir(src);
      const t = testContext({ cwd: src });
      expect(await t.run(['env'])).toBe(0);
      const env = parseEnv(t.io.stdout);
      expect(Object.keys(env)).toEqual(['RIVER_URL', 'RIVER_WS_URL', 'RIVER_API_KEY', 'RIVER_JWT_SECRET']);
      const state = (await readDevState(project.dir))!;
      expect(env).toEqual({ RIVER_URL: state.url, RIVER_WS_URL: state.wsUrl, RIVER_API_KEY: state.apiKey, RIVER_JWT_SECRET: state.secret });
      expect(t.io.stderrText()).toContain("append them to your app's .env");
      // What an app does with them: publish with the key.
      const res = await fetch(`${env.RIVER_URL}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.RIVER_API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'dogs', event: 'e', data: 1 }),
      });
      expect(res.status).toBe(200);
      const json = testContext({ cwd: src });
      expect(await json.run(['env', '--json'])).toBe(0);
      expect(JSON.parse(json.io.stdout[0]!)).toEqual(env);
    } finally {
      dev.abort();
      expect(await exit).toBe(0);
    }
  });

  it('a dev node that took its key from its environment: the same variable is needed here', async () => {
    const dev = testContext({
      cwd: project.dir,
      env: { RIVER_DRAIN_MS: '0', RIVER_API_KEY: 'key-from-the-shell-0123456789abcdefghijklmnop' },
    });
    const exit = dev.run(['dev', '--port', '0']);
    await waitFor(() => dev.io.stderr.some((l) => l.includes('Ctrl+C')), 'the dev node');
    try {
      const without = testContext({ cwd: project.dir });
      expect(await without.run(['env'])).toBe(1);
      expect(without.io.stderr[1]).toBe('hint: set RIVER_API_KEY in this shell too (or pass --key)');
      const withKey = testContext({ cwd: project.dir, env: { RIVER_API_KEY: 'key-from-the-shell-0123456789abcdefghijklmnop' } });
      expect(await withKey.run(['env'])).toBe(0);
      expect(parseEnv(withKey.io.stdout).RIVER_API_KEY).toBe('key-from-the-shell-0123456789abcdefghijklmnop');
    } finally {
      dev.abort();
      await exit;
    }
  });

  it("--deployed prints the deployment's URLs, key and secret (read from Secrets Manager)", async () => {
    await writeDeployedState(project.dir, { stackName: 'river', region: 'us-east-1', outputs: OUTPUTS });
    const cloud = fakeCloud({
      getSecret: async (arn) => (arn === OUTPUTS.JwtSecretArn ? 'deployed-jwt-secret-0123456789abcdefghijklmnopq' : 'key-1,key-0'),
    });
    const t = testContext({ cwd: project.dir, cloud, env: { RIVER_API_KEY: 'a-local-key-is-not-the-deployment-key' } });
    expect(await t.run(['env', '--deployed'])).toBe(0);
    expect(parseEnv(t.io.stdout)).toEqual({
      RIVER_URL: OUTPUTS.HttpApiUrl,
      RIVER_WS_URL: OUTPUTS.WebSocketUrl,
      RIVER_API_KEY: 'key-1',
      RIVER_JWT_SECRET: 'deployed-jwt-secret-0123456789abcdefghijklmnopq',
    });
    const token = testContext({ cwd: project.dir, cloud });
    expect(await token.run(['token', '--deployed', '--sub', 'u1'])).toBe(0);
    await jwtVerify(token.io.stdout[0]!, new TextEncoder().encode('deployed-jwt-secret-0123456789abcdefghijklmnopq'));
  });

  it('nothing here: exit 1 with a hint', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['env'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: no River node here to describe', expect.stringMatching(/^hint: run `npx river dev` first/)]);
  });
});
