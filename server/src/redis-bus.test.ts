import { afterAll, beforeAll, describe } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../e2e/harness/redis.js';
import { busContract } from './bus.contract.js';
import { RedisBus } from './redis-bus.js';

let redis: RedisInstance;
let cluster = 0;
describe.skipIf(!redisAvailable())('RedisBus', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  busContract('redis', (opts) => {
    const prefix = `t${process.pid}-${++cluster}`;
    return { node: () => new RedisBus({ ...opts, url: redis.url, prefix, livenessIntervalMs: 500 }) };
  });
});
