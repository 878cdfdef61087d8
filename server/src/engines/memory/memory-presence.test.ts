import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { presenceContract } from '../presence.contract.js';
import { MemoryPresence, MemoryPresenceBackend } from './memory-presence.js';
import type { Member } from '../presence.js';

presenceContract(
  'memory',
  (opts) => {
    const backend = new MemoryPresenceBackend(opts);
    return { node: () => new MemoryPresence(opts, backend) };
  },
  { fakeTime: true },
);

describe('MemoryPresence', () => {
  const nodes: MemoryPresence[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.close();
    vi.useRealTimers();
  });
  async function started(p: MemoryPresence, expired: [string, Member][] = []): Promise<MemoryPresence> {
    nodes.push(p);
    await p.start({ expired: (c, m) => expired.push([c, m]) });
    return p;
  }
  const member = (userId: string) => ({ userId, info: {} });

  it('expires untouched entries by its sweep timer alone, reporting each user once, and frees its state', async () => {
    const expired: [string, Member][] = [];
    const p = await started(new MemoryPresence({ ttlMs: 50_000 }), expired);
    for (let i = 0; i < 500; i++) {
      await p.add({ channel: `presence-${i % 50}`, connectionId: `c${i}`, member: member(`u${i % 100}`) });
    }
    expect(p.stats()).toMatchObject({ channels: 50, entries: 500 });
    await vi.advanceTimersByTimeAsync(49_000);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    // u(k) has connections in channels k%50 only (both of its 5 connections land there): 100 users, 1 report each.
    expect(expired).toHaveLength(100);
    expect(new Set(expired.map(([c, m]) => `${c}/${m.userId}`)).size).toBe(100);
    expect(p.stats()).toMatchObject({ channels: 0, entries: 0 });
  });

  it('reports an expiry to another started node when the owning node has closed', async () => {
    const backend = new MemoryPresenceBackend({ ttlMs: 1000 });
    const seenA: [string, Member][] = [];
    const seenB: [string, Member][] = [];
    const a = await started(new MemoryPresence({ ttlMs: 1000 }, backend), seenA);
    const b = await started(new MemoryPresence({ ttlMs: 1000 }, backend), seenB);
    await a.add({ channel: 'presence-x', connectionId: 'a1', member: member('u1') });
    await a.close();
    await vi.advanceTimersByTimeAsync(1500);
    expect(seenA).toEqual([]);
    expect(seenB).toEqual([['presence-x', member('u1')]]);
    expect(await b.members('presence-x')).toEqual([]);
  });

  it("lists a remaining connection's info after the connection that set it leaves", async () => {
    const p = await started(new MemoryPresence({ ttlMs: 1000 }));
    await p.add({ channel: 'presence-x', connectionId: 'c1', member: { userId: 'u1', info: { v: 1 } } });
    await p.add({ channel: 'presence-x', connectionId: 'c2', member: { userId: 'u1', info: { v: 2 } } });
    await p.remove('presence-x', 'c1', 'u1');
    expect(await p.members('presence-x')).toEqual([{ userId: 'u1', info: { v: 2 } }]);
  });

  it('does not revive an entry that expired before it was touched', async () => {
    const p = await started(new MemoryPresence({ ttlMs: 1000 }));
    const e = { channel: 'presence-x', connectionId: 'c1', member: member('u1') };
    await p.add(e);
    await vi.advanceTimersByTimeAsync(1500);
    await p.touch([e]);
    expect(await p.members('presence-x')).toEqual([]);
  });
});
