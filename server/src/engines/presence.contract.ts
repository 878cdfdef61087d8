/**
 * The conformance suite every presence engine passes (the promises in `presence.ts`'s doc comment).
 * An engine's test runs it in three lines:
 *
 *   presenceContract('memory', (opts) => {
 *     const backend = new MemoryPresenceBackend(opts);
 *     return { node: () => new MemoryPresence(opts, backend) };
 *   }, { fakeTime: true });
 *
 * One cluster per test (a shared backend); `node()` may be called several times. The suite starts
 * and closes the nodes, then calls `cleanup`. Time works as in `bus.contract.ts`: fake timers with
 * `fakeTime`, otherwise a real `ttlMs` (default 1000) with generous polling bounds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContractCapabilities } from './bus.contract.js';
import { ContractClock, uniqueChannel } from './test-contract-clock.js';
import type { Member, Presence, PresenceEntry, PresenceOptions } from './presence.js';

export interface PresenceCluster {
  node(): Presence | Promise<Presence>;
  cleanup?(): void | Promise<void>;
}
export type PresenceClusterFactory = (opts: PresenceOptions) => PresenceCluster | Promise<PresenceCluster>;

export interface PresenceContractCapabilities extends Pick<ContractCapabilities, 'fakeTime' | 'timeoutMs'> {
  /** Entry TTL for the suite's clusters. Default 1000. */
  ttlMs?: number;
}

interface TestNode {
  presence: Presence;
  expired: { channel: string; member: Member }[];
}

const byUser = (members: Member[]) => [...members].sort((a, b) => a.userId.localeCompare(b.userId));

export function presenceContract(name: string, factory: PresenceClusterFactory, caps: PresenceContractCapabilities = {}): void {
  const ttlMs = caps.ttlMs ?? 1000;
  const clock = new ContractClock(caps.fakeTime === true, caps.timeoutMs ?? 10_000);

  describe(`presence contract: ${name}`, () => {
    let cluster: PresenceCluster | undefined;
    let nodes: TestNode[] = [];

    beforeEach(() => clock.install());
    afterEach(async () => {
      for (const n of nodes) await n.presence.close();
      await cluster?.cleanup?.();
      cluster = undefined;
      nodes = [];
      clock.uninstall();
    });

    async function node(): Promise<TestNode> {
      cluster ??= await factory({ ttlMs });
      const presence = await cluster.node();
      const n: TestNode = { presence, expired: [] };
      nodes.push(n);
      await presence.start({ expired: (channel, member) => n.expired.push({ channel, member }) });
      return n;
    }

    const entry = (channel: string, connectionId: string, userId: string, info: Record<string, unknown> = {}): PresenceEntry => ({
      channel,
      connectionId,
      member: { userId, info },
    });
    const expiredOf = (channel: string, userId: string) =>
      nodes.flatMap((n) => n.expired).filter((e) => e.channel === channel && e.member.userId === userId);

    /** Lets `total` ms pass while `keep` entries are touched every ttl/4 by their node. */
    async function passTime(total: number, keep: [TestNode, PresenceEntry[]][] = []): Promise<void> {
      const step = ttlMs / 4;
      for (let t = 0; t < total; t += step) {
        await clock.advance(step);
        for (const [n, entries] of keep) await n.presence.touch(entries);
      }
    }

    it("joins on a user's first connection and leaves on its last, across nodes", async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      expect(await a.presence.add(entry(ch, 'a1', 'u1', { name: 'Ann' }))).toEqual({ joined: true });
      expect(await b.presence.add(entry(ch, 'b1', 'u1', { name: 'Ann' }))).toEqual({ joined: false });
      expect(await a.presence.add(entry(ch, 'a2', 'u1', { name: 'Ann' }))).toEqual({ joined: false });
      expect(await a.presence.remove(ch, 'a1', 'u1')).toEqual({ left: false });
      expect(await b.presence.remove(ch, 'b1', 'u1')).toEqual({ left: false });
      expect(await a.presence.members(ch)).toEqual([{ userId: 'u1', info: { name: 'Ann' } }]);
      expect(await a.presence.remove(ch, 'a2', 'u1')).toEqual({ left: true });
      expect(await b.presence.members(ch)).toEqual([]);
      expect(await b.presence.add(entry(ch, 'b2', 'u1'))).toEqual({ joined: true });
    });

    it('lists each user once, with info, per channel', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      const other = uniqueChannel('presence-room');
      await a.presence.add(entry(ch, 'a1', 'u1', { name: 'Ann' }));
      await b.presence.add(entry(ch, 'b1', 'u1', { name: 'Ann' }));
      await b.presence.add(entry(ch, 'b2', 'u2', { name: 'Bob', n: 2 }));
      await a.presence.add(entry(other, 'a1', 'u3'));
      const expected = [
        { userId: 'u1', info: { name: 'Ann' } },
        { userId: 'u2', info: { name: 'Bob', n: 2 } },
      ];
      expect(byUser(await a.presence.members(ch))).toEqual(expected);
      expect(byUser(await b.presence.members(ch))).toEqual(expected);
      expect(await b.presence.members(other)).toEqual([{ userId: 'u3', info: {} }]);
      expect(await a.presence.members(uniqueChannel('presence-empty'))).toEqual([]);
    });

    it('answers left: false for a connection it does not hold, and a repeated add of one connection joins once', async () => {
      const a = await node();
      const ch = uniqueChannel('presence-room');
      expect(await a.presence.remove(ch, 'nobody', 'u9')).toEqual({ left: false });
      expect(await a.presence.add(entry(ch, 'a1', 'u1'))).toEqual({ joined: true });
      expect(await a.presence.add(entry(ch, 'a1', 'u1'))).toEqual({ joined: false });
      expect(await a.presence.members(ch)).toEqual([{ userId: 'u1', info: {} }]);
      expect(await a.presence.remove(ch, 'a1', 'u1')).toEqual({ left: true });
      expect(await a.presence.remove(ch, 'a1', 'u1')).toEqual({ left: false });
    });

    it('yields exactly one joined for concurrent first connections and one left for concurrent last ones', async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      const ch = uniqueChannel('presence-room');
      const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
      const adds = await Promise.all(
        users.flatMap((u) => [a, b, c].map((n, k) => n.presence.add(entry(ch, `${u}-c${k}`, u)).then((r) => [u, r.joined] as const))),
      );
      for (const u of users) expect(adds.filter(([who, joined]) => who === u && joined)).toHaveLength(1);
      expect(await a.presence.members(ch)).toHaveLength(10);
      const removes = await Promise.all(
        users.flatMap((u) => [a, b, c].map((n, k) => n.presence.remove(ch, `${u}-c${k}`, u).then((r) => [u, r.left] as const))),
      );
      for (const u of users) expect(removes.filter(([who, left]) => who === u && left)).toHaveLength(1);
      expect(await b.presence.members(ch)).toEqual([]);
    });

    it('keeps touched entries alive past the TTL', async () => {
      const a = await node();
      const ch = uniqueChannel('presence-room');
      const e = entry(ch, 'a1', 'u1');
      await a.presence.add(e);
      await passTime(ttlMs * 3, [[a, [e]]]);
      expect(await a.presence.members(ch)).toEqual([{ userId: 'u1', info: {} }]);
      expect(a.expired).toEqual([]);
      // A touch of live entries reports none missing.
      expect(await a.presence.touch([e])).toEqual([]);
      expect(await a.presence.remove(ch, 'a1', 'u1')).toEqual({ left: true });
    });

    it("reports a closed node's expiries on another node, no sooner than the TTL and within ttl × 4/3", async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      await a.presence.add(entry(ch, 'a1', 'u1', { name: 'Ann' }));
      await a.presence.add(entry(ch, 'a2', 'u2'));
      const touched = Date.now();
      // The owning node is gone: it never touches, removes or sweeps again.
      await a.presence.close();
      await clock.advance(ttlMs * 0.75);
      expect(byUser(await b.presence.members(ch))).toEqual([
        { userId: 'u1', info: { name: 'Ann' } },
        { userId: 'u2', info: {} },
      ]);
      expect(b.expired).toEqual([]);
      // Real time: the bound plus polling and scheduling slack, still well under 2 × ttl.
      const bound = (ttlMs * 4) / 3 + (clock.fake ? 0 : 300);
      await clock.eventually(
        () =>
          expect(byUser(b.expired.map((x) => x.member))).toEqual([
            { userId: 'u1', info: { name: 'Ann' } },
            { userId: 'u2', info: {} },
          ]),
        bound,
      );
      expect(Date.now() - touched).toBeLessThanOrEqual(bound + 25);
      expect(a.expired).toEqual([]);
      expect(await b.presence.members(ch)).toEqual([]);
    });

    it('never revives an expired entry on touch: it is reported missing, its leave goes out once, and adding it again is a join', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      const e = entry(ch, 'a1', 'u1');
      const kept = entry(ch, 'a2', 'u2');
      await a.presence.add(e);
      await a.presence.add(kept);
      // Past e's deadline (the engine may or may not have swept it yet), kept touched all along.
      await passTime(ttlMs, [[a, [kept]]]);
      await clock.advance(ttlMs / 10);
      expect(await a.presence.touch([e, kept])).toEqual([e]);
      await clock.eventually(async () => {
        expect(expiredOf(ch, 'u1')).toHaveLength(1);
        expect(await b.presence.members(ch)).toEqual([{ userId: 'u2', info: {} }]);
      });
      // Touching it again and again does not bring it back, nor report it again.
      await passTime(ttlMs, [[a, [e, kept]]]);
      expect(await b.presence.members(ch)).toEqual([{ userId: 'u2', info: {} }]);
      expect(expiredOf(ch, 'u1')).toHaveLength(1);
      expect(await a.presence.touch([e])).toEqual([e]);
      // The owner adds it again: the user joins again.
      expect(await a.presence.add(e)).toEqual({ joined: true });
      expect(byUser(await b.presence.members(ch))).toEqual([
        { userId: 'u1', info: {} },
        { userId: 'u2', info: {} },
      ]);
      expect(await a.presence.touch([e, kept])).toEqual([]);
    });

    it("decides a user's last remove racing a new add on another node as both (left, joined) or neither", async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      const users = Array.from({ length: 30 }, (_, i) => `u${i}`);
      for (const u of users) await a.presence.add(entry(ch, `${u}-a`, u, { u }));
      const outcomes = await Promise.all(
        users.map(async (u, i) => {
          const remove = () => a.presence.remove(ch, `${u}-a`, u);
          const add = () => b.presence.add(entry(ch, `${u}-b`, u, { u }));
          // Alternate which call is made first.
          const [r, j] = i % 2 === 0 ? await Promise.all([remove(), add()]) : (await Promise.all([add(), remove()])).reverse();
          return { u, left: (r as { left: boolean }).left, joined: (j as { joined: boolean }).joined };
        }),
      );
      for (const o of outcomes) expect(o.joined, o.u).toBe(o.left);
      // Every user is still a member (its new connection), with its info.
      expect(byUser(await a.presence.members(ch))).toEqual(byUser(users.map((u) => ({ userId: u, info: { u } }))));
      for (const u of users) expect(await b.presence.remove(ch, `${u}-b`, u)).toEqual({ left: true });
      expect(await a.presence.members(ch)).toEqual([]);
    });

    it("expires one node's untouched entries while another node's touched entries survive; each last expiry reported once", async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel('presence-room');
      // u1 only on node a (which stops touching: it "died"); u2 on both; u3 only on b.
      await a.presence.add(entry(ch, 'a1', 'u1', { name: 'Ann' }));
      await a.presence.add(entry(ch, 'a2', 'u1', { name: 'Ann' }));
      await a.presence.add(entry(ch, 'a3', 'u2'));
      const kept = [entry(ch, 'b1', 'u2'), entry(ch, 'b2', 'u3')];
      for (const e of kept) await b.presence.add(e);
      await passTime(ttlMs * 1.5, [[b, kept]]);
      await clock.eventually(async () => {
        expect(byUser(await b.presence.members(ch))).toEqual([
          { userId: 'u2', info: {} },
          { userId: 'u3', info: {} },
        ]);
        expect(expiredOf(ch, 'u1')).toHaveLength(1);
      });
      expect(expiredOf(ch, 'u1')[0]!.member).toEqual({ userId: 'u1', info: { name: 'Ann' } });
      // More time and more operations do not report it again, nor anyone else.
      await passTime(ttlMs * 1.5, [[b, kept]]);
      await a.presence.members(ch);
      expect(expiredOf(ch, 'u1')).toHaveLength(1);
      expect(expiredOf(ch, 'u2')).toEqual([]);
      expect(expiredOf(ch, 'u3')).toEqual([]);
      // The expired connection is gone: removing it is not a second leave.
      expect(await a.presence.remove(ch, 'a1', 'u1')).toEqual({ left: false });
      expect(await b.presence.remove(ch, 'b1', 'u2')).toEqual({ left: true });
    });
  });
}
