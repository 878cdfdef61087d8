/**
 * The hub's delivery guarantees when the bus misbehaves, over real sockets, on a memory bus wrapped
 * so a test can delay or drop live delivery: a read that runs ahead of live delivery (the Redis
 * bus's read resolves after at most 1 s whether or not delivery caught up), a live message lost on
 * the way, and `excludeConnectionId` on replay.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusHandlers, BusMessage } from '../engines/bus.js';
import { MemoryBus } from '../engines/memory/memory-bus.js';
import { MemoryPresence } from '../engines/memory/memory-presence.js';
import { startTestNode, type TestClient, type TestNode } from '../test-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A memory bus whose live delivery to the hub can be held back (`hold`/`release`) or dropped (`drop`). */
class UnreliableBus {
  readonly bus: Bus;
  holding = false;
  /** Offsets to drop on the way to the hub (never delivered live; still in history). */
  readonly drop = new Set<number>();
  private held: BusMessage[] = [];
  private handlers: BusHandlers | undefined;

  constructor() {
    const inner = new MemoryBus({ historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 });
    const start = (handlers: BusHandlers) => {
      this.handlers = handlers;
      return inner.start({
        ...handlers,
        message: (m) => {
          if (m.offset !== undefined && this.drop.delete(m.offset)) return;
          if (this.holding) this.held.push(m);
          else handlers.message(m);
        },
      });
    };
    this.bus = new Proxy(inner, {
      get: (target, prop) =>
        prop === 'start'
          ? start
          : ((Reflect.get(target, prop, target) as (...a: unknown[]) => unknown).bind?.(target) ?? Reflect.get(target, prop, target)),
    }) as Bus;
  }

  release(): void {
    this.holding = false;
    const held = this.held;
    this.held = [];
    for (const m of held) this.handlers!.message(m);
  }
}

/** The `message` offsets a client has received so far (consumed from its queue), after a short settle. */
async function offsetsSoFar(c: TestClient, channel: string): Promise<number[]> {
  await sleep(50);
  const got = c.frames.filter((f) => f.type === 'message' && f.channel === channel).map((f) => f.offset as number);
  c.frames.splice(0, c.frames.length, ...c.frames.filter((f) => !(f.type === 'message' && f.channel === channel)));
  return got;
}

describe('delivery guarantees with an unreliable bus', () => {
  let t: TestNode | undefined;
  let u: UnreliableBus;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  async function node(): Promise<TestNode> {
    u = new UnreliableBus();
    t = await startTestNode({}, { bus: u.bus, presence: new MemoryPresence({ ttlMs: 50_000 }) });
    return t;
  }
  const publish = (channel: string, data: unknown, extra: Record<string, unknown> = {}) =>
    t!.publish({ channel, event: 'e', data, ...extra }).then((r) => expect(r.status).toBe(200));

  it('gives a subscriber whose read ran ahead of live delivery no message twice (plain subscribe)', async () => {
    await node();
    const a = await t!.client();
    await a.subscribe('ahead');
    await publish('ahead', 1);
    await publish('ahead', 2);
    expect((await a.messages('ahead', 2)).map((m) => m.offset)).toEqual([1, 2]);
    u.holding = true;
    await publish('ahead', 3);
    await publish('ahead', 4);
    const b = await t!.client();
    expect(await b.subscribe('ahead')).toMatchObject({ offset: 4 });
    u.release();
    expect((await a.messages('ahead', 2)).map((m) => m.offset)).toEqual([3, 4]);
    await publish('ahead', 5);
    expect((await a.messages('ahead', 1)).map((m) => m.offset)).toEqual([5]);
    expect((await b.messages('ahead', 1)).map((m) => m.offset)).toEqual([5]);
    expect(await offsetsSoFar(b, 'ahead')).toEqual([]);
  });

  it('gives a recovering subscriber whose history read ran ahead of live delivery no message twice', async () => {
    await node();
    const a = await t!.client();
    const s = await a.subscribe('ahead2');
    await publish('ahead2', 1);
    await a.messages('ahead2', 1);
    u.holding = true;
    for (let i = 2; i <= 4; i++) await publish('ahead2', i);
    const b = await t!.client();
    expect(await b.subscribe('ahead2', { epoch: s.epoch, offset: 1 })).toMatchObject({ recovered: true, offset: 4 });
    expect((await b.messages('ahead2', 3)).map((m) => m.offset)).toEqual([2, 3, 4]);
    u.release();
    await publish('ahead2', 5);
    expect((await b.messages('ahead2', 1)).map((m) => m.offset)).toEqual([5]);
    expect(await offsetsSoFar(b, 'ahead2')).toEqual([]);
    expect((await a.messages('ahead2', 4)).map((m) => m.offset)).toEqual([2, 3, 4, 5]);
  });

  it('fills a gap in live delivery from history, in order, without a close', async () => {
    await node();
    const a = await t!.client();
    await a.subscribe('gap');
    u.drop.add(2);
    u.drop.add(3);
    for (let i = 1; i <= 5; i++) await publish('gap', i);
    const got = await a.messages('gap', 5);
    expect(got.map((m) => [m.offset, m.data])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    expect(await offsetsSoFar(a, 'gap')).toEqual([]);
    expect(a.frames.filter((f) => f.type === 'subscribed')).toEqual([]);
    expect(a.closeInfo).toBeUndefined();
  });

  it('skips the excluded connection on replay, as live delivery does', async () => {
    await node();
    const a = await t!.client();
    const s = await a.subscribe('mine');
    const other = await t!.client();
    await other.subscribe('mine');
    await publish('mine', 'theirs');
    await publish('mine', 'own', { excludeConnectionId: a.ready!.connectionId });
    await publish('mine', 'theirs again');
    expect((await a.messages('mine', 2)).map((m) => m.data)).toEqual(['theirs', 'theirs again']);
    expect((await other.messages('mine', 3)).map((m) => m.data)).toEqual(['theirs', 'own', 'theirs again']);
    // The same connection resubscribes from the start: its own message is still not sent to it.
    expect((await a.request({ type: 'unsubscribe', channel: 'mine' })).type).toBe('unsubscribed');
    expect(await a.subscribe('mine', { epoch: s.epoch, offset: 0 })).toMatchObject({ recovered: true, offset: 3 });
    expect((await a.messages('mine', 2)).map((m) => m.data)).toEqual(['theirs', 'theirs again']);
    expect(await offsetsSoFar(a, 'mine')).toEqual([]);
  });
});
