import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bus, BusMessage } from './bus.js';
import { MemoryBackend, MemoryBus } from './memory-bus.js';
import { MemoryPresence, MemoryPresenceBackend } from './memory-presence.js';
import { presenceTtlMs, type Member, type Presence, type PresenceHandlers } from './presence.js';
import { PresenceTracker, type PresenceConn } from './presence-tracker.js';
import { startTestNode, token, waitFor, type Frame, type TestClient, type TestNode } from './test-support.js';

const presenceFrames = (c: TestClient) => c.frames.filter((f) => f.type === 'presence');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function member(t: TestNode, sub: string, info?: Record<string, unknown>): Promise<TestClient> {
  const c = await t.connect();
  await c.auth(await token({ sub, ...(info ? { info } : {}) }));
  return c;
}

describe('presence channels (PROTOCOL.md 2.5)', () => {
  it('joins and leaves once per user across two connections, with members in subscribed', async () => {
    const t = await startTestNode();
    try {
      const observer = await member(t, 'watcher');
      expect(await observer.subscribe('presence-room')).toMatchObject({ members: [{ userId: 'watcher', info: {} }] });

      const tab1 = await member(t, 'alice', { name: 'Alice' });
      const s1 = await tab1.subscribe('presence-room');
      expect(s1.members).toHaveLength(2);
      expect(s1.members).toEqual(expect.arrayContaining([{ userId: 'alice', info: { name: 'Alice' } }, { userId: 'watcher', info: {} }]));
      expect(await observer.next('presence')).toEqual({
        type: 'presence',
        channel: 'presence-room',
        action: 'join',
        member: { userId: 'alice', info: { name: 'Alice' } },
      });
      const tab2 = await member(t, 'alice', { name: 'Alice' });
      await tab2.subscribe('presence-room');
      await tab1.request({ type: 'unsubscribe', channel: 'presence-room' });
      tab2.close();
      expect(await observer.next('presence')).toMatchObject({ action: 'leave', member: { userId: 'alice' } });
      // Exactly one join and one leave reached the observer.
      await sleep(50);
      expect(presenceFrames(observer)).toEqual([]);

      const api = await t.http('GET', '/v1/channels/presence-room/presence');
      expect(api).toMatchObject({ status: 200, body: { channel: 'presence-room', members: [{ userId: 'watcher', info: {} }] } });
      expect((await t.http('GET', '/v1/channels/dogs/presence')).status).toBe(400);
      expect((await t.http('GET', '/v1/channels/presence-room/presence', undefined, { authorization: '' })).status).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('never sends a new member a join for someone already in its members list (itself included)', async () => {
    const t = await startTestNode();
    try {
      const clients = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => member(t, u)));
      // A storm: everyone subscribes at once.
      const subs = await Promise.all(clients.map((c) => c.subscribe('presence-storm')));
      const late = await member(t, 'late');
      await late.subscribe('presence-storm');
      for (const [i, c] of clients.entries()) {
        await c.next((f: Frame) => f.type === 'presence' && f.member.userId === 'late');
        const listed = new Set((subs[i]!.members as { userId: string }[]).map((m) => m.userId));
        expect(listed.has(`u${i + 1}`)).toBe(true);
        // Every join it got is for a member it did not already know.
        for (const f of presenceFrames(c)) {
          expect(f.action).toBe('join');
          expect(listed.has(f.member.userId)).toBe(false);
          listed.add(f.member.userId);
        }
        expect(listed.size).toBe(6);
      }
      expect(presenceFrames(late)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('sends leave after an unclean disconnect within 2 heartbeats', async () => {
    const t = await startTestNode({ RIVER_HEARTBEAT_MS: '150' });
    try {
      const observer = await member(t, 'watcher');
      await observer.subscribe('presence-x');
      const gone = await member(t, 'ghost');
      await gone.subscribe('presence-x');
      await observer.next('presence');
      const start = Date.now();
      gone.terminate();
      expect(await observer.next('presence')).toMatchObject({ action: 'leave', member: { userId: 'ghost' } });
      expect(Date.now() - start).toBeLessThan(2 * 150 + 200);
    } finally {
      await t.close();
    }
  });

  it("expires a dead node's members within 2 heartbeats and tells the other nodes' members", async () => {
    const hb = 150;
    const busBackend = new MemoryBackend({ historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 });
    const presenceBackend = new MemoryPresenceBackend({ ttlMs: presenceTtlMs(hb) });
    const nodeFor = (presence: Presence) =>
      startTestNode({ RIVER_HEARTBEAT_MS: String(hb) }, { bus: new MemoryBus(busBackend as never, busBackend), presence });
    const pA = new MemoryPresence({ ttlMs: presenceTtlMs(hb) }, presenceBackend);
    // Node A dies without removing its entries: its removes never arrive.
    const deadA: Presence = {
      start: (h) => pA.start(h),
      close: () => pA.close(),
      add: (e) => pA.add(e),
      remove: async () => ({ left: false }),
      members: (c) => pA.members(c),
      touch: (e) => pA.touch(e),
    };
    const a = await nodeFor(deadA);
    const b = await nodeFor(new MemoryPresence({ ttlMs: presenceTtlMs(hb) }, presenceBackend));
    try {
      const observer = await member(b, 'watcher');
      await observer.subscribe('presence-cluster');
      const onA = await member(a, 'remote');
      const s = await onA.subscribe('presence-cluster');
      expect((s.members as { userId: string }[]).map((m) => m.userId).sort()).toEqual(['remote', 'watcher']);
      expect(await observer.next('presence')).toMatchObject({ action: 'join', member: { userId: 'remote' } });
      // Messages cross nodes too.
      await a.publish({ channel: 'presence-cluster', event: 'hello', data: 1 });
      expect(await observer.next('message')).toMatchObject({ event: 'hello', offset: 1 });
      // Entries stay alive while A heartbeats.
      await sleep(4 * hb);
      expect(presenceFrames(observer)).toEqual([]);
      const died = Date.now();
      await a.close();
      expect(await observer.next('presence', 5000)).toMatchObject({ action: 'leave', member: { userId: 'remote' } });
      expect(Date.now() - died).toBeLessThan(2 * hb + 300);
      await waitFor(async () => (await b.http('GET', '/v1/channels/presence-cluster/presence')).body.members.length === 1, 'one member');
    } finally {
      await b.close();
    }
  });
});

describe('PresenceTracker (fake clock)', () => {
  const logger = pino({ level: 'silent' });
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => vi.useRealTimers());

  const conn = (id: string, userId: string, info: Record<string, unknown> = {}): PresenceConn => ({ id, identity: { userId, info } });
  const ch = 'presence-w';

  /** A tracker over a memory engine whose broadcasts come straight back (one node); `delivered` is what reaches subscribers. */
  async function setup(engine: Presence = new MemoryPresence({ ttlMs: 1500 })) {
    const delivered: { action: string; userId: string; info: unknown }[] = [];
    const fanout = (m: BusMessage) => {
      const f = JSON.parse(m.frame);
      delivered.push({ action: f.action, userId: f.member.userId, info: f.member.info });
    };
    const bus = { broadcast: async (channel: string, frame: string) => fanout({ channel, frame, ts: Date.now() }) } as unknown as Bus;
    const tracker = new PresenceTracker(engine, bus, logger);
    await tracker.start();
    return { tracker, delivered, engine };
  }

  it('adds an entry that expired while its connection stayed open again on the next heartbeat, with a join', async () => {
    const { tracker, delivered, engine } = await setup();
    await Promise.all([tracker.join(ch, conn('c1', 'u1', { v: 1 }), () => true), vi.advanceTimersByTimeAsync(20)]);
    delivered.length = 0;
    // No heartbeat for longer than the TTL (a stalled event loop, a backend outage): the entry expires.
    await vi.advanceTimersByTimeAsync(3000);
    expect(delivered).toEqual([{ action: 'leave', userId: 'u1', info: { v: 1 } }]);
    expect(await engine.members(ch)).toEqual([]);
    tracker.heartbeat();
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered).toEqual([
      { action: 'leave', userId: 'u1', info: { v: 1 } },
      { action: 'join', userId: 'u1', info: { v: 1 } },
    ]);
    expect(await engine.members(ch)).toEqual([{ userId: 'u1', info: { v: 1 } }]);
    // Once it is back, heartbeats only refresh it.
    tracker.heartbeat();
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered).toHaveLength(2);
  });

  it("re-adds every local entry as soon as the engine reports it is connected again", async () => {
    const inner = new MemoryPresence({ ttlMs: 60_000 });
    let handlers: PresenceHandlers | undefined;
    const engine: Presence = {
      start: (h) => ((handlers = h), inner.start(h)),
      close: () => inner.close(),
      add: (e) => inner.add(e),
      remove: (c, id, u) => inner.remove(c, id, u),
      members: (c) => inner.members(c),
      touch: (e) => inner.touch(e),
    };
    const { tracker, delivered } = await setup(engine);
    await Promise.all([tracker.join(ch, conn('c1', 'u1'), () => true), tracker.join(ch, conn('c2', 'u2'), () => true), vi.advanceTimersByTimeAsync(20)]);
    delivered.length = 0;
    // The backend lost everything (a restart without persistence), silently.
    await inner.remove(ch, 'c1', 'u1');
    await inner.remove(ch, 'c2', 'u2');
    handlers!.restored!();
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered.map((d) => `${d.action} ${d.userId}`).sort()).toEqual(['join u1', 'join u2']);
    expect((await inner.members(ch)).map((m) => m.userId).sort()).toEqual(['u1', 'u2']);
  });
});
