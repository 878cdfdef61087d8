/** The Redis engines for a configuration with `redisUrl` (called from `engines.ts`). */
import { DEFAULTS } from '@river/protocol';
import type { Config } from '../../config.js';
import { RedisBus } from './redis-bus.js';
import { presenceTtlMs } from '../presence.js';
import { RedisPresence } from './redis-presence.js';

export function createRedisEngines(config: Config & { redisUrl: string }): { bus: RedisBus; presence: RedisPresence } {
  const common = { url: config.redisUrl, cluster: config.redisCluster, prefix: config.redisPrefix };
  return {
    bus: new RedisBus({
      ...common,
      historySize: config.historySize,
      historyTtlSeconds: config.historyTtlSeconds,
      idempotencyWindowMs: DEFAULTS.idempotencyWindowMs,
    }),
    presence: new RedisPresence({ ...common, ttlMs: presenceTtlMs(config.heartbeatMs) }),
  };
}
