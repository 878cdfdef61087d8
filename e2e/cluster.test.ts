/**
 * Three River nodes on one Redis behind haproxy behave as one service: cross-node delivery,
 * presence, cluster-wide counts, /v1/disconnect, a SIGKILLed node, a SIGTERM drain during
 * continuous publishing, a node cut from Redis while another publishes, and a Redis restart without
 * persistence. Needs `npm run build`,
 * redis-server and haproxy (skipped outside CI when missing; failing in CI).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { startNode, waitUntil, isReady } from './harness/cluster.js';
import { api, type ClusterClient, countOf } from './harness/cluster-client.js';
import { haproxyAvailable } from './harness/haproxy.js';
import { threeNodeService } from './harness/service.js';
import { redisAvailable, startRedis } from './harness/redis.js';
import { startTcpProxy } from './harness/tcp-proxy.js';

const SECRET = randomBytes(32).toString('base64url');
const KEY = `e2e-${randomBytes(24).toString('base64url')}`;

describe.skipIf(!redisAvailable() || !haproxyAvailable())('three nodes + Redis + haproxy', () => {
  const service = threeNodeService({
    secret: SECRET,
    startRedis: () => startRedis(),
    env: (redis) => ({
      RIVER_JWT_SECRET: SECRET,
      RIVER_API_KEY: KEY,
      RIVER_REDIS_URL: redis.url,
      RIVER_REDIS_PREFIX: 'e2e',
      RIVER_HEARTBEAT_MS: '2000',
      RIVER_DRAIN_MS: '1500',
      RIVER_HISTORY_SIZE: '1000',
    }),
  });
  const { client, node } = service;
  const publish = (base: string | (() => string), channel: string, data: unknown, idempotencyKey?: string) =>
    api(base, KEY, '/v1/publish', { channel, event: 'e', data, ...(idempotencyKey ? { idempotencyKey } : {}) });

  it('delivers a publish made on one node to subscribers on the others', async () => {
    const a = await client(node(0).ws, 'ua', ['cross']);
    const b = await client(node(1).ws, 'ub', ['cross']);
    for (let i = 0; i < 5; i++) expect((await publish(node(2).http, 'cross', i)).json).toEqual({ channel: 'cross', offset: i + 1 });
    await waitUntil(() => a.offsets.get('cross')!.length === 5 && b.offsets.get('cross')!.length === 5, 5000, 'delivery');
    expect(a.offsets.get('cross')).toEqual([1, 2, 3, 4, 5]);
    expect(b.offsets.get('cross')).toEqual([1, 2, 3, 4, 5]);
  });

  it('shows members across nodes and sends join/leave once per user', async () => {
    const ch = 'presence-e2e';
    const a = await client(node(0).ws, 'u1', [ch], { info: { name: 'Ann' } });
    const b = await client(node(1).ws, 'u2', [ch], { info: { name: 'Bob' } });
    const members = (b.subscribed.at(-1)!.members as { userId: string }[]).map((m) => m.userId).sort();
    expect(members).toEqual(['u1', 'u2']);
    const c = await client(node(2).ws, 'u2', [ch], { info: { name: 'Bob' } });
    expect((c.subscribed.at(-1)!.members as unknown[]).length).toBe(2);
    b.close();
    c.close();
    const aboutU2 = () => a.presence.filter((f) => (f.member as { userId: string }).userId === 'u2').map((f) => f.action);
    await waitUntil(() => aboutU2().includes('leave'), 5000, 'leave of u2');
    expect(aboutU2()).toEqual(['join', 'leave']);
    const listed = await api(node(2).http, KEY, `/v1/channels/${ch}/presence`);
    expect(listed.json.members).toEqual([{ userId: 'u1', info: { name: 'Ann' } }]);
  });

  it('answers cluster-wide subscriber counts on any node', async () => {
    await client(node(0).ws, 'c1', ['counted']);
    await client(node(0).ws, 'c2', ['counted']);
    await client(node(1).ws, 'c3', ['counted']);
    await waitUntil(async () => (await api(node(2).http, KEY, '/v1/channels/counted')).json?.subscribers === 3, 5000, 'count 3');
    const r = await api(node(2).http, KEY, '/v1/channels/counted');
    expect(r.json).toMatchObject({ channel: 'counted', subscribers: 3 });
  });

  it('disconnects a user on every node', async () => {
    const cs = [
      await client(node(0).ws, 'u-dc', ['dc'], { reconnect: false }),
      await client(node(1).ws, 'u-dc', ['dc'], { reconnect: false }),
      await client(node(2).ws, 'u-dc', ['dc'], { reconnect: false }),
    ];
    const other = await client(node(1).ws, 'u-other', ['dc']);
    const r = await api(node(0).http, KEY, '/v1/disconnect', { userId: 'u-dc' });
    expect(r).toEqual({ status: 200, json: { disconnected: 3 } });
    await waitUntil(() => cs.every((c) => c.closes.length === 1), 5000, 'closes');
    for (const c of cs) expect(c.closes).toEqual([4503]);
    expect(other.open).toBe(true);
  });

  /** Publishes `total` messages one after another through the load balancer, calling `at(i)` before message i. */
  async function publishStream(channel: string, total: number, at: (i: number) => Promise<void> | void): Promise<void> {
    for (let i = 0; i < total; i++) {
      await at(i);
      const r = await publish(service.lb.http, channel, i, `${channel}-${i}`);
      expect(r.status).toBe(200);
    }
  }

  async function expectEveryMessageOnce(cs: ClusterClient[], channel: string, total: number): Promise<void> {
    await waitUntil(() => cs.every((c) => c.offsets.get(channel)!.length >= total), 20_000, `${total} messages on every client`, 50);
    for (const c of cs) {
      const got = c.offsets.get(channel)!;
      const trace = `offsets ${JSON.stringify(got.filter((o, i) => i > 0 && o <= got[i - 1]!).slice(0, 5))} out of order; subscribed ${JSON.stringify(c.subscribed.map((f) => [f.offset, f.recovered]))}; closes ${JSON.stringify(c.closes)}`;
      expect(countOf(got, total), trace).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    }
  }

  it('loses nothing when a node is SIGKILLed: its clients reconnect through haproxy and recover with offsets', async () => {
    const ch = 'killed';
    const cs: ClusterClient[] = [];
    for (let i = 0; i < 9; i++) cs.push(await client(service.lb.ws, `k${i}`, [ch]));
    const victim = node(1);
    try {
      await publishStream(ch, 300, (i) => {
        if (i === 100) victim.kill('SIGKILL');
      });
      expect((await victim.exited).signal).toBe('SIGKILL');
      await expectEveryMessageOnce(cs, ch, 300);
      // Round robin put some clients on the killed node: they reconnected and recovered.
      expect(cs.filter((c) => c.connects > 1).length).toBeGreaterThan(0);
      expect(cs.flatMap((c) => c.subscribed.filter((s) => s.recovered === false))).toEqual([]);
    } finally {
      await service.cluster.replace(1);
    }
  });

  it("announces the leave of a SIGKILLed node's only member once, within 2 heartbeats", async () => {
    const ch = 'presence-dead-node';
    const watcher = await client(node(0).ws, 'watcher', [ch]);
    await client(node(1).ws, 'doomed', [ch], { reconnect: false });
    const both = await client(node(2).ws, 'both', [ch]);
    await client(node(1).ws, 'both', [ch], { reconnect: false });
    const about = (who: string) => watcher.presence.filter((f) => (f.member as { userId: string }).userId === who).map((f) => f.action);
    await waitUntil(() => about('doomed').length === 1 && about('both').length === 1, 5000, 'joins');
    const victim = node(1);
    try {
      victim.kill('SIGKILL');
      const killedAt = Date.now();
      await waitUntil(() => about('doomed').includes('leave'), 10_000, 'leave of doomed');
      // heartbeat 2 s: entries expire 4 s after their last refresh; the sweep runs every 400 ms.
      expect(Date.now() - killedAt).toBeLessThan(2 * 2000 + 2000);
      expect(about('doomed')).toEqual(['join', 'leave']);
      // "both" still has a connection on a live node: no leave.
      expect(about('both')).toEqual(['join']);
      expect(both.open).toBe(true);
      const listed = await api(node(0).http, KEY, `/v1/channels/${ch}/presence`);
      expect(listed.json.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['both', 'watcher']);
    } finally {
      await service.cluster.replace(1);
    }
  });

  it('loses nothing when a node drains on SIGTERM during continuous publishing', async () => {
    const ch = 'drained';
    const cs: ClusterClient[] = [];
    for (let i = 0; i < 9; i++) cs.push(await client(service.lb.ws, `d${i}`, [ch]));
    const victim = node(2);
    try {
      await publishStream(ch, 300, (i) => {
        if (i === 50) victim.kill('SIGTERM');
      });
      expect(await victim.exited, victim.output()).toEqual({ code: 0, signal: null });
      await expectEveryMessageOnce(cs, ch, 300);
      const drained = cs.filter((c) => c.closes.includes(4000));
      expect(drained.length).toBeGreaterThan(0);
      expect(drained.every((c) => c.connects > 1)).toBe(true);
    } finally {
      await service.cluster.replace(2);
    }
  });

  it('loses nothing when a node is cut from Redis for 600 ms while another node publishes 20/s: no close, no recovered: false', async () => {
    const proxy = await startTcpProxy(service.redis.port);
    const cut = await startNode({ name: 'node-behind-proxy', env: { ...service.env, RIVER_REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    try {
      const ch = 'cut-from-redis';
      const cs = [await client(cut.ws, 'p0', [ch]), await client(cut.ws, 'p1', [ch]), await client(node(0).ws, 'p2', [ch])];
      const total = 60;
      for (let i = 0; i < total; i++) {
        if (i === 15) proxy.sever('reset');
        if (i === 27) proxy.restore(); // 12 publishes at 20/s: ~600 ms
        const r = await publish(node(1).http, ch, i);
        expect(r.status).toBe(200);
        await new Promise((r) => setTimeout(r, 50));
      }
      await expectEveryMessageOnce(cs, ch, total);
      for (const c of cs) {
        expect(c.closes).toEqual([]);
        expect(c.subscribed.filter((s) => s.recovered === false)).toEqual([]);
      }
    } finally {
      await cut.stop();
      await proxy.close();
    }
  });

  it('tells clients recovered: false after a Redis restart without persistence, never losing silently', async () => {
    const ch = 'redis-restart';
    const cs = [await client(node(0).ws, 'r0', [ch]), await client(node(1).ws, 'r1', [ch]), await client(service.lb.ws, 'r2', [ch])];
    for (let i = 0; i < 10; i++) await publish(service.lb.http, ch, i);
    await waitUntil(() => cs.every((c) => c.offsets.get(ch)!.length === 10), 5000, 'first 10');

    await service.redis.stop();
    await waitUntil(async () => !(await isReady(node(0).http)) && !(await isReady(node(1).http)), 10_000, 'readyz 503');
    const refused = await api(node(0).http, KEY, '/v1/publish', { channel: ch, event: 'e', data: 'lost?' }, 0);
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('unavailable');

    await service.redis.restart();
    await waitUntil(
      async () => (await Promise.all(service.cluster.nodes.map((n) => isReady(n.http)))).every(Boolean),
      20_000,
      'nodes ready again',
    );
    // Each client is told its position is gone (new epoch) instead of silently missing messages.
    await waitUntil(
      () => cs.every((c) => c.subscribed.some((s) => s.recovered === false)),
      20_000,
      'recovered: false everywhere',
      50,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${JSON.stringify(cs.map((c) => ({ closes: c.closes, frames: c.frames.filter((f) => f.type !== 'message').slice(-4) })))}`,
      );
    });
    await waitUntil(() => cs.every((c) => c.open), 10_000, 'clients open');
    // Told with an unsolicited subscribed (the new epoch and offset), not by closing the connection.
    for (const c of cs) expect(c.closes).toEqual([]);
    for (let i = 0; i < 5; i++) await publish(service.lb.http, ch, `after-${i}`);
    await waitUntil(() => cs.every((c) => c.offsets.get(ch)!.length >= 15), 10_000, '5 more');
    for (const c of cs) expect(c.offsets.get(ch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5]);
  });
});
