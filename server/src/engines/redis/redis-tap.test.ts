/** The tap and the console's cluster-wide view on the Redis bus: two nodes on one real Redis. */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../../e2e/harness/redis.js';
import { startTestNode, TestClient, type TestNode } from '../../test-support.js';

const KEY = randomBytes(32).toString('base64url');
let redis: RedisInstance;
let n = 0;

describe.skipIf(!redisAvailable())('tap and console across nodes on Redis', () => {
  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);
  afterAll(() => redis?.stop());

  async function twoNodes(): Promise<[TestNode, TestNode]> {
    const env = { RIVER_API_KEY: KEY, RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `tap${process.pid}-${++n}`, RIVER_CONSOLE: 'on' };
    return [await startTestNode(env), await startTestNode(env)];
  }

  it('a tap on node A sees publishes handled by node B, on channels nobody on A serves; stops pattern-subscribing when closed', async () => {
    const [a, b] = await twoNodes();
    try {
      const tap = await TestClient.connect(a.node.urls.ws.replace('/v1/ws', '/v1/tap'));
      tap.send({ type: 'tap', key: KEY, channels: ['*'] });
      await tap.next('tapping');
      const headers = { authorization: `Bearer ${KEY}` };
      for (const channel of ['one', 'two', 'three']) {
        expect((await b.http('POST', '/v1/publish', { channel, event: 'e', data: channel }, headers)).status).toBe(200);
      }
      const got = [await tap.next('message'), await tap.next('message'), await tap.next('message')];
      expect(got.map((f) => f.channel).sort()).toEqual(['one', 'three', 'two']);
      const numpat = () => spawnSync('redis-cli', ['-p', String(redis.port), 'PUBSUB', 'NUMPAT'], { encoding: 'utf8' }).stdout.trim();
      expect(numpat()).toBe('1');
      tap.close();
      await tap.waitClose();
      await expect.poll(numpat, { timeout: 5000 }).toBe('0');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("node A's console state shows a client of node B", async () => {
    const [a, b] = await twoNodes();
    try {
      const c = await b.client({ sub: 'bob-on-b' });
      await c.subscribe('room');
      const res = await fetch(`${a.node.urls.http}/console/api/state`, {
        headers: { authorization: `Bearer ${KEY}`, 'x-river-console': '1' },
      });
      const state = (await res.json()) as { nodes: { connections: { userId: string }[] }[]; channels: unknown[] };
      expect(state.nodes).toHaveLength(2);
      expect(state.nodes.flatMap((x) => x.connections.map((cn) => cn.userId))).toEqual(['bob-on-b']);
      expect(state.channels).toEqual([{ name: 'room', subscribers: 1, offset: 0 }]);
      // Disconnect from A's console reaches B's client.
      const d = await fetch(`${a.node.urls.http}/console/api/v1/disconnect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'x-river-console': '1' },
        body: JSON.stringify({ userId: 'bob-on-b' }),
      });
      expect(await d.json()).toEqual({ disconnected: 1 });
      expect((await c.waitClose()).code).toBe(4503);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
