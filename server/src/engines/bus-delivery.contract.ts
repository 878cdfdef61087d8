/**
 * More of the bus conformance suite (`bus.contract.ts` runs these in every engine's suite): the
 * promises the hub's recovery seam and catch-up rely on (read-after-delivery, atomic reads,
 * subscribed channels keeping their state, ordered subscription calls, history keeping
 * `excludeConnectionId`) and, for engines with a network backend (`faults`), behaviour while the
 * backend is unreachable (publish refused and never run later; control not waiting on, nor
 * counting, a node that does not answer).
 */
import { describe, expect, it } from 'vitest';
import type { Bus, BusMessage, BusOptions, ControlCommand } from './bus.js';
import type { ContractClock } from './test-contract-clock.js';
import { uniqueChannel } from './test-contract-clock.js';

export interface ContractNode {
  bus: Bus;
  messages: BusMessage[];
  controls: ControlCommand[];
  answer: number;
}

/** A node whose link to the backend a test can cut: `reset` drops it at once, `blackhole` keeps it open and silent. */
export interface FaultyNode extends ContractNode {
  cut(mode: 'reset' | 'blackhole'): void;
  restore(): void;
}

/** What the suite gives its theme files (`bus-history.contract.ts`, this one). */
export interface BusContractContext {
  clock: ContractClock;
  ttlSeconds: number;
  /** The engine can cut a node from its backend (`BusCluster.faultyNode`). */
  faults: boolean;
  setup(opts?: Partial<BusOptions>): Promise<void>;
  node(answer?: number): Promise<ContractNode>;
  faultyNode(answer?: number): Promise<FaultyNode>;
  /** Waits until everything `from` published before now has reached `to`. */
  drain(from: ContractNode, ...to: ContractNode[]): Promise<void>;
}

const offsets = (msgs: BusMessage[], channel: string) => msgs.filter((m) => m.channel === channel).map((m) => m.offset);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

export function busDeliveryCases(ctx: BusContractContext): void {
  const { clock } = ctx;

  it('resolves position and history of a subscribed channel only after the messages they include reached this node', async () => {
    const [a, b] = [await ctx.node(), await ctx.node()];
    const ch = uniqueChannel();
    await a.bus.subscribe(ch);
    const delivered = () => offsets(a.messages, ch).at(-1) ?? 0;
    // Bursts of sizeable messages: on a network engine, live delivery then lags the read's answer
    // unless the engine waits for it.
    const total = 600;
    const burst = 30;
    const data = 'x'.repeat(2000);
    let done = false;
    const publishing = (async () => {
      for (let i = 0; i < total; i += burst)
        await Promise.all(range(i, i + burst - 1).map(() => b.bus.publish({ channel: ch, event: 'e', data })));
      done = true;
    })();
    for (let reads = 0, last = 0; !done || last < total; reads++) {
      expect(reads, 'reads').toBeLessThan(20_000);
      const p =
        reads % 2 === 0 ? await a.bus.position(ch) : (await a.bus.history(ch, { since: Math.max(0, last - 3), limit: 10 })).position;
      expect(delivered(), `delivered when a read saw offset ${p.offset}`).toBeGreaterThanOrEqual(p.offset);
      last = p.offset;
    }
    await publishing;
  });

  it('reads history and its position in one atomic step while publishes race the read', async () => {
    await ctx.setup({ historySize: 500 });
    const [a, b] = [await ctx.node(), await ctx.node()];
    const ch = uniqueChannel();
    await b.bus.publish({ channel: ch, event: 'e', data: 0 });
    for (let i = 0; i < 40; i++) {
      const read = a.bus.history(ch, { since: 0, limit: 500 });
      const racing = [b.bus.publish({ channel: ch, event: 'e', data: i }), a.bus.publish({ channel: ch, event: 'e', data: i })];
      const [h] = await Promise.all([read, ...racing]);
      expect(
        h.messages.map((m) => m.offset),
        `read ${i} at offset ${h.position.offset}`,
      ).toEqual(range(1, h.position.offset));
      expect(h.complete).toBe(true);
    }
  });

  it('keeps excludeConnectionId in history', async () => {
    const a = await ctx.node();
    const ch = uniqueChannel();
    await a.bus.publish({ channel: ch, event: 'e', data: 1, excludeConnectionId: 'node-1.7' });
    await a.bus.publish({ channel: ch, event: 'e', data: 2 });
    const h = await a.bus.history(ch, { since: 0 });
    expect(h.messages.map((m) => m.excludeConnectionId)).toEqual(['node-1.7', undefined]);
  });

  it('applies subscribe and unsubscribe calls of one channel in call order, also within one batch', async () => {
    const [a, b] = [await ctx.node(), await ctx.node()];
    const on = uniqueChannel('on');
    const off = uniqueChannel('off');
    const onAgain = uniqueChannel('on');
    await Promise.all([a.bus.subscribe(on), a.bus.unsubscribe(on), a.bus.subscribe(on)]);
    await Promise.all([a.bus.subscribe(off), a.bus.unsubscribe(off)]);
    await a.bus.subscribe(onAgain);
    await Promise.all([a.bus.unsubscribe(onAgain), a.bus.subscribe(onAgain)]);
    for (const ch of [on, off, onAgain]) await b.bus.publish({ channel: ch, event: 'e', data: ch });
    await ctx.drain(b, a);
    expect(offsets(a.messages, on)).toEqual([1]);
    expect(offsets(a.messages, off)).toEqual([]);
    expect(offsets(a.messages, onAgain)).toEqual([1]);
  });

  describe('expiry of subscribed channels', () => {
    it('keeps the state of a channel a node is subscribed to past the TTL, however quiet', async () => {
      const ttlMs = ctx.ttlSeconds * 1000;
      await ctx.setup({ historyTtlSeconds: ctx.ttlSeconds });
      const [a, b] = [await ctx.node(), await ctx.node()];
      const quiet = uniqueChannel('quiet');
      const used = uniqueChannel('used');
      await a.bus.subscribe(quiet);
      await a.bus.subscribe(used);
      const p = await a.bus.position(quiet);
      const r = await b.bus.publish({ channel: used, event: 'e', data: 1 });
      await clock.advance(ttlMs * 3);
      expect(await b.bus.position(quiet)).toEqual(p);
      const h = await b.bus.history(used, { since: 0 });
      expect(h).toMatchObject({ position: { epoch: r.epoch, offset: 1 }, complete: true });
      expect(h.messages.map((m) => m.offset)).toEqual([1]);
      expect((await b.bus.publish({ channel: quiet, event: 'e', data: 1 })).epoch).toBe(p.epoch);
    });
  });

  describe.skipIf(!ctx.faults)('backend unreachable', () => {
    it('refuses publishes while the backend is unreachable and never runs them later', async () => {
      const a = await ctx.node();
      const f = await ctx.faultyNode();
      const ch = uniqueChannel();
      await a.bus.subscribe(ch);
      expect((await f.bus.publish({ channel: ch, event: 'e', data: 'before' })).offset).toBe(1);
      f.cut('reset');
      await clock.eventually(() => expect(f.bus.ready).toBe(false));
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => 'published',
          (err: { code?: string }) => err.code,
        );
      const during = [
        outcome(f.bus.publish({ channel: ch, event: 'e', data: 'during' })),
        outcome(f.bus.publish({ channel: ch, event: 'e', data: 'during', idempotencyKey: 'k' })),
      ];
      await clock.advance(200); // an engine that queues them would run them once the backend is back
      f.restore();
      await clock.eventually(() => expect(f.bus.ready).toBe(true));
      expect(await Promise.all(during)).toEqual(['unavailable', 'unavailable']);
      await ctx.drain(a, a);
      await ctx.drain(f, a);
      expect(offsets(a.messages, ch)).toEqual([1]);
      expect(await a.bus.position(ch)).toMatchObject({ offset: 1 });
      expect((await f.bus.publish({ channel: ch, event: 'e', data: 'after', idempotencyKey: 'k' })).offset).toBe(2);
    });

    it('does not wait on, nor count, a node that does not answer a control command', async () => {
      const [a, b] = [await ctx.node(1), await ctx.node(2)];
      const f = await ctx.faultyNode(4);
      const cmd: ControlCommand = { type: 'disconnect', userId: 'u-timeout' };
      expect(await a.bus.control(cmd)).toBe(7);
      // Silent: the backend still counts f as a receiver, but f never answers.
      f.cut('blackhole');
      const t0 = Date.now();
      expect(await a.bus.control(cmd)).toBe(3);
      expect(Date.now() - t0).toBeLessThan(5000);
      f.restore();
      await clock.eventually(async () => expect(await b.bus.control(cmd)).toBe(7));
      expect(await a.bus.control(cmd)).toBe(7);
    });
  });
}
