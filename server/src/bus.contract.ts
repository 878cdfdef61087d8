/**
 * The conformance suite every bus engine passes (the promises in `bus.ts`'s doc comment).
 * An engine's test runs it in three lines:
 *
 *   busContract('memory', (opts) => {
 *     const backend = new MemoryBackend(opts);
 *     return { node: () => new MemoryBus(opts, backend) };
 *   }, { fakeTime: true });
 *
 * The factory makes one "cluster" per test: a shared backend (one in-process backend, one Redis
 * key prefix) on which `node()` may be called several times to make several River nodes. The suite
 * starts and closes the nodes itself (`close` may be called twice), then calls `cleanup`.
 *
 * Time: with `fakeTime` the suite installs vitest fake timers (setTimeout/setInterval/Date), so the
 * engine must read the clock through `Date.now()` (or the injected `now`) at call time; expiry is
 * then exact and instant. Without it (Redis) the expiry cases use a real TTL of `ttlSeconds`
 * (default 1) and poll with generous bounds (`timeoutMs`, default 10 s).
 *
 * "Nothing was delivered" is asserted after a marker: the suite publishes to a marker channel the
 * receiving nodes subscribe to and waits for it, relying on a node receiving one publisher's
 * messages in publish order across channels (true of one Redis pub/sub connection).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { busDeliveryCases, type FaultyNode } from './bus-delivery.contract.js';
import { messageFrame, type Bus, type BusMessage, type BusOptions, type ControlCommand } from './bus.js';
import { ContractClock, uniqueChannel } from './test-contract-clock.js';

export { ContractClock, uniqueChannel };

export interface BusCluster {
  node(): Bus | Promise<Bus>;
  /** A node whose link to the backend the suite can cut (engines with `faults`). */
  faultyNode?(): Promise<{ bus: Bus; cut(mode: 'reset' | 'blackhole'): void; restore(): void }>;
  cleanup?(): void | Promise<void>;
}
export type BusClusterFactory = (opts: BusOptions) => BusCluster | Promise<BusCluster>;

export interface ContractCapabilities {
  /** The engine works under vitest fake timers (memory engines). */
  fakeTime?: boolean;
  /** History TTL (s) for the expiry cases. Default 1. */
  ttlSeconds?: number;
  /** Bound for "eventually" checks, in ms of (fake or real) time. Default 10000. */
  timeoutMs?: number;
  /** The cluster provides `faultyNode` (a backend that can become unreachable). */
  faults?: boolean;
}

interface TestNode {
  bus: Bus;
  messages: BusMessage[];
  controls: ControlCommand[];
  /** What this node's control handler answers. */
  answer: number;
}

const offsets = (msgs: BusMessage[], channel: string) => msgs.filter((m) => m.channel === channel).map((m) => m.offset);

export function busContract(name: string, factory: BusClusterFactory, caps: ContractCapabilities = {}): void {
  const ttlSeconds = caps.ttlSeconds ?? 1;
  const clock = new ContractClock(caps.fakeTime === true, caps.timeoutMs ?? 10_000);
  const base: BusOptions = { historySize: 50, historyTtlSeconds: 300, idempotencyWindowMs: 60_000 };

  describe(`bus contract: ${name}`, () => {
    let clusters: BusCluster[] = [];
    let nodes: TestNode[] = [];
    let cluster: BusCluster | undefined;

    beforeEach(() => clock.install());
    afterEach(async () => {
      for (const n of nodes) await n.bus.close();
      for (const c of clusters) await c.cleanup?.();
      clusters = [];
      nodes = [];
      cluster = undefined;
      clock.uninstall();
    });

    /** Options for this test's cluster; must be called before the first `node()` of the test. */
    async function setup(opts: Partial<BusOptions> = {}): Promise<void> {
      cluster = await factory({ ...base, ...opts });
      clusters.push(cluster);
    }

    async function node(answer = 0): Promise<TestNode> {
      if (cluster === undefined) await setup();
      return startNode(await cluster!.node(), answer);
    }

    async function faultyNode(answer = 0): Promise<FaultyNode> {
      if (cluster === undefined) await setup();
      if (cluster!.faultyNode === undefined) throw new Error('this engine declares faults but its cluster has no faultyNode()');
      const f = await cluster!.faultyNode();
      const n = await startNode(f.bus, answer);
      return Object.assign(n, { cut: f.cut, restore: f.restore });
    }

    async function startNode(bus: Bus, answer: number): Promise<TestNode> {
      const n: TestNode = { bus, messages: [], controls: [], answer };
      nodes.push(n);
      await bus.start({
        message: (msg) => n.messages.push(msg),
        control: (cmd) => {
          n.controls.push(cmd);
          return n.answer;
        },
      });
      return n;
    }

    /** Waits until everything `from` published before now has reached `to` (a marker on a channel `to` subscribes to). */
    async function drain(from: TestNode, ...to: TestNode[]): Promise<void> {
      const marker = uniqueChannel('marker');
      for (const n of to) await n.bus.subscribe(marker);
      await from.bus.publish({ channel: marker, event: 'marker', data: null });
      await clock.eventually(() => {
        for (const n of to) expect(offsets(n.messages, marker)).toEqual([1]);
      });
    }

    it('is ready after start; after close it is not and publish rejects with code unavailable', async () => {
      await setup();
      const idle = await cluster!.node();
      nodes.push({ bus: idle, messages: [], controls: [], answer: 0 });
      expect(idle.ready).toBe(false);
      const a = await node();
      expect(a.bus.ready).toBe(true);
      await a.bus.close();
      expect(a.bus.ready).toBe(false);
      await expect(a.bus.publish({ channel: uniqueChannel(), event: 'e', data: 1 })).rejects.toMatchObject({ code: 'unavailable' });
    });

    it('assigns offsets 1, 2, 3 per channel in one epoch, matching position()', async () => {
      const a = await node();
      const c = uniqueChannel();
      const d = uniqueChannel();
      const r = [];
      for (let i = 0; i < 3; i++) r.push(await a.bus.publish({ channel: c, event: 'e', data: i }));
      expect(r.map((x) => x.offset)).toEqual([1, 2, 3]);
      expect(new Set(r.map((x) => x.epoch)).size).toBe(1);
      expect(r[0]).toMatchObject({ channel: c });
      expect(r[0]!.duplicate).toBeFalsy();
      expect(await a.bus.position(c)).toEqual({ epoch: r[0]!.epoch, offset: 3 });
      expect((await a.bus.publish({ channel: d, event: 'e', data: 0 })).offset).toBe(1);
    });

    it('position() of a fresh channel is offset 0; with a node subscribed it creates an epoch that later calls and publishes keep', async () => {
      const a = await node();
      const b = await node();
      const c = uniqueChannel();
      const bare = await b.bus.position(c);
      expect(bare.offset).toBe(0);
      expect(typeof bare.epoch).toBe('string');
      await a.bus.subscribe(c);
      const p1 = await a.bus.position(c);
      expect(p1.offset).toBe(0);
      expect(typeof p1.epoch).toBe('string');
      expect(p1.epoch.length).toBeGreaterThan(0);
      expect(await b.bus.position(c)).toEqual(p1);
      const r = await b.bus.publish({ channel: c, event: 'e', data: 1 });
      expect(r).toMatchObject({ epoch: p1.epoch, offset: 1 });
      expect(await a.bus.position(c)).toEqual({ epoch: p1.epoch, offset: 1 });
    });

    it('delivers the documented message frame, the same text to every subscribed node', async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      const ch = uniqueChannel();
      await a.bus.subscribe(ch);
      await b.bus.subscribe(ch);
      const data = { text: 'héllo "river"', n: [1, 2], nested: { ok: true } };
      const r = await c.bus.publish({ channel: ch, event: 'new-post', data, excludeConnectionId: 'conn-1' });
      await clock.eventually(() => {
        expect(offsets(a.messages, ch)).toEqual([1]);
        expect(offsets(b.messages, ch)).toEqual([1]);
      });
      const ma = a.messages.find((m) => m.channel === ch)!;
      const mb = b.messages.find((m) => m.channel === ch)!;
      expect(ma.frame).toBe(messageFrame(ch, 'new-post', JSON.stringify(data), 1, ma.ts));
      expect(JSON.parse(ma.frame)).toEqual({ type: 'message', channel: ch, event: 'new-post', data, offset: 1, ts: ma.ts });
      expect(mb.frame).toBe(ma.frame);
      expect(ma).toMatchObject({ channel: ch, offset: 1, epoch: r.epoch, excludeConnectionId: 'conn-1' });
      expect(Math.abs(ma.ts - Date.now())).toBeLessThan(60_000);
      await drain(c, a, b, c);
      expect(offsets(c.messages, ch)).toEqual([]);
    });

    it('delivers every publish after subscribe resolves, none after unsubscribe, none to unsubscribed nodes', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel();
      await a.bus.subscribe(ch);
      await b.bus.publish({ channel: ch, event: 'e', data: 1 });
      await a.bus.publish({ channel: ch, event: 'e', data: 2 });
      await clock.eventually(() => expect(offsets(a.messages, ch)).toEqual([1, 2]));
      await a.bus.unsubscribe(ch);
      await b.bus.publish({ channel: ch, event: 'e', data: 3 });
      await a.bus.publish({ channel: ch, event: 'e', data: 4 });
      await drain(b, a, b);
      await drain(a, a, b);
      expect(offsets(a.messages, ch)).toEqual([1, 2]);
      expect(offsets(b.messages, ch)).toEqual([]);
      await a.bus.subscribe(ch);
      await b.bus.publish({ channel: ch, event: 'e', data: 5 });
      await clock.eventually(() => expect(offsets(a.messages, ch)).toEqual([1, 2, 5]));
    });

    it('gives concurrent publishes from several nodes unique contiguous offsets, delivered in order once', async () => {
      await setup({ historySize: 200 });
      const [a, b, c] = [await node(), await node(), await node()];
      const ch = uniqueChannel();
      await a.bus.subscribe(ch);
      await b.bus.subscribe(ch);
      const per = 40;
      const results = await Promise.all(
        [a, b, c].flatMap((n, k) => Array.from({ length: per }, (_, i) => n.bus.publish({ channel: ch, event: 'e', data: { k, i } }))),
      );
      const all = results.map((r) => r.offset).sort((x, y) => x - y);
      const expected = Array.from({ length: 3 * per }, (_, i) => i + 1);
      expect(all).toEqual(expected);
      expect(new Set(results.map((r) => r.epoch)).size).toBe(1);
      await clock.eventually(() => {
        expect(offsets(a.messages, ch)).toEqual(expected);
        expect(offsets(b.messages, ch)).toEqual(expected);
      });
      const h = await c.bus.history(ch, { since: 0 });
      expect(h.messages.map((m) => m.offset)).toEqual(expected);
      // History and live delivery agree, frame for frame.
      expect(h.messages.map((m) => m.frame)).toEqual(a.messages.filter((m) => m.channel === ch).map((m) => m.frame));
    });

    it('returns history after since, oldest first, at most limit, with the position and complete', async () => {
      const a = await node();
      const ch = uniqueChannel();
      let epoch = '';
      for (let i = 1; i <= 5; i++) epoch = (await a.bus.publish({ channel: ch, event: 'e', data: i })).epoch;
      const all = await a.bus.history(ch, { since: 0 });
      expect(all.position).toEqual({ epoch, offset: 5 });
      expect(all.complete).toBe(true);
      expect(all.messages.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
      expect(all.messages.map((m) => JSON.parse(m.frame).data)).toEqual([1, 2, 3, 4, 5]);
      expect(all.messages.every((m) => m.channel === ch && m.epoch === epoch)).toBe(true);
      expect((await a.bus.history(ch, {})).messages.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
      const page = await a.bus.history(ch, { since: 2, limit: 2 });
      expect(page.messages.map((m) => m.offset)).toEqual([3, 4]);
      expect(page.complete).toBe(true);
      const tail = await a.bus.history(ch, { since: 5 });
      expect(tail).toMatchObject({ messages: [], complete: true, position: { epoch, offset: 5 } });
      // An offset this epoch never reached cannot be recovered from.
      expect((await a.bus.history(ch, { since: 9 })).complete).toBe(false);
    });

    it('keeps only the last historySize messages; complete is false once the window no longer covers since', async () => {
      await setup({ historySize: 10 });
      const a = await node();
      const ch = uniqueChannel();
      for (let i = 1; i <= 15; i++) await a.bus.publish({ channel: ch, event: 'e', data: i });
      const h0 = await a.bus.history(ch, { since: 0 });
      expect(h0.messages.map((m) => m.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      expect(h0.complete).toBe(false);
      expect((await a.bus.history(ch, { since: 4 })).complete).toBe(false);
      const h5 = await a.bus.history(ch, { since: 5 });
      expect(h5.complete).toBe(true);
      expect(h5.messages.map((m) => m.offset)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      expect((await a.bus.history(ch, { since: 12, limit: 100 })).messages.map((m) => m.offset)).toEqual([13, 14, 15]);
    });

    it('history of a fresh channel is empty and complete at offset 0', async () => {
      const a = await node();
      const ch = uniqueChannel();
      const h = await a.bus.history(ch, { since: 0 });
      expect(h.messages).toEqual([]);
      expect(h.complete).toBe(true);
      expect(h.position.offset).toBe(0);
      expect((await a.bus.position(ch)).epoch).toBe(h.position.epoch);
    });

    it('answers a repeated idempotency key with the first result, duplicate: true, delivering nothing', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel();
      const other = uniqueChannel();
      await a.bus.subscribe(ch);
      const first = await b.bus.publish({ channel: ch, event: 'e', data: 1, idempotencyKey: 'k1' });
      const again = await a.bus.publish({ channel: ch, event: 'e', data: 2, idempotencyKey: 'k1' });
      expect(first.duplicate).toBeFalsy();
      expect(again).toMatchObject({ channel: ch, epoch: first.epoch, offset: first.offset, duplicate: true });
      // Keys are scoped per channel (a multi-channel publish uses one key for all its channels).
      const elsewhere = await a.bus.publish({ channel: other, event: 'e', data: 3, idempotencyKey: 'k1' });
      expect(elsewhere).toMatchObject({ channel: other, offset: 1 });
      expect(elsewhere.duplicate).toBeFalsy();
      await drain(b, a);
      expect(offsets(a.messages, ch)).toEqual([1]);
      expect((await a.bus.history(ch, { since: 0 })).messages.map((m) => JSON.parse(m.frame).data)).toEqual([1]);
      expect((await a.bus.publish({ channel: ch, event: 'e', data: 4, idempotencyKey: 'k2' })).offset).toBe(2);
    });

    it('publishes once when the same idempotency key races on several nodes', async () => {
      const [a, b, c] = [await node(), await node(), await node()];
      const ch = uniqueChannel();
      const results = await Promise.all(
        [a, b, c, a, b, c].map((n, i) => n.bus.publish({ channel: ch, event: 'e', data: i, idempotencyKey: 'race' })),
      );
      expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
      expect(new Set(results.map((r) => r.offset))).toEqual(new Set([1]));
      expect((await a.bus.position(ch)).offset).toBe(1);
    });

    it('delivers broadcast frames to subscribed nodes without offset, outside history', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel();
      await a.bus.subscribe(ch);
      await b.bus.publish({ channel: ch, event: 'e', data: 1 });
      const frame = JSON.stringify({ type: 'presence', channel: ch, action: 'join', member: { userId: 'u1', info: {} } });
      await b.bus.broadcast(ch, frame);
      await clock.eventually(() => expect(a.messages.filter((m) => m.channel === ch)).toHaveLength(2));
      const eph = a.messages.filter((m) => m.channel === ch)[1]!;
      expect(eph.frame).toBe(frame);
      expect(eph.offset).toBeUndefined();
      expect(typeof eph.ts).toBe('number');
      expect((await a.bus.position(ch)).offset).toBe(1);
      expect((await a.bus.history(ch, { since: 0 })).messages.map((m) => m.offset)).toEqual([1]);
      expect((await b.bus.publish({ channel: ch, event: 'e', data: 2 })).offset).toBe(2);
      await drain(a, b);
      expect(b.messages.filter((m) => m.channel === ch)).toEqual([]);
    });

    it('runs control commands on every node, this one included, and sums the answers', async () => {
      const [a, b, c] = [await node(1), await node(2), await node(4)];
      const cmd: ControlCommand = { type: 'disconnect', userId: 'u-42' };
      expect(await b.bus.control(cmd)).toBe(7);
      for (const n of [a, b, c]) expect(n.controls).toEqual([cmd]);
      await c.bus.close();
      expect(await a.bus.control(cmd)).toBe(3);
    });

    it('aggregates reported subscriber counts across nodes', async () => {
      const [a, b] = [await node(), await node()];
      const ch = uniqueChannel();
      expect(await a.bus.subscriberCount(ch)).toBe(0);
      a.bus.reportSubscribers(ch, 3);
      b.bus.reportSubscribers(ch, 2);
      await clock.eventually(async () => {
        expect(await a.bus.subscriberCount(ch)).toBe(5);
        expect(await b.bus.subscriberCount(ch)).toBe(5);
      });
      a.bus.reportSubscribers(ch, 1);
      await clock.eventually(async () => expect(await b.bus.subscriberCount(ch)).toBe(3));
      b.bus.reportSubscribers(ch, 0);
      await clock.eventually(async () => expect(await b.bus.subscriberCount(ch)).toBe(1));
      await a.bus.close();
      await clock.eventually(async () => expect(await b.bus.subscriberCount(ch)).toBe(0));
    });

    busDeliveryCases({ clock, ttlSeconds, faults: caps.faults === true, setup, node, faultyNode, drain });

    describe('expiry', () => {
      const ttlMs = ttlSeconds * 1000;

      it('keeps the epoch while the channel sees publishes within the TTL', async () => {
        await setup({ historyTtlSeconds: ttlSeconds });
        const a = await node();
        const ch = uniqueChannel();
        const r1 = await a.bus.publish({ channel: ch, event: 'e', data: 1 });
        await clock.advance(ttlMs * 0.6);
        await a.bus.publish({ channel: ch, event: 'e', data: 2 });
        await clock.advance(ttlMs * 0.6);
        expect(await a.bus.position(ch)).toEqual({ epoch: r1.epoch, offset: 2 });
        const h = await a.bus.history(ch, { since: 0 });
        expect(h.messages.map((m) => m.offset)).toEqual([1, 2]);
        expect(h.complete).toBe(true);
      });

      it('loses offset, epoch and history after the TTL: a new epoch starting again at offset 1', async () => {
        await setup({ historyTtlSeconds: ttlSeconds });
        const a = await node();
        const ch = uniqueChannel();
        let old = '';
        for (let i = 1; i <= 3; i++) old = (await a.bus.publish({ channel: ch, event: 'e', data: i })).epoch;
        await clock.advance(ttlMs);
        const fresh = await clock.eventually(async () => {
          const p = await a.bus.position(ch);
          expect(p.epoch).not.toBe(old);
          return p;
        }, ttlMs * 5, 100);
        expect(fresh.offset).toBe(0);
        // A client at {old, 3} cannot recover: the position it would be compared with is new.
        const h = await a.bus.history(ch, { since: 3 });
        expect(h).toMatchObject({ messages: [], complete: false, position: { offset: 0 } });
        expect(h.position.epoch).not.toBe(old);
        const r = await a.bus.publish({ channel: ch, event: 'e', data: 4 });
        expect(r.offset).toBe(1);
        expect(r.epoch).not.toBe(old);
        expect((await a.bus.history(ch, { since: 0 })).messages.map((m) => JSON.parse(m.frame).data)).toEqual([4]);
      });

      it('forgets idempotency keys after the window', async () => {
        const windowMs = Math.min(ttlMs, 1000);
        await setup({ idempotencyWindowMs: windowMs });
        const a = await node();
        const ch = uniqueChannel();
        expect((await a.bus.publish({ channel: ch, event: 'e', data: 1, idempotencyKey: 'k' })).offset).toBe(1);
        expect((await a.bus.publish({ channel: ch, event: 'e', data: 1, idempotencyKey: 'k' })).duplicate).toBe(true);
        await clock.advance(windowMs + 50);
        await clock.eventually(async () => {
          const r = await a.bus.publish({ channel: ch, event: 'e', data: 1, idempotencyKey: 'k' });
          expect(r.duplicate).toBeFalsy();
        }, windowMs * 5, 100);
      });
    });
  });
}
