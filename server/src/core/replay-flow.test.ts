/**
 * Recovery of a backlog far larger than maxBufferedBytes (issue 14, item 1): a client that missed
 * 21 × 60 KB (1.26 MB > the default 1 MiB) resubscribes with `since` and gets `subscribed` first,
 * then every missed message once, in order, then live ones; it is never cut 4003. On one node
 * (memory engines) and on a node over a real Redis.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../e2e/harness/redis.js';
import { startTestNode, type TestNode } from '../test-support.js';

const MISSED = 21;
const DATA = 'x'.repeat(60_000);

async function missedBacklogRecovers(t: TestNode): Promise<void> {
  const channel = `big-${randomBytes(4).toString('hex')}`;
  expect((await t.publish({ channel, event: 'e', data: { n: 0 } })).status).toBe(200);
  const a = await t.client();
  const sub = await a.subscribe(channel);
  a.terminate();
  for (let n = 1; n <= MISSED; n++) {
    const r = await t.publish({ channel, event: 'e', data: { n, pad: DATA } });
    expect(r.status).toBe(200);
  }
  const b = await t.client();
  b.send({ type: 'subscribe', channel, since: { epoch: sub.epoch, offset: sub.offset }, id: 7 });
  // `subscribed` comes before any message of the channel.
  const first = await b.next((f) => f.channel === channel, 15_000);
  expect(first).toMatchObject({ type: 'subscribed', recovered: true, id: 7 });
  const got = await b.messages(channel, MISSED, 15_000);
  expect(got.map((m) => m.data.n)).toEqual(Array.from({ length: MISSED }, (_, i) => i + 1));
  expect(got.map((m) => m.offset)).toEqual(Array.from({ length: MISSED }, (_, i) => sub.offset + i + 1));
  // Then live, and nothing twice.
  await t.publish({ channel, event: 'e', data: { n: 'live' } });
  const live = await b.next((f) => f.type === 'message' && f.channel === channel);
  expect(live.data.n).toBe('live');
  expect(b.frames.filter((f) => f.type === 'message')).toEqual([]);
  expect(b.closeInfo).toBeUndefined();
}

describe('replay larger than maxBufferedBytes', () => {
  it('recovers on one node: subscribed first, 21 × 60 KB once and in order, no 4003', async () => {
    const t = await startTestNode();
    try {
      await missedBacklogRecovers(t);
    } finally {
      await t.close();
    }
  });

  describe.skipIf(!redisAvailable())('over Redis', () => {
    let redis: RedisInstance;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('recovers on a Redis node too', async () => {
      const t = await startTestNode({ RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `rf${randomBytes(3).toString('hex')}` });
      try {
        await missedBacklogRecovers(t);
      } finally {
        await t.close();
      }
    });
  });
});
