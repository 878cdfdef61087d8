// @river/node against a real River node (started in-process on port 0), with @river/client over `ws`
// as the receiving side.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { River as Client } from '@river/client';
import { River, RiverError } from './index.js';

const SECRET = 'node-sdk-test-secret-0123456789-abcdefghijklmnop';
const API_KEY = 'node-sdk-test-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
let node: RiverNode;
let river: River;
const clients: Client[] = [];

/** `fn`'s first truthy answer, polled every 10 ms for up to `timeout` ms. */
const waitFor = <T>(fn: () => T | undefined | false, timeout = 5000) => vi.waitUntil(fn, { timeout, interval: 10 });

beforeAll(async () => {
  node = await startRiver(
    loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_LOG_LEVEL: 'silent' }),
  );
  river = new River({ url: node.urls.http, apiKey: API_KEY, secret: SECRET });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await node.close();
});

function client(claims: Parameters<River['createToken']>[0]) {
  const c = new Client({ url: node.urls.ws, token: () => river.createToken(claims, { expiresIn: '5m' }), WebSocket });
  clients.push(c);
  return c;
}

describe('@river/node against a real node', () => {
  it('publish reaches a subscribed client; history and channel show it', async () => {
    const c = client({ sub: 'reader-1' });
    const got: unknown[] = [];
    const dogs = c.subscribe('sdk-dogs');
    dogs.on('new-post', (data, meta) => got.push([data, meta.offset]));
    await new Promise<void>((r) => dogs.on('subscribed', () => r()));
    const first = await river.publish('sdk-dogs', 'new-post', { title: 'Rex' });
    expect(first).toEqual({ channel: 'sdk-dogs', offset: 1 });
    await waitFor(() => got.length === 1);
    expect(got).toEqual([[{ title: 'Rex' }, 1]]);
    const h = await river.history('sdk-dogs', { since: 0, limit: 10 });
    expect(h).toMatchObject({ channel: 'sdk-dogs', offset: 1, messages: [{ event: 'new-post', data: { title: 'Rex' }, offset: 1 }] });
    expect(await river.channel('sdk-dogs')).toMatchObject({ channel: 'sdk-dogs', subscribers: 1, offset: 1, epoch: h.epoch });
  });

  it("refuses '.' and '..' as channel names instead of reaching another endpoint", async () => {
    for (const name of ['.', '..']) {
      await expect(river.history(name)).rejects.toMatchObject({ code: 'bad_channel' });
      await expect(river.presence(name)).rejects.toMatchObject({ code: 'bad_channel' });
      await expect(river.channel(name)).rejects.toMatchObject({ code: 'bad_channel' });
      await expect(river.publish(name, 'e', 1)).rejects.toMatchObject({ code: 'bad_channel', status: 400 });
    }
  });

  it('publishes to several channels and in batches', async () => {
    expect(await river.publish(['sdk-a', 'sdk-b'], 'e', 1)).toEqual({
      results: [
        { channel: 'sdk-a', offset: 1 },
        { channel: 'sdk-b', offset: 1 },
      ],
    });
    const b = await river.batch([
      { channel: 'sdk-a', event: 'e', data: 2 },
      { channel: 'sdk-b', event: 'e' },
    ]);
    expect(b.results).toEqual([
      { channel: 'sdk-a', offset: 2 },
      { channel: 'sdk-b', offset: 2 },
    ]);
  });

  it('an idempotency key given by the caller publishes once', async () => {
    const one = await river.publish('sdk-idem', 'e', 1, { idempotencyKey: 'k-1' });
    const two = await river.publish('sdk-idem', 'e', 1, { idempotencyKey: 'k-1' });
    expect(two).toEqual(one);
    expect((await river.channel('sdk-idem')).offset).toBe(1);
  });

  it('presence lists members with their info; disconnect closes the user with 4503', async () => {
    const c = client({ sub: 'user-42', info: { name: 'Ada' } });
    const states: string[] = [];
    c.on('state', (s) => states.push(`${s.to}:${s.reason}`));
    c.subscribe('presence-sdk-room');
    await waitFor(() => c.state === 'connected');
    const members = await (async () => {
      for (let i = 0; i < 100; i++) {
        const r = await river.presence('presence-sdk-room');
        if (r.members.length) return r.members;
        await new Promise((r) => setTimeout(r, 20));
      }
      return [];
    })();
    expect(members).toEqual([{ userId: 'user-42', info: { name: 'Ada' } }]);
    expect(await river.disconnect('user-42')).toEqual({ disconnected: 1 });
    await waitFor(() => c.state === 'disconnected');
    expect(states.at(-1)).toBe('disconnected:user_disconnected');
  });

  it('rejects with a typed RiverError carrying status and code', async () => {
    const bad = new River({ url: node.urls.http, apiKey: 'wrong' });
    const e1 = await bad.publish('dogs', 'e', 1).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(RiverError);
    expect(e1).toMatchObject({ status: 401, code: 'unauthorized' });
    await expect(river.publish('no spaces!', 'e', 1)).rejects.toMatchObject({ status: 400, code: 'bad_channel' });
    await expect(new River({ url: node.urls.http, apiKey: API_KEY }).createToken({ sub: 'x' })).rejects.toMatchObject({
      code: 'no_secret',
    });
  });
});
