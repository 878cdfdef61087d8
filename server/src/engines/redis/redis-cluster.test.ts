/** The Redis engines in cluster mode (sharded pub/sub) against a real 3-master Redis Cluster. */
import { spawnSync } from 'node:child_process';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedisCluster, type RedisClusterInstance } from '../../../../e2e/harness/redis.js';
import { busContract } from '../bus.contract.js';
import { presenceContract } from '../presence.contract.js';
import { RedisBus } from './redis-bus.js';
import { hashSlot } from './redis-keys.js';
import { RedisPresence } from './redis-presence.js';
import { startTestNode, TestClient } from '../../test-support.js';

/** Holds a shard for ARGV[1] µs (TIME is allowed in scripts since Redis 5's effect replication). */
const BUSY_SCRIPT = `
local t0 = redis.call('TIME')
local start = t0[1] * 1000000 + t0[2]
repeat
  local t = redis.call('TIME')
until t[1] * 1000000 + t[2] - start > tonumber(ARGV[1])
return 1
`;

let redis: RedisClusterInstance;
let cluster = 0;
const prefix = () => `c${process.pid}-${++cluster}`;

describe.skipIf(!redisAvailable())('Redis engines on a Redis Cluster', () => {
  beforeAll(async () => {
    redis = await startRedisCluster(3);
  }, 60_000);
  afterAll(() => redis?.stop());

  busContract('redis cluster', (opts) => {
    const p = prefix();
    return { node: () => new RedisBus({ ...opts, url: redis.url, cluster: true, prefix: p, livenessIntervalMs: 500 }) };
  });
  presenceContract('redis cluster', (opts) => {
    const p = prefix();
    return { node: () => new RedisPresence({ ...opts, url: redis.url, cluster: true, prefix: p }) };
  });

  it('spreads channels over every shard, each channel delivered through its own shard', async () => {
    const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, cluster: true, prefix: prefix() };
    const a = new RedisBus(opts);
    const b = new RedisBus(opts);
    const got: string[] = [];
    await a.start({ message: (m) => got.push(`${m.channel}#${m.offset}`), control: () => 0 });
    await b.start({ message: () => undefined, control: () => 0 });
    try {
      const channels = Array.from({ length: 30 }, (_, i) => `room-${i}`);
      // 30 channels land on slots owned by all 3 masters (slots are split in 3 ranges).
      const shards = new Set(channels.map((c) => Math.floor(hashSlot(a.keys.live(c)) / (16384 / 3))));
      expect(shards.size).toBe(3);
      for (const c of channels) await a.subscribe(c);
      for (const c of channels) await b.publish({ channel: c, event: 'e', data: null });
      await expect.poll(() => got.length, { timeout: 5000 }).toBe(30);
      expect(new Set(got)).toEqual(new Set(channels.map((c) => `${c}#1`)));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('publishes to channels of every shard in one turn, each channel batched on its own shard, offsets per channel in call order', async () => {
    // The publish batch's script takes a varying number of keys; ioredis routed such a defined
    // command by its first argument (the key count) in auto-pipelining, so batches of channels on
    // other shards shared a wrong pipeline and failed ("same slots allocation group").
    const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, cluster: true, prefix: prefix() };
    const a = new RedisBus(opts);
    await a.start({ message: () => undefined, control: () => 0 });
    try {
      const channels = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
      const calls = channels.flatMap((c) => [c, c, c]);
      const results = await Promise.all(calls.map((channel, i) => a.publish({ channel, event: 'e', data: i, idempotencyKey: `k${i}` })));
      expect(results.map((r) => `${r.channel}#${r.offset}`)).toEqual(channels.flatMap((c) => [`${c}#1`, `${c}#2`, `${c}#3`]));
      // One publish per turn on one channel while its shard is busy (a script running 300 ms), so
      // the first call stays in flight: the later publishes wait for it and then go as one call,
      // still each with its own offset in call order, the history holding them all.
      const scriptCalls = async () => {
        let n = 0;
        for (const port of redis.ports) {
          const admin = new Redis({ host: '127.0.0.1', port });
          for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
          admin.disconnect();
        }
        return n;
      };
      const busy = new Cluster([{ host: '127.0.0.1', port: redis.ports[0]! }]);
      const calls0 = await scriptCalls();
      try {
        const blocking = busy.eval(BUSY_SCRIPT, 1, a.keys.meta('trickle'), 300_000);
        await new Promise((r) => setTimeout(r, 50));
        const trickle: Promise<{ offset: number }>[] = [];
        for (let i = 0; i < 40; i++) {
          trickle.push(a.publish({ channel: 'trickle', event: 'e', data: i }));
          await new Promise((r) => setImmediate(r));
        }
        await blocking;
        expect((await Promise.all(trickle)).map((r) => r.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      } finally {
        busy.disconnect();
      }
      // The busy script, the first publish, the 39 waiting ones (fewer calls if the machine is
      // so slow that the shard was free again before the 40 turns ended).
      expect((await scriptCalls()) - calls0).toBeLessThan(10);
      expect((await a.history('trickle', {})).messages.map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => i + 31));
    } finally {
      await a.close();
    }
  });

  it('subscribes channels while reads of the same shards are in flight, keeping sharded subscriptions off the command connections', async () => {
    // ioredis auto-pipelined SSUBSCRIBE with the commands of its shard, onto one connection:
    // reads then failed on the subscriber connection ("only (P|S)SUBSCRIBE ... are allowed"),
    // and the node could no longer subscribe channels there (a flaky e2e showed it first).
    const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, cluster: true, prefix: prefix() };
    const a = new RedisBus(opts);
    const b = new RedisBus(opts);
    const got = new Set<string>();
    await a.start({ message: (m) => got.add(m.channel), control: () => 0 });
    await b.start({ message: () => undefined, control: () => 0 });
    try {
      const channels = Array.from({ length: 90 }, (_, i) => `mixed-${i}`);
      // Reads of every shard go out in every event-loop turn while the channels are subscribed, as
      // on a busy node, so subscribe flushes and reads share ticks.
      const reads: Promise<unknown>[] = [];
      let reading = true;
      const pump = () => {
        if (!reading) return;
        for (const c of channels.slice(0, 9)) reads.push(a.history(c, { since: 0 }));
        setImmediate(pump);
      };
      pump();
      const subscribes = await Promise.allSettled(channels.map((c) => a.subscribe(c)));
      reading = false;
      const failed = [...subscribes, ...(await Promise.allSettled(reads))].filter((r) => r.status === 'rejected');
      expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      for (const c of channels) await b.publish({ channel: c, event: 'e', data: null });
      await expect.poll(() => got.size, { timeout: 5000 }).toBe(channels.length);
      // Every sharded subscription sits on ioredis's sharded subscriber connections, none on a command connection.
      let onSubscribers = 0;
      for (const port of redis.ports) {
        const list = spawnSync('redis-cli', ['-p', String(port), 'CLIENT', 'LIST'], { encoding: 'utf8' }).stdout;
        for (const line of list.split('\n').filter((l) => l.includes(' ssub='))) {
          const ssub = Number(/ ssub=(\d+)/.exec(line)![1]);
          if (line.includes('(ssubscriber)')) onSubscribers += ssub;
          else expect(ssub, line).toBe(0);
        }
      }
      // Bus a's channels plus the control channels both buses subscribe.
      expect(onSubscribers).toBeGreaterThanOrEqual(channels.length);
    } finally {
      await a.close();
      await b.close();
    }
  });

  /** Kills every pub/sub client connection on these masters (what a shard restart or a network blip does to them). */
  function killPubSubClients(ports = redis.ports): void {
    for (const port of ports) {
      const r = spawnSync('redis-cli', ['-p', String(port), 'CLIENT', 'KILL', 'TYPE', 'pubsub'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`CLIENT KILL failed: ${r.stderr}`);
    }
  }

  /** The port of the master serving a slot (from CLUSTER SLOTS). */
  function masterOf(slot: number): number {
    const r = spawnSync('redis-cli', ['-p', String(redis.ports[0]), '--json', 'CLUSTER', 'SLOTS'], { encoding: 'utf8' });
    const ranges = JSON.parse(r.stdout) as [number, number, [string, number, string]][];
    const range = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
    if (range === undefined) throw new Error(`no master for slot ${slot}`);
    return range[2][1];
  }

  it('resyncs the channels of a shard whose subscriber connection ioredis replaced by itself, and only those', async () => {
    const opts = { historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: redis.url, cluster: true, prefix: prefix() };
    const a = new RedisBus(opts);
    const b = new RedisBus(opts);
    const resyncs: string[] = [];
    await a.start({ message: () => undefined, control: () => 0, resync: (cs) => resyncs.push(...cs) });
    await b.startPublishOnly();
    try {
      const channels = Array.from({ length: 12 }, (_, i) => `shard-kill-${i}`);
      for (const c of channels) await a.subscribe(c);
      const victim = masterOf(hashSlot(a.keys.live(channels[0]!)));
      const onVictim = channels.filter((c) => masterOf(hashSlot(a.keys.live(c))) === victim);
      expect(onVictim.length).toBeLessThan(channels.length);
      killPubSubClients([victim]);
      await expect.poll(() => new Set(resyncs), { timeout: 10_000 }).toEqual(new Set(onVictim));
      await new Promise((r) => setTimeout(r, 1500));
      expect(new Set(resyncs)).toEqual(new Set(onVictim));
      // Subscribed again: live delivery works on every shard.
      const got: string[] = [];
      const c = new RedisBus(opts);
      await c.start({ message: (m) => got.push(m.channel), control: () => 0 });
      for (const ch of channels) await c.subscribe(ch);
      for (const ch of channels) await b.publish({ channel: ch, event: 'e', data: null });
      await expect.poll(() => got.length, { timeout: 5000 }).toBe(12);
      await c.close();
      expect(a.ready).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("delivers what was published while a node's sharded subscriber connections were down, once", async () => {
    const p = prefix();
    const t = await startTestNode({ RIVER_REDIS_URL: redis.url, RIVER_REDIS_CLUSTER: 'true', RIVER_REDIS_PREFIX: p });
    const publisher = new RedisBus({
      historySize: 100,
      historyTtlSeconds: 60,
      idempotencyWindowMs: 1000,
      url: redis.url,
      cluster: true,
      prefix: p,
    });
    await publisher.startPublishOnly();
    try {
      const c = await t.client();
      const channels = ['kill-a', 'kill-b', 'kill-c', 'kill-d', 'kill-e', 'kill-f'];
      for (const ch of channels) await c.subscribe(ch);
      for (const ch of channels) await publisher.publish({ channel: ch, event: 'e', data: 'before' });
      for (const ch of channels) expect((await c.messages(ch, 1))[0]).toMatchObject({ offset: 1, data: 'before' });
      killPubSubClients();
      // Published right after the kill: no subscriber connection is there to receive it live.
      for (const ch of channels) await publisher.publish({ channel: ch, event: 'e', data: 'during' });
      for (const ch of channels) expect((await c.messages(ch, 1, 15_000))[0]).toMatchObject({ offset: 2, data: 'during' });
      for (const ch of channels) await publisher.publish({ channel: ch, event: 'e', data: 'after' });
      for (const ch of channels) expect((await c.messages(ch, 1))[0]).toMatchObject({ offset: 3, data: 'after' });
      await new Promise((r) => setTimeout(r, 200));
      expect(c.frames.filter((f) => f.type === 'message' || f.type === 'subscribed')).toEqual([]);
      expect(c.closeInfo).toBeUndefined();
    } finally {
      await publisher.close();
      await t.close();
    }
  });

  it('a tap on Redis Cluster (no pattern pub/sub) sees the channels its node serves', async () => {
    const key = 'cluster-tap-key-0123456789-abcdefghijklmnopqrstuv';
    const t = await startTestNode({
      RIVER_REDIS_URL: redis.url,
      RIVER_REDIS_CLUSTER: 'true',
      RIVER_REDIS_PREFIX: prefix(),
      RIVER_API_KEY: key,
    });
    try {
      const tap = await TestClient.connect(t.node.urls.ws.replace('/v1/ws', '/v1/tap'));
      tap.send({ type: 'tap', key, channels: ['*'] });
      await tap.next('tapping');
      const c = await t.client({ sub: 'served' });
      await c.subscribe('served-room');
      const headers = { authorization: `Bearer ${key}` };
      expect((await t.http('POST', '/v1/publish', { channel: 'unserved-room', event: 'e', data: 0 }, headers)).status).toBe(200);
      expect((await t.http('POST', '/v1/publish', { channel: 'served-room', event: 'e', data: 1 }, headers)).status).toBe(200);
      // unserved-room was published first: the first message the tap gets is served-room's.
      expect(await tap.next('message')).toMatchObject({ channel: 'served-room', data: 1 });
    } finally {
      await t.close();
    }
  });
});
