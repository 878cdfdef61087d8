import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeDevState } from '../state.js';
import { tempProject, testContext } from '../test-context.js';

const SECRET = 'a-test-secret-with-at-least-thirty-two-bytes-0123';
let project: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  project = await tempProject();
});
afterEach(async () => {
  await project.cleanup();
});

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

describe('river token', () => {
  it('prints only the JWT on stdout, HS256 with the requested claims', async () => {
    const now = Date.UTC(2026, 10, 28, 4, 0, 0);
    const t = testContext({ cwd: project.dir, env: { RIVER_JWT_SECRET: SECRET }, now: () => now });
    const code = await t.run([
      'token',
      '--sub',
      'u1',
      '--channels',
      'dogs,doc-*',
      '--publish',
      'doc-*',
      '--ttl',
      '2h',
      '--info',
      '{"name":"Ada"}',
    ]);
    expect(code).toBe(0);
    expect(t.io.stdout).toHaveLength(1);
    expect(t.io.stderr).toEqual([]);
    const token = t.io.stdout[0]!;
    expect(token).toMatch(JWT); // what `$(river token …)` captures
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], currentDate: new Date(now) });
    expect(payload).toMatchObject({ sub: 'u1', channels: ['dogs', 'doc-*'], publish: ['doc-*'], info: { name: 'Ada' } });
    expect(payload.iat).toBe(now / 1000);
    expect(payload.exp).toBe(now / 1000 + 7200);
  });

  it('defaults to a 1h token without channel claims, signed with the dev secret when the env has none', async () => {
    await writeDevState(project.dir, { secret: 'dev-secret-from-dev-json-0123456789abcdef', apiKey: 'k' });
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['token', '--sub', 'u2'])).toBe(0);
    const { payload } = await jwtVerify(t.io.stdout[0]!, new TextEncoder().encode('dev-secret-from-dev-json-0123456789abcdef'));
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload.channels).toBeUndefined();
    expect(payload.publish).toBeUndefined();
  });

  it('RIVER_JWT_SECRET wins over the dev secret; --json wraps the token', async () => {
    await writeDevState(project.dir, { secret: 'dev-secret-from-dev-json-0123456789abcdef', apiKey: 'k' });
    const t = testContext({ cwd: project.dir, env: { RIVER_JWT_SECRET: SECRET } });
    expect(await t.run(['token', '--sub', 'u3', '--json'])).toBe(0);
    const { token, expiresIn } = JSON.parse(t.io.stdout[0]!) as { token: string; expiresIn: number };
    expect(expiresIn).toBe(3600);
    await jwtVerify(token, new TextEncoder().encode(SECRET));
    expect(decodeJwt(token).sub).toBe('u3');
  });

  it.each([
    [['token', '--sub', 'u1', '--info', '{nope'], /^error: --info is not valid JSON/, /^hint: quote a JSON object/],
    [['token', '--sub', 'u1', '--info', '[1]'], /^error: --info must be a JSON object/, /^hint: /],
    [['token', '--sub', 'u1', '--ttl', 'soon'], /^error: --ttl "soon" is not a duration/, /^hint: use a number with s, m, h or d/],
    [['token', '--sub', 'u1', '--ttl', '0'], /^error: --ttl "0" is not a duration/, /^hint: /],
    [['token', '--sub', 'u1', '--channels', 'bad channel'], /^error: --channels: "bad channel" is not a channel pattern/, /^hint: /],
    [['token'], /^error: required option '--sub <id>' not specified/, /^hint: see `river token --help`/],
  ])('%j is exit 1 with one error line and one hint line', async (argv, error, hint) => {
    const t = testContext({ cwd: project.dir, env: { RIVER_JWT_SECRET: SECRET } });
    expect(await t.run(argv)).toBe(1);
    expect(t.io.stdout).toEqual([]);
    expect(t.io.stderr).toHaveLength(2);
    expect(t.io.stderr[0]).toMatch(error);
    expect(t.io.stderr[1]).toMatch(hint);
  });

  it('without any secret: exit 1 saying where a secret comes from', async () => {
    const t = testContext({ cwd: project.dir });
    expect(await t.run(['token', '--sub', 'u1'])).toBe(1);
    expect(t.io.stderr).toEqual(['error: no secret to sign with', expect.stringMatching(/RIVER_JWT_SECRET.*npx river dev.*--deployed/)]);
  });
});
