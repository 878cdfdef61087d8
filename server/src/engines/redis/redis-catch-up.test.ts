import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable } from '../../../../e2e/harness/redis.js';
import { startTcpProxy, type TcpProxy } from '../../../../e2e/harness/tcp-proxy.js';
import { RedisBus } from './redis-bus.js';
import {
  startRedisWithAdmin,
  startTestNode,
  token,
  waitFor,
  type Frame,
  type TestClient,
  type TestNode,
  type RedisWithAdmin,
} from '../../test-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;

describe.skipIf(!redisAvailable())('a node over Redis catching up', () => {
  let redis: RedisWithAdmin;
  let proxy: TcpProxy;
  let t: TestNode;
  let publisher: RedisBus;
  let prefix: string;

  beforeAll(async () => {
    redis = await startRedisWithAdmin();
  });
  afterAll(async () => {
    await redis?.close();
  });
  afterEach(async () => {
    await t?.close();
    await publisher?.close();
    await proxy?.close();
  });

  /** A node reaching Redis through a proxy, and a publisher in this process reaching it directly. */
  async function setup(env: Record<string, string> = {}): Promise<void> {
    prefix = `cu${process.pid}-${++seq}`;
    proxy = await startTcpProxy(redis.port);
    t = await startTestNode({
      RIVER_REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      RIVER_REDIS_PREFIX: prefix,
      RIVER_HISTORY_SIZE: '1000',
      ...env,
    });
    publisher = new RedisBus({ url: redis.url, prefix, historySize: 1000, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 });
    await publisher.startPublishOnly();
  }
  const publish = (channel: string, data: unknown, excludeConnectionId?: string) =>
    publisher.publish({ channel, event: 'e', data, ...(excludeConnectionId ? { excludeConnectionId } : {}) });
  const frames = (c: TestClient, type: string) => c.frames.filter((f) => f.type === type);
  const offsets = (c: TestClient, channel: string) =>
    frames(c, 'message')
      .filter((f) => f.channel === channel)
      .map((f) => f.offset as number);

  /** Cuts the node from Redis until it has noticed (not ready), runs `during`, then restores the link. */
  async function cut(during: () => Promise<void>, minMs = 0): Promise<void> {
    const start = Date.now();
    proxy.sever('reset');
    await waitFor(() => !t.node.ready, 'the node to notice the cut');
    await during();
    await sleep(Math.max(0, minMs - (Date.now() - start)));
    proxy.restore();
  }

  it('loses nothing and duplicates nothing when cut from Redis for 600 ms while another node publishes 20/s', async () => {
    await setup();
    const c = await t.client();
    await c.subscribe('steady');
    let stop = false;
    let sent = 0;
    const stream = (async () => {
      while (!stop) {
        await publish('steady', sent + 1);
        sent++;
        await sleep(50);
      }
    })();
    await sleep(800);
    await cut(async () => undefined, 600);
    await sleep(1500);
    stop = true;
    await stream;
    await waitFor(() => offsets(c, 'steady').length >= sent, `${sent} messages`, 15_000);
    await sleep(100);
    expect(offsets(c, 'steady')).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(frames(c, 'message').map((f) => f.data)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(sent).toBeGreaterThan(40);
    expect(frames(c, 'subscribed')).toHaveLength(0); // the reply to subscribe was consumed; no unsolicited one
    expect(c.closeInfo).toBeUndefined();
  });

  it('catches up a quiet channel (nothing delivered live before the cut)', async () => {
    await setup();
    const c = await t.client();
    const s = await c.subscribe('quiet');
    expect(s.offset).toBe(0);
    await cut(async () => {
      await publish('quiet', 'while cut');
    });
    const [m] = await c.messages('quiet', 1);
    expect(m).toMatchObject({ offset: 1, data: 'while cut' });
    await publish('quiet', 'after');
    expect(await c.next('message')).toMatchObject({ offset: 2, data: 'after' });
    await sleep(100);
    expect(frames(c, 'message')).toEqual([]);
    expect(c.closeInfo).toBeUndefined();
  });

  it('skips the excluded connection when catching up from history', async () => {
    await setup();
    const sender = await t.client();
    const other = await t.client();
    await sender.subscribe('own');
    await other.subscribe('own');
    await cut(async () => {
      await publish('own', 'by sender', sender.ready!.connectionId);
      await publish('own', 'by someone');
    });
    expect((await other.messages('own', 2)).map((m) => m.data)).toEqual(['by sender', 'by someone']);
    expect((await sender.messages('own', 1)).map((m) => m.data)).toEqual(['by someone']);
    await sleep(100);
    expect(frames(sender, 'message')).toEqual([]);
  });

  it('tells subscribers recovered: false with the new position when the gap is no longer in history', async () => {
    await setup({ RIVER_HISTORY_SIZE: '5' });
    publisher = new RedisBus({ url: redis.url, prefix, historySize: 5, historyTtlSeconds: 300, idempotencyWindowMs: 0 });
    await publisher.startPublishOnly();
    const c = await t.client();
    const s = await c.subscribe('window');
    await publish('window', 1);
    await c.messages('window', 1);
    await cut(async () => {
      for (let i = 2; i <= 12; i++) await publish('window', i);
    });
    const told = await c.next('subscribed');
    expect(told).toEqual({ type: 'subscribed', channel: 'window', epoch: s.epoch, offset: 12, recovered: false });
    await publish('window', 13);
    expect(await c.next('message')).toMatchObject({ offset: 13, data: 13 });
    await sleep(100);
    expect(frames(c, 'message')).toEqual([]);
    expect(c.closeInfo).toBeUndefined();
  });

  it('tells subscribers recovered: false when a new epoch arrives live (keys flushed), members included', async () => {
    await setup({ RIVER_HEARTBEAT_MS: '1000' });
    const c = await t.connect();
    await c.auth(await token({ sub: 'u-flush', info: { n: 1 } }));
    const plain = await c.subscribe('flushed');
    const room = await c.subscribe('presence-flushed');
    for (let i = 1; i <= 3; i++) await publish('flushed', i);
    await publish('presence-flushed', 'p1');
    expect((await c.messages('flushed', 3)).map((m) => m.offset)).toEqual([1, 2, 3]);
    await c.messages('presence-flushed', 1);
    await redis.admin.flushall();
    const first = await publish('flushed', 'new epoch');
    await publish('presence-flushed', 'p new epoch');
    expect(first.offset).toBe(1);
    const told = [await c.next('subscribed'), await c.next('subscribed')].sort((x, y) =>
      String(x.channel).localeCompare(String(y.channel)),
    );
    expect(told[0]).toEqual({ type: 'subscribed', channel: 'flushed', epoch: first.epoch, offset: 1, recovered: false });
    expect(told[0]!.epoch).not.toBe(plain.epoch);
    expect(told[1]).toMatchObject({
      type: 'subscribed',
      channel: 'presence-flushed',
      offset: 1,
      recovered: false,
      members: expect.any(Array),
    });
    expect(told[1]!.epoch).not.toBe(room.epoch);
    await publish('flushed', 'next');
    expect(await c.next((f: Frame) => f.type === 'message' && f.channel === 'flushed')).toMatchObject({ offset: 2, data: 'next' });
    expect(c.closeInfo).toBeUndefined();
  });

  it('tells subscribers recovered: false after a Redis restart without persistence, without closing them', async () => {
    await setup();
    const c = await t.client();
    const s = await c.subscribe('restarted');
    for (let i = 1; i <= 3; i++) await publish('restarted', i);
    await c.messages('restarted', 3);
    await publisher.close();
    await redis.restart();
    const told = await c.next('subscribed', 20_000);
    expect(told).toMatchObject({ type: 'subscribed', channel: 'restarted', offset: 0, recovered: false });
    expect(told.epoch).not.toBe(s.epoch);
    publisher = new RedisBus({ url: redis.url, prefix, historySize: 1000, historyTtlSeconds: 300, idempotencyWindowMs: 0 });
    await publisher.startPublishOnly();
    const r = await publish('restarted', 'after');
    expect(r).toMatchObject({ epoch: told.epoch, offset: 1 });
    expect(await c.next('message')).toMatchObject({ offset: 1, data: 'after' });
    expect(c.closeInfo).toBeUndefined();
  });
});
