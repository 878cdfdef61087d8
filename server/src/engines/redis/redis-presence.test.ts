import { createServer, connect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, redisAvailable } from '../../../../e2e/harness/redis.js';
import { presenceContract } from '../presence.contract.js';
import type { Member } from '../presence.js';
import { RedisBus } from './redis-bus.js';
import { RedisPresence, type RedisPresenceOptions } from './redis-presence.js';
import { startRedisWithAdmin, startTestNode, token, type TestClient, type TestNode, type RedisWithAdmin } from '../../test-support.js';

let redis: RedisWithAdmin;
let cluster = 0;
const open: { close(): Promise<void> }[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy to Redis that a test can cut (every connection dropped, new ones refused) and restore. */
async function cuttableProxy(
  target: number,
): Promise<{ url: string; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => undefined);
          s.on('close', () => {
            sockets.delete(s);
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  };
  await listen();
  return { url: `redis://127.0.0.1:${port}`, cut, restore: listen, close: cut };
}

describe.skipIf(!redisAvailable())('RedisPresence', () => {
  beforeAll(async () => {
    redis = await startRedisWithAdmin();
  });
  afterAll(async () => {
    await redis?.close();
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  presenceContract('redis', (opts) => {
    const prefix = `t${process.pid}-${++cluster}`;
    return { node: () => new RedisPresence({ ...opts, url: redis.url, prefix }) };
  });

  async function engine(
    prefix: string,
    extra: Partial<RedisPresenceOptions> = {},
    expired: [string, Member][] = [],
  ): Promise<RedisPresence> {
    const p = new RedisPresence({ ttlMs: 300, url: redis.url, prefix, ...extra });
    open.push(p);
    await p.start({ expired: (c, m) => expired.push([c, m]) });
    return p;
  }

  it('publishes each join and leave it decides on the live channel, in order, from the script that decides it', async () => {
    const prefix = `a${process.pid}-${++cluster}`;
    const [a, b] = [await engine(prefix, { ttlMs: 60_000 }), await engine(prefix, { ttlMs: 300, sweepIntervalMs: 60_000 })];
    const ch = 'presence-announce';
    const sub = new Redis(redis.url);
    const got: unknown[] = [];
    sub.on('message', (_name: string, payload: string) => got.push(JSON.parse(payload.slice(payload.indexOf(':') + 1))));
    await sub.subscribe(a.keys.live(ch));
    try {
      const m = (userId: string, info: Record<string, unknown> = {}) => ({ userId, info });
      await a.add({ channel: ch, connectionId: 'a1', member: m('u/1', { name: 'Ann "A"' }) });
      await b.add({ channel: ch, connectionId: 'b1', member: m('u/1', { name: 'Ann "A"' }) }); // not a join
      await b.add({ channel: ch, connectionId: 'b2', member: m('u2') });
      await a.remove(ch, 'a1', 'u/1'); // not a leave
      await b.remove(ch, 'b1', 'u/1');
      await a.add({ channel: ch, connectionId: 'a3', member: m('u/1') });
      // b2 (ttl 300, never touched) expires by the sweep: its leave comes from the expiry script.
      await sleep(400);
      await a.sweep();
      const frame = (action: string, member: Member) => ({ type: 'presence', channel: ch, action, member });
      await expect
        .poll(() => got)
        .toEqual([
          frame('join', m('u/1', { name: 'Ann "A"' })),
          frame('join', m('u2')),
          frame('leave', m('u/1', { name: 'Ann "A"' })),
          frame('join', m('u/1')),
          frame('leave', m('u2')),
        ]);
      expect(a.announces).toBe(true);
    } finally {
      sub.disconnect();
    }
  });

  it('never revives an entry touched after its deadline but before any sweep', async () => {
    const prefix = `r${process.pid}-${++cluster}`;
    const expired: [string, Member][] = [];
    const p = await engine(prefix, { ttlMs: 200, sweepIntervalMs: 60_000 }, expired);
    const e = { channel: 'presence-revive', connectionId: 'c1', member: { userId: 'u1', info: {} } };
    await p.add(e);
    await sleep(300);
    expect(await p.touch([e])).toEqual([e]);
    await p.sweep();
    expect(expired).toEqual([['presence-revive', { userId: 'u1', info: {} }]]);
    expect(await p.members('presence-revive')).toEqual([]);
  });

  it('expires 20,000 entries of a dead node within one sweep period, however small the batch', async () => {
    const prefix = `s${process.pid}-${++cluster}`;
    const ttlMs = 3000;
    const a = await engine(prefix, { ttlMs, sweepIntervalMs: 60_000 });
    const expired: [string, Member][] = [];
    const n = 20_000;
    for (let i = 0; i < n; i += 2000) {
      await Promise.all(
        Array.from({ length: 2000 }, (_, k) =>
          a.add({ channel: `presence-big-${(i + k) % 200}`, connectionId: `c${i + k}`, member: { userId: `u${i + k}`, info: {} } }),
        ),
      );
    }
    const lastAdd = Date.now();
    await a.close(); // the node dies
    // Batches of 1000 every second: before, one batch per period (20 s for these entries).
    await engine(prefix, { ttlMs, sweepIntervalMs: 1000, sweepBatch: 1000 }, expired);
    await expect.poll(() => expired.length, { timeout: 2 * ttlMs + 5000, interval: 50 }).toBe(n);
    // The last entry's deadline is lastAdd + ttl; it expired within about one period after it.
    expect(Date.now() - lastAdd).toBeLessThan(2 * ttlMs);
    expect(new Set(expired.map(([, m]) => m.userId)).size).toBe(n);
    expect(await redis.admin.zcard(`${prefix}:{presence}:deadlines`)).toBe(0);
  });

  it('spreads the expiry index over deadlineShards sets and sweeps every one', async () => {
    const prefix = `d${process.pid}-${++cluster}`;
    const expired: [string, Member][] = [];
    const a = await engine(prefix, { ttlMs: 200, deadlineShards: 4, sweepIntervalMs: 60_000 }, expired);
    for (let i = 0; i < 100; i++)
      await a.add({ channel: `presence-shard-${i % 50}`, connectionId: `c${i}`, member: { userId: `u${i}`, info: {} } });
    const sets = [0, 1, 2, 3].map((i) => a.keys.presenceDeadlinesShard(i)[0]);
    const sizes = await Promise.all(sets.map((k) => redis.admin.zcard(k)));
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(100);
    for (const size of sizes) expect(size).toBeGreaterThan(0);
    await sleep(300);
    await a.sweep();
    expect(expired).toHaveLength(100);
    for (const k of sets) expect(await redis.admin.zcard(k)).toBe(0);
  });

  describe('entries of connections that stay open are restored', () => {
    const hb = 200; // ttl 300 ms, sweep every 100 ms
    async function river(url: string, prefix: string, heartbeatMs = hb): Promise<TestNode> {
      const t = await startTestNode({ RIVER_REDIS_URL: url, RIVER_REDIS_PREFIX: prefix, RIVER_HEARTBEAT_MS: String(heartbeatMs) });
      open.push(t);
      return t;
    }
    async function member(t: TestNode, sub: string): Promise<TestClient> {
      const c = await t.connect();
      await c.auth(await token({ sub, info: { sub } }));
      return c;
    }
    const names = async (t: TestNode, ch: string) =>
      ((await t.http('GET', `/v1/channels/${ch}/presence`)).body.members as Member[] | undefined)?.map((m) => m.userId).sort();

    it('after a cut of one node longer than 2 × the TTL: the others see it leave, then join again when it is back', async () => {
      const prefix = `c${process.pid}-${++cluster}`;
      const proxy = await cuttableProxy(redis.port);
      const ch = 'presence-cut';
      const a = await river(proxy.url, prefix);
      open.push(proxy);
      const b = await river(redis.url, prefix);
      const observer = await member(b, 'watcher');
      await observer.subscribe(ch);
      const m = await member(a, 'remote');
      await m.subscribe(ch);
      expect(await observer.next('presence')).toMatchObject({ action: 'join', member: { userId: 'remote' } });

      await proxy.cut();
      expect(await observer.next('presence', 5000)).toMatchObject({ action: 'leave', member: { userId: 'remote' } });
      expect(await names(b, ch)).toEqual(['watcher']);
      await sleep(3 * 300);
      await proxy.restore();
      // Node A's heartbeat (or its reconnect) adds the still-open connection's entry again.
      expect(await observer.next('presence', 10_000)).toMatchObject({
        action: 'join',
        member: { userId: 'remote', info: { sub: 'remote' } },
      });
      expect(await names(b, ch)).toEqual(['remote', 'watcher']);
      expect(m.closeInfo).toBeUndefined();
    }, 30_000);

    it('after a cut of one node: its subscribers get the joins and leaves made elsewhere meanwhile, once; nothing when nothing changed', async () => {
      const prefix = `m${process.pid}-${++cluster}`;
      const proxy = await cuttableProxy(redis.port);
      const ch = 'presence-missed';
      // A 25 s heartbeat: node A's own entries outlive the cuts (no leave and join of its own).
      const a = await river(proxy.url, prefix, 25_000);
      open.push(proxy);
      const b = await river(redis.url, prefix, 25_000);
      const ready = async (t: TestNode) => (await t.http('GET', '/readyz')).status === 200;
      const presence = (c: TestClient) => c.frames.filter((f) => f.type === 'presence').map((f) => `${f.action} ${f.member.userId}`);
      const watcher = await member(a, 'watcher');
      await watcher.subscribe(ch);
      const [stays, goes] = [await member(b, 'stays'), await member(b, 'goes')];
      await stays.subscribe(ch);
      await goes.subscribe(ch);
      await expect.poll(() => presence(watcher).sort()).toEqual(['join goes', 'join stays']);
      watcher.frames.length = 0;

      await proxy.cut();
      await expect.poll(() => ready(a), { timeout: 5000 }).toBe(false);
      await goes.request({ type: 'unsubscribe', channel: ch });
      const comes = await member(b, 'comes');
      await comes.subscribe(ch);
      await expect.poll(() => names(b, ch)).toEqual(['comes', 'stays', 'watcher']);
      await sleep(100);
      expect(presence(watcher)).toEqual([]); // A is cut off: it heard none of it
      await proxy.restore();
      await expect.poll(() => ready(a), { timeout: 10_000 }).toBe(true);
      await expect.poll(() => presence(watcher).length, { timeout: 5000 }).toBe(2);
      expect(presence(watcher).sort()).toEqual(['join comes', 'leave goes']);
      expect(watcher.frames.find((f) => f.action === 'join')!.member).toEqual({ userId: 'comes', info: { sub: 'comes' } });
      await sleep(500);
      expect(presence(watcher)).toHaveLength(2);
      watcher.frames.length = 0;

      // Cut again; nothing changes meanwhile: nothing is sent after the reconnect.
      await proxy.cut();
      await expect.poll(() => ready(a), { timeout: 5000 }).toBe(false);
      await sleep(200);
      await proxy.restore();
      await expect.poll(() => ready(a), { timeout: 10_000 }).toBe(true);
      await sleep(500);
      expect(presence(watcher)).toEqual([]);
      expect(watcher.closeInfo).toBeUndefined();
    }, 30_000);

    it('after only its bus connections were cut (presence engine up): its subscribers get what they missed, once', async () => {
      const prefix = `n${process.pid}-${++cluster}`;
      const proxy = await cuttableProxy(redis.port);
      open.push(proxy);
      const ch = 'presence-bus-cut';
      const bus = new RedisBus({ historySize: 10, historyTtlSeconds: 60, idempotencyWindowMs: 1000, url: proxy.url, prefix });
      const engine = new RedisPresence({ ttlMs: 37_500, url: redis.url, prefix });
      const a = await startTestNode({ RIVER_HEARTBEAT_MS: '25000' }, { bus, presence: engine });
      open.push(a);
      const b = await river(redis.url, prefix, 25_000);
      const presence = (c: TestClient) => c.frames.filter((f) => f.type === 'presence').map((f) => `${f.action} ${f.member.userId}`);
      const watcher = await member(a, 'watcher');
      await watcher.subscribe(ch);
      const goes = await member(b, 'goes');
      await goes.subscribe(ch);
      await expect.poll(() => presence(watcher)).toEqual(['join goes']);
      watcher.frames.length = 0;

      await proxy.cut();
      await expect.poll(() => bus.ready, { timeout: 5000 }).toBe(false);
      await goes.request({ type: 'unsubscribe', channel: ch });
      await (await member(b, 'comes')).subscribe(ch);
      await expect.poll(() => names(b, ch)).toEqual(['comes', 'watcher']);
      await proxy.restore();
      await expect.poll(() => bus.ready, { timeout: 10_000 }).toBe(true);
      await expect.poll(() => presence(watcher).length, { timeout: 5000 }).toBe(2);
      expect(presence(watcher).sort()).toEqual(['join comes', 'leave goes']);
      await sleep(500);
      expect(presence(watcher)).toHaveLength(2);
    }, 30_000);

    it('after a Redis restart without persistence: every open connection is a member again', async () => {
      const prefix = `x${process.pid}-${++cluster}`;
      const ch = 'presence-restart';
      const [a, b] = [await river(redis.url, prefix), await river(redis.url, prefix)];
      const clients = [await member(a, 'ann'), await member(b, 'bob'), await member(b, 'cid')];
      for (const c of clients) await c.subscribe(ch);
      // This block's presence TTL is 300 ms: on a loaded machine an entry can expire and be restored
      // (touch finds it missing) between the subscribe and this read, so wait for all three.
      await expect.poll(() => names(a, ch), { timeout: 10_000 }).toEqual(['ann', 'bob', 'cid']);
      await redis.restart();
      await expect.poll(() => names(a, ch).catch(() => undefined), { timeout: 10_000, interval: 100 }).toEqual(['ann', 'bob', 'cid']);
      await expect.poll(() => names(b, ch).catch(() => undefined), { timeout: 5000, interval: 100 }).toEqual(['ann', 'bob', 'cid']);
    }, 30_000);
  });
});
