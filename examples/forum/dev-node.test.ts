// The example's in-process dev node shares .river/dev.json with `river dev`: same secret and key on
// every start, and the CLI (run in-process, as its own tests do) finds and reaches the node.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { River } from '@river/node';
import { loadOrCreateDevState as cliLoadOrCreate, readDevState as cliReadDevState } from 'river';
import { testContext } from '../../cli/src/test-context.js'; // a test helper: not part of the `river` package's API
import { startDevNode, type DevNode } from './dev-node.js';

let dir: string;
const nodes: DevNode[] = [];
const env = { RIVER_PORT: '0', RIVER_LOG_LEVEL: 'silent' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'river-forum-dev-'));
});
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.node.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('the forum dev node and .river/dev.json', () => {
  it('creates dev.json once in the format river dev reads, reuses it, and river token/publish reach the node', async () => {
    const first = await startDevNode(dir, env);
    nodes.push(first);
    expect(first.created).toBe(true);
    expect(first.config.drainMs).toBe(1000); // like river dev: Ctrl+C drains in 1 s, not 10
    const state = await cliReadDevState(dir);
    expect(state).toEqual({
      secret: first.secret,
      apiKey: first.apiKey,
      url: first.node.urls.http,
      wsUrl: first.node.urls.ws,
      pid: process.pid,
    });
    expect((await stat(join(dir, '.river', 'dev.json'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, '.river', '.gitignore'), 'utf8')).toBe('*\n');

    // `river token` signs with the same secret; `river publish` finds the node and its key in dev.json.
    const token = testContext({ cwd: dir });
    expect(await token.run(['token', '--sub', 'alice'])).toBe(0);
    const { payload } = await jwtVerify(token.io.stdout[0]!, new TextEncoder().encode(first.secret));
    expect(payload.sub).toBe('alice');
    const publish = testContext({ cwd: dir });
    expect(await publish.run(['publish', 'dogs', 'new-post', '{"text":"hi"}', '--json'])).toBe(0);
    expect(JSON.parse(publish.io.stdout[0]!)).toEqual({ channel: 'dogs', offset: 1 });
    const history = await new River({ url: first.node.urls.http, apiKey: first.apiKey }).history('dogs');
    expect(history.messages).toEqual([expect.objectContaining({ event: 'new-post', data: { text: 'hi' } })]);

    await first.stop();
    expect((await cliReadDevState(dir))?.pid).toBeUndefined(); // as river dev leaves it

    const second = await startDevNode(dir, env);
    nodes.push(second);
    expect(second.created).toBe(false);
    expect([second.secret, second.apiKey]).toEqual([first.secret, first.apiKey]);
    await second.stop();
  });

  it('reuses the secret and key river dev created; RIVER_JWT_SECRET / RIVER_API_KEY win when set', async () => {
    const { state } = await cliLoadOrCreate(dir);
    const a = await startDevNode(dir, env);
    nodes.push(a);
    expect([a.secret, a.apiKey, a.created]).toEqual([state.secret, state.apiKey, false]);
    await a.stop();
    const b = await startDevNode(dir, {
      ...env,
      RIVER_JWT_SECRET: 'env-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
      RIVER_API_KEY: 'env-key',
    });
    nodes.push(b);
    expect([b.secret, b.apiKey]).toEqual(['env-secret-0123456789-abcdefghijklmnopqrstuvwxyz', 'env-key']);
    // The file keeps the dev ones, and says which the running node took from its environment, so
    // the CLI does not sign with a secret this node would refuse.
    const raw = JSON.parse(await readFile(join(dir, '.river', 'dev.json'), 'utf8')) as Record<string, unknown>;
    expect(raw).toMatchObject({ secret: state.secret, apiKey: state.apiKey, fromEnv: ['RIVER_JWT_SECRET', 'RIVER_API_KEY'] });
    await b.stop();
    const c = await startDevNode(dir, env);
    nodes.push(c);
    expect(JSON.parse(await readFile(join(dir, '.river', 'dev.json'), 'utf8'))).not.toHaveProperty('fromEnv');
    await c.stop();
  });
});
