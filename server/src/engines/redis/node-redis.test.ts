/** Two nodes on one real Redis behave as one service (the hub over the Redis engines). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../../e2e/harness/redis.js';
import { startTestNode, token, type TestNode } from '../../test-support.js';

let redis: RedisInstance;
let a: TestNode;
let b: TestNode;

describe.skipIf(!redisAvailable())('two nodes on Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
    const env = { RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `h1n${process.pid}`, RIVER_HEARTBEAT_MS: '300' };
    a = await startTestNode(env);
    b = await startTestNode(env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('fans out across nodes and counts subscribers cluster-wide', async () => {
    const onA = await a.client();
    const onB = await b.client();
    await onA.subscribe('x-dogs');
    await onB.subscribe('x-dogs');
    expect((await a.publish({ channel: 'x-dogs', event: 'e', data: 1 })).body).toEqual({ channel: 'x-dogs', offset: 1 });
    expect((await b.publish({ channel: 'x-dogs', event: 'e', data: 2 })).body).toEqual({ channel: 'x-dogs', offset: 2 });
    for (const c of [onA, onB]) expect((await c.messages('x-dogs', 2)).map((m) => m.offset)).toEqual([1, 2]);
    await expect.poll(async () => (await a.http('GET', '/v1/channels/x-dogs')).body.subscribers, { timeout: 8000 }).toBe(2);
  });

  it('recovers on another node with contiguous offsets while publishes race the resubscribe', async () => {
    const first = await a.client();
    const s = await first.subscribe('x-race');
    for (let i = 0; i < 5; i++) await a.publish({ channel: 'x-race', event: 'e', data: i });
    await first.messages('x-race', 5);
    first.terminate();
    const moved = await b.client();
    const burst = Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).publish({ channel: 'x-race', event: 'e', data: i }));
    const resub = moved.subscribe('x-race', { offset: 5, epoch: s.epoch });
    const more = Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).publish({ channel: 'x-race', event: 'e', data: i }));
    await Promise.all([...burst, ...more]);
    expect(await resub).toMatchObject({ recovered: true, epoch: s.epoch });
    const got = await moved.messages('x-race', 40);
    expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 40 }, (_, i) => 6 + i));
  });

  it('tracks presence across nodes and disconnects a user on every node', async () => {
    const watcher = await a.connect();
    await watcher.auth(await token({ sub: 'x-watcher' }));
    await watcher.subscribe('presence-x');
    const tabs = [await a.connect(), await b.connect()];
    for (const tab of tabs) {
      await tab.auth(await token({ sub: 'x-user', info: { n: 1 } }));
      await tab.subscribe('presence-x');
    }
    expect(await watcher.next('presence')).toMatchObject({ action: 'join', member: { userId: 'x-user', info: { n: 1 } } });
    expect((await b.http('GET', '/v1/channels/presence-x/presence')).body.members).toHaveLength(2);
    expect((await b.http('POST', '/v1/disconnect', { userId: 'x-user' })).body).toEqual({ disconnected: 2 });
    for (const tab of tabs) expect((await tab.waitClose()).code).toBe(4503);
    expect(await watcher.next('presence')).toMatchObject({ action: 'leave', member: { userId: 'x-user' } });
    expect(watcher.frames.filter((f) => f.type === 'presence')).toEqual([]);
  });
});
