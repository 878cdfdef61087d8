import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../../e2e/harness/redis.js';
import { RedisBus } from './redis-bus.js';
import { reconnectDelay } from './redis-connection.js';

describe('reconnectDelay', () => {
  it('backs off exponentially from 50 ms to 2 s with jitter in the upper half', () => {
    expect([1, 2, 3, 6, 20].map((n) => reconnectDelay(n, () => 0))).toEqual([50, 100, 200, 1000, 1000]);
    expect([1, 2, 3, 6, 20].map((n) => reconnectDelay(n, () => 1))).toEqual([100, 200, 400, 2000, 2000]);
  });
});

describe.skipIf(!redisAvailable())('Redis connections', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', 's3cr:t@pw'] });
  });
  afterAll(() => redis?.stop());
  const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, prefix: 'conn' };
  const url = (password: string) => `redis://:${encodeURIComponent(password)}@127.0.0.1:${redis.port}`;

  it('authenticates with the password in the URL', async () => {
    const bus = new RedisBus({ ...opts, url: url('s3cr:t@pw') });
    try {
      await bus.start({ message: () => undefined, control: () => 0 });
      expect((await bus.publish({ channel: 'c', event: 'e', data: 1 })).offset).toBe(1);
    } finally {
      await bus.close();
    }
  });

  it('fails start with code unavailable when Redis refuses it, within startTimeoutMs', async () => {
    const bus = new RedisBus({ ...opts, url: url('wrong'), startTimeoutMs: 1500 });
    const t0 = Date.now();
    await expect(bus.start({ message: () => undefined, control: () => 0 })).rejects.toMatchObject({ code: 'unavailable' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(bus.ready).toBe(false);
  });

  it('resolves control after about 1 s with the answers it got when a receiver never answers', async () => {
    const a = new RedisBus({ ...opts, prefix: 'ctl', url: url('s3cr:t@pw') });
    const silent = new Redis(url('s3cr:t@pw'));
    try {
      await a.start({ message: () => undefined, control: () => 5 });
      await silent.subscribe(a.keys.control); // counted by PUBLISH, never replies
      const t0 = Date.now();
      expect(await a.control({ type: 'disconnect', userId: 'u' })).toBe(5);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      silent.disconnect();
      await a.close();
    }
  });
});
