/**
 * Redis connections for the Redis engines (ioredis 5).
 *
 * Why ioredis: one client for a single Redis and for Redis Cluster, including sharded pub/sub
 * (`ssubscribe`/`spublish` with one subscriber per shard), Lua scripts registered once with
 * `defineCommand` (EVALSHA with an automatic EVAL fallback after a Redis restart flushed the script
 * cache), automatic reconnection with a pluggable backoff, auto-pipelining (concurrent commands
 * share one write), and TLS from a `rediss://` URL.
 *
 * Every connection is made with the offline queue disabled and without resending unanswered
 * commands after a reconnect: while Redis is unreachable a command fails at once (the engines turn
 * that into `BusUnavailableError`) instead of being queued and run later, possibly twice.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { BusUnavailableError } from '../bus.js';

export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  /** Redis Cluster: the URL names one seed node; sharded pub/sub is used. */
  cluster?: boolean;
}

/** Reconnection delay: exponential from 50 ms to 2 s, with jitter. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(2000, 50 * 2 ** Math.min(attempt, 6));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

const COMMON: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 5000,
  retryStrategy: (times) => reconnectDelay(times),
};

/**
 * A client. `role` `command` gets auto-pipelining and a command timeout; `subscriber` is for
 * pub/sub (single Redis only: in cluster mode the one Cluster client also holds the sharded
 * subscriptions).
 */
export function createRedisClient(opts: RedisConnectionOptions, role: 'command' | 'subscriber'): RedisClient {
  const perRole: RedisOptions = role === 'command' ? { enableAutoPipelining: true, commandTimeout: 5000 } : {};
  if (!opts.cluster) return new Redis(opts.url, { ...COMMON, ...perRole });
  const u = new URL(opts.url);
  const redisOptions: RedisOptions = { ...COMMON, commandTimeout: 5000 };
  if (u.username) redisOptions.username = decodeURIComponent(u.username);
  if (u.password) redisOptions.password = decodeURIComponent(u.password);
  if (u.protocol === 'rediss:') redisOptions.tls = { servername: u.hostname };
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // ioredis auto-pipelines SSUBSCRIBE/SUNSUBSCRIBE (its exclusion list names only the unsharded
    // ones), which batches them with commands of the same shard onto one connection: commands then
    // fail on the subscriber connection, or the command connection enters subscriber mode, and the
    // node can no longer subscribe channels on that shard (redis-cluster.test.ts shows it).
    autoPipeliningIgnoredCommands: ['ssubscribe', 'sunsubscribe'],
    shardedSubscribers: true,
    maxRedirections: 16,
    clusterRetryStrategy: (times) => reconnectDelay(times),
    redisOptions,
  };
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], clusterOptions);
}

/** Whether the client can take commands now. */
export function isClientReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

/**
 * Translates a failed Redis call: a reply error (a bug, or a script error) stays what it is;
 * anything else (closed connection, timeout, not writable) means Redis is unreachable.
 */
export function asUnavailable(err: unknown): Error {
  if (err instanceof Error && err.name === 'ReplyError') return err;
  if (err instanceof BusUnavailableError) return err;
  return new BusUnavailableError('Redis is unreachable', { cause: err });
}

/** Resolves once the client is ready, rejecting after `timeoutMs` (the client keeps retrying until closed). */
export function waitReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (isClientReady(client)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new BusUnavailableError(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Closes a client without waiting on a dead server. */
export async function closeClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000))]);
    } catch {
      // already closing
    }
  }
  client.disconnect();
}
