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
 *
 * The cases, by theme: here, lifecycle, live delivery, broadcast frames, control and subscriber
 * counts; `bus-history.contract.ts`, offsets, positions, history, idempotency and expiry;
 * `bus-delivery.contract.ts`, what the hub's recovery seam and catch-up rely on, and faults.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { busDeliveryCases, type BusContractContext, type FaultyNode } from './bus-delivery.contract.js';
import { busHistoryCases } from './bus-history.contract.js';
import { messageFrame } from '../core/frames.js';
import type { Bus, BusMessage, BusOptions, ControlCommand } from './bus.js';
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
      expect(ma.frame).toBe(messageFrame({ channel: ch, event: 'new-post', data: JSON.stringify(data), offset: 1, ts: ma.ts }));
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

    const ctx: BusContractContext = { clock, ttlSeconds, faults: caps.faults === true, setup, node, faultyNode, drain };
    busHistoryCases(ctx);
    busDeliveryCases(ctx);
  });
}
