import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable } from '../../../../e2e/harness/redis.js';
import { startTcpProxy } from '../../../../e2e/harness/tcp-proxy.js';
import type { BusHandlers, BusMessage } from '../bus.js';
import { RedisBus, type RedisBusOptions } from './redis-bus.js';
import { RedisPresence } from './redis-presence.js';
import type { Member } from '../presence.js';
import { startRedisWithAdmin, startTestNode, type RedisWithAdmin } from '../../test-support.js';

let redis: RedisWithAdmin;
let seq = 0;
const open: { close(): Promise<void> }[] = [];

interface Node {
  bus: RedisBus;
  messages: BusMessage[];
  events: string[];
  resyncs: string[][];
}

describe.skipIf(!redisAvailable())('Redis engines on one Redis', () => {
  beforeAll(async () => {
    redis = await startRedisWithAdmin();
  });
  afterAll(async () => {
    await redis?.close();
  });

  describe('RedisBus', () => {
    let prefix = '';
    afterEach(async () => {
      for (const o of open.splice(0)) await o.close();
    });

    async function node(extra: Partial<RedisBusOptions> = {}, handlers: Partial<BusHandlers> = {}): Promise<Node> {
      if (extra.prefix === undefined && prefix === '') prefix = `o${process.pid}-${++seq}`;
      const bus = new RedisBus({
        historySize: 1000,
        historyTtlSeconds: 60,
        idempotencyWindowMs: 60_000,
        url: redis.url,
        prefix,
        livenessIntervalMs: 300,
        ...extra,
      });
      const n: Node = { bus, messages: [], events: [], resyncs: [] };
      open.push(bus);
      await bus.start({
        message: (m) => n.messages.push(m),
        control: () => 1,
        resync: (c) => n.resyncs.push(c),
        status: (ready) => n.events.push(ready ? 'ready' : 'down'),
        ...handlers,
      });
      return n;
    }
    afterEach(() => {
      prefix = '';
    });

    it('subscribes per channel in one SUBSCRIBE per tick, never with a pattern', async () => {
      const a = await node();
      const before = await subscribeCalls();
      const channels = Array.from({ length: 300 }, (_, i) => `batch-${seq}-${i}`);
      await Promise.all(channels.map((c) => a.bus.subscribe(c)));
      expect((await subscribeCalls()) - before).toBe(1);
      const live = (await redis.admin.pubsub('CHANNELS', `${prefix}:*:live`)) as string[];
      expect(new Set(live)).toEqual(new Set(channels.map((c) => a.bus.keys.live(c))));
      expect(await redis.admin.pubsub('NUMPAT')).toBe(0);
      await Promise.all(channels.slice(0, 200).map((c) => a.bus.unsubscribe(c)));
      expect(((await redis.admin.pubsub('CHANNELS', `${prefix}:*:live`)) as string[]).length).toBe(100);
    });

    it('gives 4 nodes publishing 250 messages each at once contiguous offsets; history equals live delivery', async () => {
      const nodes = [await node(), await node(), await node(), await node()];
      const ch = `atomic-${seq}`;
      for (const n of nodes.slice(0, 2)) await n.bus.subscribe(ch);
      const results = await Promise.all(
        nodes.flatMap((n, k) =>
          Array.from({ length: 250 }, (_, i) =>
            n.bus.publish({ channel: ch, event: 'e', data: { k, i }, idempotencyKey: i % 10 === 0 ? `k${i}` : undefined }),
          ),
        ),
      );
      const fresh = results.filter((r) => !r.duplicate);
      // Keys k0, k10, … are shared by the 4 nodes: each is published once.
      expect(fresh).toHaveLength(4 * 250 - 3 * 25);
      const offsets = fresh.map((r) => r.offset).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: fresh.length }, (_, i) => i + 1));
      // Each subscribed node receives on its own connection: wait for both, not for one of them.
      await expect.poll(() => nodes.slice(0, 2).map((n) => n.messages.length), { timeout: 10_000 }).toEqual([fresh.length, fresh.length]);
      for (const n of nodes.slice(0, 2)) expect(n.messages.map((m) => m.offset)).toEqual(offsets);
      const h = await nodes[3]!.bus.history(ch, { since: 0, limit: 1000 });
      expect(h.messages.map((m) => m.frame)).toEqual(nodes[0]!.messages.map((m) => m.frame));
    });

    it('resolves reads of a subscribed channel only after live delivery caught up with them', async () => {
      const [a, b] = [await node(), await node()];
      const ch = `seam-${seq}`;
      await a.bus.subscribe(ch);
      const publishing = (async () => {
        for (let i = 0; i < 30; i++)
          await Promise.all(Array.from({ length: 10 }, (_, k) => b.bus.publish({ channel: ch, event: 'e', data: i * 10 + k })));
      })();
      let reads = 0;
      for (let last = 0; last < 300; reads++) {
        const h = await a.bus.history(ch, { since: Math.max(0, last - 5), limit: 10 });
        last = h.position.offset;
        const delivered = a.messages.at(-1)?.offset ?? 0;
        expect(delivered, `read ${reads} at offset ${h.position.offset}`).toBeGreaterThanOrEqual(h.position.offset);
      }
      await publishing;
    });

    it('ignores the counts of a node that stopped refreshing its liveness', async () => {
      const a = await node();
      const ch = `counts-${seq}`;
      a.bus.reportSubscribers(ch, 2);
      await expect.poll(() => a.bus.subscriberCount(ch)).toBe(2);
      // A node that died without cleaning up: its count is in the hash, its liveness is gone.
      await redis.admin.hset(a.bus.keys.subs(ch), 'dead-node', 40);
      expect(await a.bus.subscriberCount(ch)).toBe(2);
      await expect.poll(() => redis.admin.hexists(a.bus.keys.subs(ch), 'dead-node')).toBe(0);
    });

    it('sends control commands from a publish-only bus (startPublishOnly) to every node', async () => {
      const [, , publisher] = [
        await node(),
        await node(),
        new RedisBus({ historySize: 1, historyTtlSeconds: 60, idempotencyWindowMs: 0, url: redis.url, prefix }),
      ];
      open.push(publisher);
      await publisher.startPublishOnly();
      expect(await publisher.control({ type: 'disconnect', userId: 'u' })).toBe(2);
    });

    it('survives a Redis restart: not ready and refusing publishes while down, then resubscribed, resynced, with a new epoch', async () => {
      const [a, b] = [await node(), await node()];
      const ch = `outage-${seq}`;
      await a.bus.subscribe(ch);
      const before = await b.bus.publish({ channel: ch, event: 'e', data: 1 });
      await expect.poll(() => a.messages.length).toBe(1);

      await redis.stop();
      try {
        // Both nodes notice (each on its own connection events): wait for both, not for either.
        await expect.poll(() => a.bus.ready || b.bus.ready, { timeout: 5000 }).toBe(false);
        expect(a.events).toEqual(['ready', 'down']);
        await expect(b.bus.publish({ channel: ch, event: 'e', data: 2 })).rejects.toMatchObject({ code: 'unavailable' });
        await expect(b.bus.position(ch)).rejects.toMatchObject({ code: 'unavailable' });
      } finally {
        // Later tests of this file share this Redis.
        await redis.restart();
      }
      await expect.poll(() => a.bus.ready && b.bus.ready, { timeout: 10_000 }).toBe(true);
      expect(a.events).toEqual(['ready', 'down', 'ready']);
      expect(a.resyncs).toEqual([[ch]]);
      const after = await b.bus.publish({ channel: ch, event: 'e', data: 3 });
      // No persistence: the channel's state is gone, so a new epoch restarts at offset 1.
      expect(after.epoch).not.toBe(before.epoch);
      expect(after.offset).toBe(1);
      await expect.poll(() => a.messages.map((m) => JSON.parse(m.frame).data)).toEqual([1, 3]);
      expect(await b.bus.control({ type: 'disconnect', userId: 'u' })).toBe(2);
    });
  });

  describe('RedisPresence', () => {
    afterEach(async () => {
      for (const o of open.splice(0)) await o.close();
    });

    it('reports each expiry exactly once while three nodes sweep', async () => {
      const prefix = `p${process.pid}-${++seq}`;
      const expired: [string, Member][] = [];
      const nodes = [0, 1, 2].map(() => new RedisPresence({ ttlMs: 300, url: redis.url, prefix, sweepIntervalMs: 50 }));
      open.push(...nodes);
      for (const p of nodes) await p.start({ expired: (c, m) => expired.push([c, m]) });
      const ch = 'presence-sweep';
      for (let i = 0; i < 60; i++)
        await nodes[i % 3]!.add({ channel: ch, connectionId: `c${i}`, member: { userId: `u${i % 20}`, info: { i: i % 20 } } });
      expect(await nodes[0]!.members(ch)).toHaveLength(20);
      await expect.poll(() => expired.length, { timeout: 10_000 }).toBe(20);
      await new Promise((r) => setTimeout(r, 500));
      expect(expired).toHaveLength(20);
      expect(new Set(expired.map(([, m]) => m.userId)).size).toBe(20);
      expect(await nodes[1]!.members(ch)).toEqual([]);
      expect(await redis.admin.zcard(nodes[0]!.keys.presenceDeadlines)).toBe(0);
    });

    it("turns /readyz 503 while the presence engine's own Redis connection is down, though the bus is up", async () => {
      const prefix = `r${process.pid}-${++seq}`;
      const proxy = await startTcpProxy(redis.port);
      const bus = new RedisBus({ historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, prefix });
      const presence = new RedisPresence({ ttlMs: 3000, url: `redis://127.0.0.1:${proxy.port}`, prefix });
      const t = await startTestNode({ RIVER_LOG_LEVEL: 'silent' }, { bus, presence });
      try {
        expect((await t.http('GET', '/readyz')).status).toBe(200);
        proxy.sever('reset');
        await expect.poll(async () => (await t.http('GET', '/readyz')).status, { timeout: 5000 }).toBe(503);
        expect(bus.ready).toBe(true);
        proxy.restore();
        await expect.poll(async () => (await t.http('GET', '/readyz')).status, { timeout: 10_000 }).toBe(200);
      } finally {
        await t.close();
        await proxy.close();
      }
    });
  });
});

async function subscribeCalls(): Promise<number> {
  const info = await redis.admin.info('commandstats');
  const m = /cmdstat_subscribe:calls=(\d+)/.exec(info);
  return m ? Number(m[1]) : 0;
}
