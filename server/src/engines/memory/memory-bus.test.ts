import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { busContract } from '../bus.contract.js';
import type { BusMessage } from '../bus.js';
import { MemoryBackend, MemoryBus } from './memory-bus.js';

busContract(
  'memory',
  (opts) => {
    const backend = new MemoryBackend(opts);
    return { node: () => new MemoryBus(opts, backend) };
  },
  { fakeTime: true },
);

describe('MemoryBus', () => {
  const opts = { historySize: 5, historyTtlSeconds: 10, idempotencyWindowMs: 10_000 };
  const buses: MemoryBus[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close();
    vi.useRealTimers();
  });
  async function started(bus: MemoryBus, messages: BusMessage[] = []): Promise<MemoryBus> {
    buses.push(bus);
    await bus.start({ message: (m) => messages.push(m), control: () => 0 });
    return bus;
  }

  it('caps history bytes node-wide: least recently published channels evicted first, recovered:false after', async () => {
    const cap = { ...opts, maxHistoryBytes: 1024 * 1024 };
    const bus = await started(new MemoryBus(cap));
    const pad = 'p'.repeat(60_000);
    const first = await bus.publish({ channel: 'old', event: 'e', data: pad });
    await bus.subscribe('kept');
    const kept = await bus.publish({ channel: 'kept', event: 'e', data: pad });
    for (let i = 0; i < 200; i++) await bus.publish({ channel: `flood-${i}`, event: 'e', data: pad });
    const stats = bus.stats();
    expect(stats.historyBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(stats.historyBytes).toBeGreaterThan(900 * 1024);
    expect(stats.evicted).toBeGreaterThan(150);
    // The oldest channel lost its state: a new epoch, nothing to recover.
    const old = await bus.history('old', { since: 0, limit: 10 });
    expect(old.position.epoch).not.toBe(first.epoch);
    // A subscribed channel keeps its epoch and offset but not its history: not complete.
    const k = await bus.history('kept', { since: 0, limit: 10 });
    expect(k.position).toEqual({ epoch: kept.epoch, offset: 1 });
    expect(k.complete).toBe(false);
    // The newest are still whole.
    expect((await bus.history('flood-199', { since: 0, limit: 10 })).messages).toHaveLength(1);
    // One channel alone over the cap keeps its newest messages only.
    for (let i = 0; i < 40; i++) await bus.publish({ channel: 'big', event: 'e', data: pad });
    const big = await bus.history('big', { since: 0, limit: 100 });
    expect(big.complete).toBe(false);
    expect(big.messages.at(-1)!.offset).toBe(40);
    expect(bus.stats().historyBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('caps channels held node-wide (subscribed ones not counted), oldest first', async () => {
    const bus = await started(new MemoryBus({ ...opts, maxChannels: 100 }));
    await bus.subscribe('sub');
    await bus.publish({ channel: 'sub', event: 'e', data: 1 });
    for (let i = 0; i < 1000; i++) await bus.publish({ channel: `c${i}`, event: 'e', data: i });
    expect(bus.stats().channels).toBeLessThanOrEqual(101);
    expect((await bus.history('c999', { since: 0, limit: 1 })).messages).toHaveLength(1);
    expect((await bus.position('c0')).offset).toBe(0);
    expect((await bus.position('sub')).offset).toBe(1);
  });

  it('drops every channel and idempotency key once the TTL has passed, by its sweep timer alone', async () => {
    const bus = await started(new MemoryBus(opts));
    for (let i = 0; i < 1000; i++) await bus.publish({ channel: `c${i}`, event: 'e', data: i, idempotencyKey: `k${i}` });
    expect(bus.stats()).toMatchObject({ channels: 1000, idempotencyKeys: 1000, subscribedChannels: 0 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(bus.stats()).toMatchObject({ channels: 1000, idempotencyKeys: 1000 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(bus.stats()).toMatchObject({ channels: 0, idempotencyKeys: 0, subscribedChannels: 0 });
  });

  it('sweeps at most sweepBatch entries per timer run, while reads see expiry at once', async () => {
    const bus = await started(new MemoryBus({ ...opts, sweepIntervalMs: 1000, sweepBatch: 100 }));
    const first = await bus.publish({ channel: 'c0', event: 'e', data: 0 });
    for (let i = 1; i < 1000; i++) await bus.publish({ channel: `c${i}`, event: 'e', data: i });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(bus.stats().channels).toBe(1000 - 100);
    // c999 has not been swept yet, but it has expired: a new epoch from offset 0.
    expect((await bus.position('c999')).offset).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(bus.stats().channels).toBeLessThanOrEqual(1000 - 200 + 1);
    expect((await bus.publish({ channel: 'c0', event: 'e', data: 1 })).epoch).not.toBe(first.epoch);
    // Eight more runs clear the rest; c0, published since, is still alive (the read of c999 stored nothing).
    await vi.advanceTimersByTimeAsync(8_500);
    expect(bus.stats()).toMatchObject({ channels: 1, idempotencyKeys: 0 });
  });

  it('stores nothing for reads of channels without state that no node is subscribed to', async () => {
    const bus = await started(new MemoryBus({ ...opts, sweepIntervalMs: 1e9 }));
    const empty = await bus.position('never-0');
    for (let i = 0; i < 50_000; i++) {
      expect(await bus.position(`never-${i}`)).toEqual(empty);
      if (i % 10 === 0) expect(await bus.history(`never-h-${i}`, { since: 0 })).toEqual({ position: empty, messages: [], complete: true });
    }
    expect(bus.stats()).toMatchObject({ channels: 0, idempotencyKeys: 0, subscribedChannels: 0 });
    // A publish to such a channel starts a real epoch, not the empty one.
    const r = await bus.publish({ channel: 'never-7', event: 'e', data: 1 });
    expect(r.offset).toBe(1);
    expect(r.epoch).not.toBe(empty.epoch);
    expect(bus.stats().channels).toBe(1);
  });

  it('keeps memory bounded under subscribe/unsubscribe churn of unique channels with no read, without its sweep timer', async () => {
    // Subscribing creates a channel's state (its subscribed nodes live in it): subscribes sweep too.
    const bus = await started(new MemoryBus({ ...opts, sweepIntervalMs: 1e9 }));
    const perRound = 2000;
    let peak = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < perRound; i++) {
        const c = `bare-${round}-${i}`;
        await bus.subscribe(c);
        await bus.unsubscribe(c);
      }
      peak = Math.max(peak, bus.stats().channels);
      await vi.advanceTimersByTimeAsync(opts.historyTtlSeconds * 500);
    }
    expect(peak).toBeLessThanOrEqual(3 * perRound);
    expect(bus.stats().subscribedChannels).toBe(0);
  });

  it('keeps memory bounded under subscribe/read/unsubscribe churn of unique channels, without its sweep timer', async () => {
    // The timer never runs here: reads and publishes sweep as they go, so state created by reads
    // of subscribed channels cannot pile up past one TTL's worth, whatever the rate.
    const bus = await started(new MemoryBus({ ...opts, sweepIntervalMs: 1e9 }));
    const perRound = 2000;
    let peak = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < perRound; i++) {
        const c = `churn-${round}-${i}`;
        await bus.subscribe(c);
        await bus.position(c);
        await bus.unsubscribe(c);
      }
      peak = Math.max(peak, bus.stats().channels);
      await vi.advanceTimersByTimeAsync(opts.historyTtlSeconds * 500); // half a TTL per round
    }
    // One TTL holds two rounds (4000 channels): allow a third for the sweep's lag, far below 40,000.
    expect(peak).toBeLessThanOrEqual(3 * perRound);
  });

  it('expires channels in last-activity order: a recent publish keeps a channel alive', async () => {
    const bus = await started(new MemoryBus(opts));
    const a = await bus.publish({ channel: 'a', event: 'e', data: 1 });
    await bus.publish({ channel: 'b', event: 'e', data: 1 });
    await vi.advanceTimersByTimeAsync(6_000);
    await bus.publish({ channel: 'a', event: 'e', data: 2 });
    await vi.advanceTimersByTimeAsync(6_000);
    expect(bus.stats().channels).toBe(1);
    expect(await bus.position('a')).toEqual({ epoch: a.epoch, offset: 2 });
  });

  it('keeps the epoch of a channel a node is subscribed to, and expires it a TTL after the last unsubscribe', async () => {
    const bus = await started(new MemoryBus(opts));
    await bus.subscribe('quiet');
    const p = await bus.position('quiet');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await bus.position('quiet')).toEqual(p);
    await bus.unsubscribe('quiet');
    await vi.advanceTimersByTimeAsync(9_000);
    expect(await bus.position('quiet')).toEqual(p);
    await vi.advanceTimersByTimeAsync(11_000);
    expect((await bus.position('quiet')).epoch).not.toBe(p.epoch);
  });

  it('delivers a publish made inside a handler after the current message, to every node in order', async () => {
    const backend = new MemoryBackend(opts);
    const seenA: number[] = [];
    const seenB: number[] = [];
    const a = new MemoryBus(opts, backend);
    const b = new MemoryBus(opts, backend);
    buses.push(a, b);
    await a.start({
      message: (m) => {
        seenA.push(m.offset!);
        if (m.offset === 1) void a.publish({ channel: 'x', event: 'echo', data: null });
      },
      control: () => 0,
    });
    await b.start({ message: (m) => seenB.push(m.offset!), control: () => 0 });
    await a.subscribe('x');
    await b.subscribe('x');
    await b.publish({ channel: 'x', event: 'e', data: null });
    expect(seenA).toEqual([1, 2]);
    expect(seenB).toEqual([1, 2]);
  });

  it('keeps delivering to other nodes when a handler throws, and reports the error', async () => {
    const backend = new MemoryBackend(opts);
    const errors: unknown[] = [];
    const a = new MemoryBus({ ...opts, onHandlerError: (err) => errors.push(err) }, backend);
    const got: BusMessage[] = [];
    buses.push(a);
    await a.start({
      message: () => {
        throw new Error('hub bug');
      },
      control: () => 0,
    });
    const b = await started(new MemoryBus(opts, backend), got);
    await a.subscribe('x');
    await b.subscribe('x');
    expect((await b.publish({ channel: 'x', event: 'e', data: 1 })).offset).toBe(1);
    expect(got.map((m) => m.offset)).toEqual([1]);
    expect(errors).toEqual([new Error('hub bug')]);
  });

  it('refuses a value JSON cannot represent without taking an offset', async () => {
    const bus = await started(new MemoryBus(opts));
    await expect(bus.publish({ channel: 'x', event: 'e', data: 1n })).rejects.toThrow(TypeError);
    expect((await bus.publish({ channel: 'x', event: 'e', data: 1 })).offset).toBe(1);
  });

  it('rejects before start and validates its options', async () => {
    const bus = new MemoryBus(opts);
    expect(bus.ready).toBe(false);
    await expect(bus.publish({ channel: 'x', event: 'e', data: 1 })).rejects.toMatchObject({ code: 'unavailable' });
    expect(() => new MemoryBus({ ...opts, historySize: -1 })).toThrow(/historySize/);
    expect(() => new MemoryBus({ ...opts, historyTtlSeconds: 0 })).toThrow(/historyTtlSeconds/);
  });
});
