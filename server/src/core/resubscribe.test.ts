/**
 * A channel's last subscriber leaving and a new one arriving at once: the channel registry
 * (channel.ts) calls the bus's unsubscribe and then subscribe without waiting for the first, and
 * the engine applies them in call order (the `Bus` contract), so the node stays subscribed. Memory
 * engine, and Redis (whose subscription changes go out in batched flushes) when redis-server is on
 * the PATH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../e2e/harness/redis.js';
import { startTestNode, type TestNode } from '../test-support.js';

function resubscribeSuite(env: () => Record<string, string>): void {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode(env());
  });
  afterAll(() => t?.close());

  it('an unsubscribe and a subscribe sent back to back leave the client subscribed, each message once', async () => {
    const c = await t.client();
    for (let round = 0; round < 5; round++) {
      const channel = `resub-${round}`;
      expect(await c.subscribe(channel)).toMatchObject({ type: 'subscribed' });
      // Back to back: the subscribe is handled right after the unsubscribe, before the bus is done with it.
      c.send({ type: 'unsubscribe', channel, id: `u${round}` });
      c.send({ type: 'subscribe', channel, id: `s${round}` });
      expect(await c.next((f) => f.id === `u${round}`)).toMatchObject({ type: 'unsubscribed', channel });
      expect(await c.next((f) => f.id === `s${round}`)).toMatchObject({ type: 'subscribed', channel });
      for (let i = 1; i <= 2; i++) expect((await t.publish({ channel, event: 'e', data: i })).status).toBe(200);
      expect((await c.messages(channel, 2)).map((m) => m.data)).toEqual([1, 2]);
    }
    // Nothing more arrived for any of them (no duplicate delivery).
    await t.publish({ channel: 'resub-end', event: 'e' });
    await c.subscribe('resub-end');
    expect(c.frames.filter((f) => f.type === 'message')).toEqual([]);
  });
}

describe('resubscribe at once, memory engine', () => {
  resubscribeSuite(() => ({}));
});

describe.skipIf(!redisAvailable())('resubscribe at once, Redis engine', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  resubscribeSuite(() => ({ RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `resub${process.pid}` }));
});
