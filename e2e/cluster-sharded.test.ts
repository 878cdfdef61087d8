/**
 * The same multi-node service on a Redis Cluster (3 masters, RIVER_REDIS_CLUSTER=true: sharded
 * pub/sub): cross-node delivery, presence, /v1/disconnect, a SIGKILLed node's clients
 * recovering through haproxy with 0 lost / 0 duplicated, and the nodes' sharded subscriber
 * connections killed during continuous publishing with 0 lost / 0 duplicated and no close. Needs `npm run build`, redis-server
 * (+ redis-cli) and haproxy.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { waitUntil } from './harness/cluster.js';
import { api, type ClusterClient, countOf } from './harness/cluster-client.js';
import { haproxyAvailable } from './harness/haproxy.js';
import { threeNodeService } from './harness/service.js';
import { redisAvailable, startRedisCluster } from './harness/redis.js';

const SECRET = randomBytes(32).toString('base64url');
const KEY = `e2e-${randomBytes(24).toString('base64url')}`;

describe.skipIf(!redisAvailable() || !haproxyAvailable())('three nodes on a Redis Cluster (sharded pub/sub)', () => {
  const service = threeNodeService({
    secret: SECRET,
    startRedis: () => startRedisCluster(3),
    env: (redis) => ({
      RIVER_JWT_SECRET: SECRET,
      RIVER_API_KEY: KEY,
      RIVER_REDIS_URL: redis.url,
      RIVER_REDIS_CLUSTER: 'true',
      RIVER_HEARTBEAT_MS: '2000',
      RIVER_HISTORY_SIZE: '1000',
    }),
  });
  const { client, node } = service;

  it('delivers across nodes on many channels (spread over the shards), presence and disconnect included', async () => {
    const channels = Array.from({ length: 12 }, (_, i) => `shard-${i}`);
    const a = await client(node(0).ws, 'ua', [...channels, 'presence-sharded']);
    const b = await client(node(1).ws, 'ub', [...channels, 'presence-sharded'], { reconnect: false });
    for (const ch of channels) {
      const r = await api(node(2).http, KEY, '/v1/publish', { channel: ch, event: 'e', data: ch });
      expect(r.json).toEqual({ channel: ch, offset: 1 });
    }
    await waitUntil(() => channels.every((ch) => a.offsets.get(ch)!.length === 1 && b.offsets.get(ch)!.length === 1), 5000, 'delivery');
    const members = await api(node(2).http, KEY, '/v1/channels/presence-sharded/presence');
    expect(members.json.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['ua', 'ub']);
    expect((await api(node(2).http, KEY, '/v1/disconnect', { userId: 'ub' })).json).toEqual({ disconnected: 1 });
    await waitUntil(() => b.closes.includes(4503), 5000, '4503');
    await waitUntil(() => a.presence.some((f) => f.action === 'leave' && (f.member as { userId: string }).userId === 'ub'), 5000, 'leave');
  });

  it('loses nothing when a node is SIGKILLed', async () => {
    const ch = 'sharded-killed';
    const cs: ClusterClient[] = [];
    for (let i = 0; i < 6; i++) cs.push(await client(service.lb.ws, `k${i}`, [ch]));
    try {
      for (let i = 0; i < 200; i++) {
        if (i === 60) node(1).kill('SIGKILL');
        const r = await api(service.lb.http, KEY, '/v1/publish', { channel: ch, event: 'e', data: i, idempotencyKey: `${ch}-${i}` });
        expect(r.status).toBe(200);
      }
      await waitUntil(() => cs.every((c) => c.offsets.get(ch)!.length >= 200), 20_000, '200 on every client', 50);
      for (const c of cs) expect(countOf(c.offsets.get(ch)!, 200)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
      expect(cs.some((c) => c.connects > 1)).toBe(true);
    } finally {
      await service.cluster.replace(1);
    }
  });

  it('loses nothing when every sharded subscriber connection is killed during continuous publishing', async () => {
    const channels = ['kill-0', 'kill-1', 'kill-2', 'kill-3'];
    const cs = [await client(node(0).ws, 'sk0', channels), await client(node(1).ws, 'sk1', channels)];
    const total = 40;
    for (let i = 0; i < total; i++) {
      if (i === 10 || i === 25) {
        for (const port of service.redis.ports) {
          const r = spawnSync('redis-cli', ['-p', String(port), 'CLIENT', 'KILL', 'TYPE', 'pubsub'], { encoding: 'utf8' });
          expect(r.status, r.stderr).toBe(0);
        }
      }
      for (const ch of channels)
        expect(
          (await api(node(2).http, KEY, '/v1/publish', { channel: ch, event: 'e', data: i, idempotencyKey: `${ch}-${i}` })).status,
        ).toBe(200);
      await new Promise((r) => setTimeout(r, 25));
    }
    await waitUntil(
      () => cs.every((c) => channels.every((ch) => c.offsets.get(ch)!.length >= total)),
      20_000,
      'every message on every client',
      50,
    );
    for (const c of cs) {
      for (const ch of channels) expect(countOf(c.offsets.get(ch)!, total), ch).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
      expect(c.closes).toEqual([]);
      expect(c.subscribed.filter((s) => s.recovered === false)).toEqual([]);
    }
  });
});
