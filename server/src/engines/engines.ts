/** Picks the bus and presence engines for a configuration. */
import { DEFAULTS } from '@river/protocol';
import type { Bus } from './bus.js';
import type { Config } from '../config.js';
import { MemoryBus } from './memory/memory-bus.js';
import { MemoryPresence } from './memory/memory-presence.js';
import { presenceTtlMs, type Presence } from './presence.js';

export interface Engines {
  bus: Bus;
  presence: Presence;
}

/** Memory engines without `redisUrl` (one process); Redis engines with it. */
export async function createEngines(config: Config): Promise<Engines> {
  if (config.redisUrl !== undefined) {
    // Redis engines: RedisBus + RedisPresence from redisUrl / redisCluster / redisPrefix.
    // Loaded only when used, so an embedded node never loads ioredis.
    const { createRedisEngines } = await import('./redis/redis-engines.js');
    return createRedisEngines({ ...config, redisUrl: config.redisUrl });
  }
  return {
    bus: new MemoryBus({
      historySize: config.historySize,
      historyTtlSeconds: config.historyTtlSeconds,
      idempotencyWindowMs: DEFAULTS.idempotencyWindowMs,
      maxHistoryBytes: config.maxHistoryBytes,
      maxChannels: config.maxChannels,
    }),
    presence: new MemoryPresence({ ttlMs: presenceTtlMs(config.heartbeatMs) }),
  };
}
