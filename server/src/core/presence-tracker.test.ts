import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Bus, BusMessage } from '../engines/bus.js';
import { MemoryBackend, MemoryBus } from '../engines/memory/memory-bus.js';
import { MemoryPresence, MemoryPresenceBackend } from '../engines/memory/memory-presence.js';
import { presenceTtlMs, type Member, type Presence, type PresenceHandlers } from '../engines/presence.js';
import { memberJson, presenceFrame } from './frames.js';
import { PresenceTracker, type PresenceConn } from './presence-tracker.js';
import { startTestNode, token, waitFor, type Frame, type TestClient, type TestNode } from '../test-support.js';

const presenceFrames = (c: TestClient) => c.frames.filter((f) => f.type === 'presence');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function member(t: TestNode, sub: string, info?: Record<string, unknown>): Promise<TestClient> {
  const c = await t.connect();
  await c.auth(await token({ sub, ...(info ? { info } : {}) }));
  return c;
}

/** A memory engine whose `restored` handler (the engine's "connected again") the test calls itself. */
function restorableEngine(): { inner: MemoryPresence; engine: Presence; restored: () => void } {
  const inner = new MemoryPresence({ ttlMs: 60_000 });
  let handlers: PresenceHandlers | undefined;
  const engine: Presence = {
    start: (h) => {
      handlers = h;
      return inner.start(h);
    },
    close: () => inner.close(),
    add: (e) => inner.add(e),
    remove: (c, id, u) => inner.remove(c, id, u),
    members: (c) => inner.members(c),
    touch: (e) => inner.touch(e),
  };
  return { inner, engine, restored: () => handlers!.restored!() };
}

describe('presence channels (docs/protocol.md#4-presence)', () => {
  it('joins and leaves once per user across two connections, with members in subscribed', async () => {
    const t = await startTestNode();
    try {
      const observer = await member(t, 'watcher');
      expect(await observer.subscribe('presence-room')).toMatchObject({ members: [{ userId: 'watcher', info: {} }] });

      const tab1 = await member(t, 'alice', { name: 'Alice' });
      const s1 = await tab1.subscribe('presence-room');
      expect(s1.members).toHaveLength(2);
      expect(s1.members).toEqual(
        expect.arrayContaining([
          { userId: 'alice', info: { name: 'Alice' } },
          { userId: 'watcher', info: {} },
        ]),
      );
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

/** Every presence frame a client got, checked against its view: a join only for someone it did not know, a leave only for someone it knew. */
function applyPresence(view: Set<string>, frames: Frame[]): number {
  let n = 0;
  for (const f of frames) {
    if (f.type !== 'presence') continue;
    n++;
    if (f.action === 'join') {
      expect(view.has(f.member.userId), `join for known ${f.member.userId}`).toBe(false);
      view.add(f.member.userId);
    } else {
      expect(view.has(f.member.userId), `leave for unknown ${f.member.userId}`).toBe(true);
      view.delete(f.member.userId);
    }
  }
  return n;
}

describe('presence storms (issue 3: N joins never cost N² frames in one tick)', () => {
  // Before coalescing, the storm members of these tests received N(N-1)/2 join frames between them
  // (780 for 40, 499,500 for 1,000): each one a join for every member that subscribed after it.
  for (const n of [40, 1000]) {
    it(`${n} simultaneous joins: each storm member gets the others in its members list, the member already there gets ${n} joins`, async () => {
      const t = await startTestNode();
      try {
        const observer = await member(t, 'observer');
        await observer.subscribe('presence-storm');
        const clients: TestClient[] = [];
        for (let i = 0; i < n; i += 100) {
          clients.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => member(t, `u${i + k}`)))));
        }
        // Every subscribe goes out at once.
        const subs = await Promise.all(clients.map((c) => c.subscribe('presence-storm')));
        const everyone = new Set(['observer', ...clients.map((_, i) => `u${i}`)]);
        const views = subs.map((s) => new Set((s.members as Member[]).map((m) => m.userId)));
        const observed = new Set(['observer']);
        let frames = 0;
        let observerFrames = 0;
        await waitFor(
          () => {
            observerFrames += applyPresence(observed, observer.frames.splice(0));
            for (const [i, c] of clients.entries()) frames += applyPresence(views[i]!, c.frames.splice(0));
            return observed.size === everyone.size && views.every((v) => v.size === everyone.size);
          },
          'every view complete',
          30_000,
        );
        await sleep(100); // nothing more arrives
        observerFrames += applyPresence(observed, observer.frames.splice(0));
        for (const [i, c] of clients.entries()) frames += applyPresence(views[i]!, c.frames.splice(0));
        for (const v of [observed, ...views]) expect(v).toEqual(everyone);
        expect(observerFrames).toBe(n);
        expect(frames).toBeLessThan((n * (n - 1)) / 2 / 10);
        expect((await t.http('GET', '/v1/channels/presence-storm/presence')).body.members).toHaveLength(n + 1);
      } finally {
        await t.close();
      }
    }, 60_000);
  }
});

describe('presence info on refresh', () => {
  it('keeps the info a subscription joined with after a refresh with other info; later subscriptions use the new info', async () => {
    const t = await startTestNode();
    try {
      const observer = await member(t, 'watcher');
      await observer.subscribe('presence-info');
      const c = await member(t, 'ann', { name: 'Ann' });
      await c.subscribe('presence-info');
      expect(await observer.next('presence')).toMatchObject({ action: 'join', member: { userId: 'ann', info: { name: 'Ann' } } });
      c.send({ type: 'refresh', token: await token({ sub: 'ann', info: { name: 'Annie' } }) });
      c.send({ type: 'ping' });
      await c.next('pong');
      const listed = (await t.http('GET', '/v1/channels/presence-info/presence')).body.members as Member[];
      expect(listed.find((m) => m.userId === 'ann')).toEqual({ userId: 'ann', info: { name: 'Ann' } });
      expect((await c.subscribe('presence-other')).members).toEqual([{ userId: 'ann', info: { name: 'Annie' } }]);
      await sleep(50);
      expect(presenceFrames(observer)).toEqual([]);
    } finally {
      await t.close();
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
      if (tracker.coalesce(m)) return;
      const f = JSON.parse(m.frame);
      delivered.push({ action: f.action, userId: f.member.userId, info: f.member.info });
    };
    const bus = { broadcast: async (channel: string, frame: string) => fanout({ channel, frame, ts: Date.now() }) } as unknown as Bus;
    const tracker: PresenceTracker = new PresenceTracker(engine, bus, logger, fanout);
    await tracker.start();
    return { tracker, delivered, engine };
  }

  it("cancels a join and the same user's leave within the window, and a leave and a join with the same info", async () => {
    const { tracker, delivered } = await setup();
    let wanted = true;
    const joining = tracker.join(ch, conn('c1', 'u1'), () => wanted);
    await vi.advanceTimersByTimeAsync(1);
    wanted = false;
    await tracker.leave(ch, conn('c1', 'u1'));
    await vi.advanceTimersByTimeAsync(20);
    expect(await joining).toBeUndefined();
    expect(delivered).toEqual([]);

    // u2 is a member (its own window), then swaps connections within one window.
    await Promise.all([tracker.join(ch, conn('c2', 'u2', { v: 1 }), () => true), vi.advanceTimersByTimeAsync(20)]);
    expect(delivered).toEqual([{ action: 'join', userId: 'u2', info: { v: 1 } }]);
    delivered.length = 0;
    await tracker.leave(ch, conn('c2', 'u2'));
    await Promise.all([tracker.join(ch, conn('c3', 'u2', { v: 1 }), () => true), vi.advanceTimersByTimeAsync(20)]);
    expect(delivered).toEqual([]);
    // The same with other info: the leave and the join both go out.
    await tracker.leave(ch, conn('c3', 'u2'));
    await Promise.all([tracker.join(ch, conn('c4', 'u2', { v: 2 }), () => true), vi.advanceTimersByTimeAsync(20)]);
    expect(delivered).toEqual([
      { action: 'leave', userId: 'u2', info: { v: 1 } },
      { action: 'join', userId: 'u2', info: { v: 2 } },
    ]);
  });

  it('collapses repeated joins (and leaves) of one user from the bus into one frame', async () => {
    const { tracker, delivered } = await setup();
    const frame = (action: 'join' | 'leave', userId: string) => ({
      channel: ch,
      frame: presenceFrame(ch, action, memberJson({ userId, info: {} })),
      ts: 0,
    });
    expect(tracker.coalesce(frame('join', 'u1'))).toBe(true);
    tracker.coalesce(frame('join', 'u1'));
    tracker.coalesce(frame('leave', 'u2'));
    tracker.coalesce(frame('leave', 'u2'));
    // Not presence frames: delivered at once.
    expect(tracker.coalesce({ channel: ch, frame: '{"type":"message"}', offset: 1, epoch: 'e', ts: 0 })).toBe(false);
    expect(tracker.coalesce({ channel: 'dogs', frame: frame('join', 'u3').frame, ts: 0 })).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered).toEqual([
      { action: 'join', userId: 'u1', info: {} },
      { action: 'leave', userId: 'u2', info: {} },
    ]);
  });

  it('closes the window 10 ms after the last event, and at most 250 ms after it opened', async () => {
    const { tracker, delivered } = await setup();
    const join = (userId: string) =>
      tracker.coalesce({ channel: ch, frame: presenceFrame(ch, 'join', memberJson({ userId, info: {} })), ts: 0 });
    join('lone');
    await vi.advanceTimersByTimeAsync(9);
    expect(delivered).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(delivered).toHaveLength(1);
    delivered.length = 0;
    // A steady stream every 5 ms: flushed at 250 ms, not held for ever.
    for (let i = 0; i < 60; i++) {
      join(`s${i}`);
      await vi.advanceTimersByTimeAsync(5);
      if (i === 48) expect(delivered).toEqual([]); // 245 ms after the window opened
    }
    expect(delivered.length).toBeGreaterThanOrEqual(50);
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered).toHaveLength(60);
  });

  it('reads the members list once for all the joins of one window and gives each joiner all of them', async () => {
    const inner = new MemoryPresence({ ttlMs: 1500 });
    let reads = 0;
    const engine: Presence = {
      start: (h) => inner.start(h),
      close: () => inner.close(),
      add: (e) => inner.add(e),
      remove: (c, id, u) => inner.remove(c, id, u),
      members: (c) => {
        reads++;
        return inner.members(c);
      },
      touch: (e) => inner.touch(e),
    };
    const { tracker, delivered } = await setup(engine);
    const joins = Array.from({ length: 50 }, (_, i) => tracker.join(ch, conn(`c${i}`, `u${i}`), () => true));
    await vi.advanceTimersByTimeAsync(20);
    const results = await Promise.all(joins);
    expect(reads).toBe(1);
    for (const r of results) {
      expect((JSON.parse(r!.json) as Member[]).map((m) => m.userId).sort()).toEqual(Array.from({ length: 50 }, (_, i) => `u${i}`).sort());
      // Its seam drops every join of the window: the joiner knows them all from its list.
      for (let i = 0; i < 50; i++) expect(r!.seam.admit(presenceFrame(ch, 'join', memberJson({ userId: `u${i}`, info: {} })))).toBe(false);
    }
    expect(delivered).toHaveLength(50); // for the members that were already there
  });

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

  it('re-adds every local entry as soon as the engine reports it is connected again', async () => {
    const { inner, engine, restored } = restorableEngine();
    const { tracker, delivered } = await setup(engine);
    await Promise.all([
      tracker.join(ch, conn('c1', 'u1'), () => true),
      tracker.join(ch, conn('c2', 'u2'), () => true),
      vi.advanceTimersByTimeAsync(20),
    ]);
    delivered.length = 0;
    // The backend lost everything (a restart without persistence), silently.
    await inner.remove(ch, 'c1', 'u1');
    await inner.remove(ch, 'c2', 'u2');
    restored();
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered.map((d) => `${d.action} ${d.userId}`).sort()).toEqual(['join u1', 'join u2']);
    expect((await inner.members(ch)).map((m) => m.userId).sort()).toEqual(['u1', 'u2']);
  });

  it('after the engine reconnects, sends the changes it did not hear about through the window, once', async () => {
    const { inner, engine, restored } = restorableEngine();
    const { tracker, delivered } = await setup(engine);
    await Promise.all([tracker.join(ch, conn('c1', 'u1'), () => true), vi.advanceTimersByTimeAsync(20)]);
    delivered.length = 0;
    // Joins made elsewhere whose frames never arrived (straight into the engine, no broadcast).
    await inner.add({ channel: ch, connectionId: 'x2', member: { userId: 'u2', info: {} } });
    await inner.add({ channel: ch, connectionId: 'x3', member: { userId: 'u3', info: { v: 3 } } });
    restored();
    await vi.advanceTimersByTimeAsync(9);
    expect(delivered).toEqual([]); // held in the window like any presence frame
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered).toEqual([
      { action: 'join', userId: 'u2', info: {} },
      { action: 'join', userId: 'u3', info: { v: 3 } },
    ]);
    await inner.remove(ch, 'x2', 'u2');
    restored();
    await vi.advanceTimersByTimeAsync(20);
    restored();
    await vi.advanceTimersByTimeAsync(20);
    expect(delivered.slice(2)).toEqual([{ action: 'leave', userId: 'u2', info: {} }]);
  });
});
