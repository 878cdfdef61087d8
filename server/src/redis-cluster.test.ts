/** The Redis engines in cluster mode (sharded pub/sub) against a real 3-master Redis Cluster. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedisCluster, type RedisClusterInstance } from '../../e2e/harness/redis.js';
import { busContract } from './bus.contract.js';
import { presenceContract } from './presence.contract.js';
import { RedisBus } from './redis-bus.js';
import { hashSlot } from './redis-keys.js';
import { RedisPresence } from './redis-presence.js';

let redis: RedisClusterInstance;
let cluster = 0;
const prefix = () => `c${process.pid}-${++cluster}`;

describe.skipIf(!redisAvailable())('Redis engines on a Redis Cluster', () => {
  beforeAll(async () => {
    redis = await startRedisCluster(3);
  }, 60_000);
  afterAll(() => redis?.stop());

  busContract('redis cluster', (opts) => {
    const p = prefix();
    return { node: () => new RedisBus({ ...opts, url: redis.url, cluster: true, prefix: p, livenessIntervalMs: 500 }) };
  });
  presenceContract('redis cluster', (opts) => {
    const p = prefix();
    return { node: () => new RedisPresence({ ...opts, url: redis.url, cluster: true, prefix: p }) };
  });

  it('spreads channels over every shard, each channel delivered through its own shard', async () => {
    const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, cluster: true, prefix: prefix() };
    const a = new RedisBus(opts);
    const b = new RedisBus(opts);
    const got: string[] = [];
    await a.start({ message: (m) => got.push(`${m.channel}#${m.offset}`), control: () => 0 });
    await b.start({ message: () => undefined, control: () => 0 });
    try {
      const channels = Array.from({ length: 30 }, (_, i) => `room-${i}`);
      // 30 channels land on slots owned by all 3 masters (slots are split in 3 ranges).
      const shards = new Set(channels.map((c) => Math.floor(hashSlot(a.keys.live(c)) / (16384 / 3))));
      expect(shards.size).toBe(3);
      for (const c of channels) await a.subscribe(c);
      for (const c of channels) await b.publish({ channel: c, event: 'e', data: null });
      await expect.poll(() => got.length, { timeout: 5000 }).toBe(30);
      expect(new Set(got)).toEqual(new Set(channels.map((c) => `${c}#1`)));
    } finally {
      await a.close();
      await b.close();
    }
  });
});
