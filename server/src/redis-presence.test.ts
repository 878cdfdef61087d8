import { afterAll, beforeAll, describe } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../e2e/harness/redis.js';
import { presenceContract } from './presence.contract.js';
import { RedisPresence } from './redis-presence.js';

let redis: RedisInstance;
let cluster = 0;
describe.skipIf(!redisAvailable())('RedisPresence', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  presenceContract('redis', (opts) => {
    const prefix = `t${process.pid}-${++cluster}`;
    return { node: () => new RedisPresence({ ...opts, url: redis.url, prefix }) };
  });
});
