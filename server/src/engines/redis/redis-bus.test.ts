import { afterAll, beforeAll, describe } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../../e2e/harness/redis.js';
import { startTcpProxy, type TcpProxy } from '../../../../e2e/harness/tcp-proxy.js';
import { busContract } from '../bus.contract.js';
import { RedisBus } from './redis-bus.js';

let redis: RedisInstance;
let cluster = 0;
describe.skipIf(!redisAvailable())('RedisBus', () => {
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());
  busContract(
    'redis',
    (opts) => {
      const prefix = `t${process.pid}-${++cluster}`;
      const proxies: TcpProxy[] = [];
      return {
        node: () => new RedisBus({ ...opts, url: redis.url, prefix, livenessIntervalMs: 500 }),
        // A node reaching Redis through a TCP proxy the suite can cut.
        async faultyNode() {
          const proxy = await startTcpProxy(redis.port);
          proxies.push(proxy);
          const bus = new RedisBus({ ...opts, url: `redis://127.0.0.1:${proxy.port}`, prefix, livenessIntervalMs: 500 });
          return { bus, cut: (mode) => proxy.sever(mode), restore: () => proxy.restore() };
        },
        async cleanup() {
          for (const p of proxies) await p.close();
        },
      };
    },
    { faults: true },
  );
});
