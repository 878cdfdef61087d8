import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../engines/bus.js';
import { MemoryBus } from '../engines/memory/memory-bus.js';
import { MemoryPresence } from '../engines/memory/memory-presence.js';
import { startTestNode, waitFor, type TestNode } from '../test-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory bus whose subscribe/position/history take 25 ms before and after reading, so publishes land inside the seam. */
function slowBus(): Bus {
  const inner = new MemoryBus({ historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 });
  const slow = new Set(['subscribe', 'position', 'history']);
  return new Proxy(inner, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (!slow.has(prop as string)) return f.bind(target);
      return async (...args: unknown[]) => {
        await sleep(25);
        const r = await f.apply(target, args);
        await sleep(25);
        return r;
      };
    },
  }) as Bus;
}

describe('fanout and recovery (docs/protocol.md#3-recovery-no-message-lost-across-reconnects)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ RIVER_HISTORY_SIZE: '20' });
  });
  afterAll(() => t.close());

  it('replays exactly the missed messages after a reconnect, then live ones', async () => {
    const a = await t.client();
    const sub = await a.subscribe('rec');
    for (let i = 1; i <= 3; i++) await t.publish({ channel: 'rec', event: 'e', data: i });
    const seen = await a.messages('rec', 3);
    a.terminate();
    for (let i = 4; i <= 5; i++) await t.publish({ channel: 'rec', event: 'e', data: i });
    const b = await t.client();
    const again = await b.subscribe('rec', { offset: seen[2]!.offset, epoch: sub.epoch });
    expect(again).toMatchObject({ type: 'subscribed', channel: 'rec', epoch: sub.epoch, offset: 5, recovered: true });
    await t.publish({ channel: 'rec', event: 'e', data: 6 });
    const got = await b.messages('rec', 3);
    expect(got.map((m) => [m.offset, m.data])).toEqual([
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
  });

  it('recovers with nothing missed (since = latest)', async () => {
    await t.publish({ channel: 'rec0', event: 'e' });
    const c = await t.client();
    const s = await c.subscribe('rec0');
    expect(await (await t.client()).subscribe('rec0', { offset: 1, epoch: s.epoch })).toMatchObject({ recovered: true, offset: 1 });
  });

  it('says recovered: false for a wrong epoch or an offset older than the window, and sends only live messages', async () => {
    const c = await t.client();
    const s = await c.subscribe('old');
    for (let i = 1; i <= 30; i++) await t.publish({ channel: 'old', event: 'e', data: i });
    const wrong = await t.client();
    expect(await wrong.subscribe('old', { offset: 28, epoch: 'not-the-epoch' })).toMatchObject({ recovered: false, offset: 30 });
    const tooOld = await t.client();
    expect(await tooOld.subscribe('old', { offset: 2, epoch: s.epoch })).toMatchObject({ recovered: false, offset: 30 });
    const future = await t.client();
    expect(await future.subscribe('old', { offset: 99, epoch: s.epoch })).toMatchObject({ recovered: false, offset: 30 });
    await t.publish({ channel: 'old', event: 'e', data: 31 });
    for (const x of [wrong, tooOld, future]) expect(await x.next('message')).toMatchObject({ offset: 31 });
  });

  it('yields contiguous offsets when a burst of publishes races the resubscribe', async () => {
    for (let round = 0; round < 3; round++) {
      const channel = `race-${round}`;
      const first = await t.client();
      const s = await first.subscribe(channel);
      for (let i = 0; i < 5; i++) await t.publish({ channel, event: 'e', data: i });
      await first.messages(channel, 5);
      first.terminate();
      const b = await t.client();
      const burst = Array.from({ length: 15 }, (_, i) => t.publish({ channel, event: 'e', data: 100 + i }));
      const resub = b.subscribe(channel, { offset: 5, epoch: s.epoch });
      const more = Array.from({ length: 15 }, (_, i) => t.publish({ channel, event: 'e', data: 200 + i }));
      const results = await Promise.all([...burst, ...more]);
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(await resub).toMatchObject({ recovered: true });
      const got = await b.messages(channel, 30);
      expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 30 }, (_, i) => 6 + i));
      expect(b.frames.filter((f) => f.type === 'message')).toEqual([]);
    }
  });

  it('pages history with since and limit', async () => {
    for (let i = 1; i <= 25; i++) await t.publish({ channel: 'hist', event: 'e', data: { i } });
    const page1 = await t.http('GET', '/v1/channels/hist/history?limit=10');
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ channel: 'hist', offset: 25, complete: false });
    expect(typeof page1.body.epoch).toBe('string');
    // History keeps the last 20 (RIVER_HISTORY_SIZE): the oldest available is 6.
    expect(page1.body.messages.map((m: { offset: number }) => m.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(page1.body.messages[0]).toEqual({ channel: 'hist', event: 'e', data: { i: 6 }, offset: 6, ts: expect.any(Number) });
    const page2 = await t.http('GET', '/v1/channels/hist/history?since=15&limit=10');
    expect(page2.body).toMatchObject({ complete: true });
    expect(page2.body.messages.map((m: { offset: number }) => m.offset)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    const page3 = await t.http('GET', '/v1/channels/hist/history?since=25');
    expect(page3.body.messages).toEqual([]);
    for (const q of ['limit=101', 'limit=0', 'since=-1', 'since=x']) {
      expect((await t.http('GET', `/v1/channels/hist/history?${q}`)).status, q).toBe(400);
    }
    expect((await t.http('GET', '/v1/channels/hist/history', undefined, { authorization: '' })).status).toBe(401);
  });
});

describe('the recovery seam with a slow bus', () => {
  it('has no gap and no duplicate while publishes land during subscribe, history read and flush', async () => {
    const t = await startTestNode({}, { bus: slowBus(), presence: new MemoryPresence({ ttlMs: 50_000 }) });
    try {
      const a = await t.client();
      const s = await a.subscribe('seam');
      for (let i = 0; i < 3; i++) await t.publish({ channel: 'seam', event: 'e', data: i });
      a.terminate();
      const fresh = await t.client();
      const b = await t.client();
      const resub = b.subscribe('seam', { offset: 1, epoch: s.epoch });
      const plain = fresh.subscribe('seam');
      const pubs: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        pubs.push(t.publish({ channel: 'seam', event: 'e', data: i }));
        await sleep(4);
      }
      await Promise.all(pubs);
      expect(await resub).toMatchObject({ recovered: true });
      const got = await b.messages('seam', 22);
      expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 22 }, (_, i) => 2 + i));
      const p = await plain;
      const live = await fresh.messages('seam', 23 - p.offset);
      expect(live.map((m) => m.offset)).toEqual(Array.from({ length: 23 - p.offset }, (_, i) => p.offset + 1 + i));
      await sleep(50);
      expect(b.frames.filter((f) => f.type === 'message')).toEqual([]);
      expect(fresh.frames.filter((f) => f.type === 'message')).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('slow consumers (docs/protocol.md#8-heartbeat-limits-and-slow-consumers)', () => {
  it('closes a client that stops reading with 4003 while others keep receiving', async () => {
    const t = await startTestNode({ RIVER_MAX_BUFFERED_BYTES: '262144' });
    try {
      const slow = await t.client();
      const fast = await t.client();
      await slow.subscribe('firehose');
      await fast.subscribe('firehose');
      slow.ws.pause();
      const data = 'x'.repeat(60_000);
      let published = 0;
      const cut = async () => {
        const m = await t.http('GET', '/metrics');
        return /river_closes_total\{reason="slow_consumer"\} 1/.test(m.body as string);
      };
      while (!(await cut()) && published < 600) {
        for (let i = 0; i < 10; i++) await t.publish({ channel: 'firehose', event: 'big', data });
        published += 10;
        await fast.messages('firehose', 10);
      }
      expect(await cut()).toBe(true);
      // The 4003 close frame waits behind what the socket already holds: a client that reads
      // again a few seconds later (within CLOSE_GRACE_MS) still gets it, not an abnormal 1006.
      await new Promise((r) => setTimeout(r, 3000));
      slow.ws.resume();
      expect((await slow.waitClose()).code).toBe(4003);
      await t.publish({ channel: 'firehose', event: 'small', data: 1 });
      expect(await fast.next('message')).toMatchObject({ event: 'small', offset: published + 1 });
    } finally {
      await t.close();
    }
  });
});

describe('frame coalescing', () => {
  it('delivers a batch to one subscriber in order', async () => {
    const t = await startTestNode();
    try {
      const c = await t.client();
      await c.subscribe('co');
      const messages = Array.from({ length: 10 }, (_, i) => ({ channel: 'co', event: 'e', data: i }));
      const chunks: number[] = [];
      c.ws.on('message', () => undefined);
      // Count socket reads: one coalesced write normally arrives as one read on loopback.
      const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.on('data', (d: Buffer) => chunks.push(d.length));
      await t.http('POST', '/v1/batch', { messages });
      expect((await c.messages('co', 10)).map((m) => m.data)).toEqual(messages.map((m) => m.data));
      await waitFor(() => chunks.length > 0, 'data');
      expect(chunks.length).toBeLessThanOrEqual(2);
    } finally {
      await t.close();
    }
  });
});
