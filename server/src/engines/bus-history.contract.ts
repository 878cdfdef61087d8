/**
 * More of the bus conformance suite (`bus.contract.ts` runs these in every engine's suite): the
 * stream position and history of a channel. Offsets 1, 2, 3 per channel in one epoch, unique and
 * contiguous under concurrent publishes from several nodes; `position()` creating an epoch that
 * later calls keep; history after `since`, capped at `historySize`, with `complete`; idempotency
 * keys answering the first result, once across racing nodes, forgotten after the window; and the
 * expiry of a channel's state (epoch, offset, history) after its TTL.
 */
import { describe, expect, it } from 'vitest';
import type { BusMessage } from './bus.js';
import type { BusContractContext } from './bus-delivery.contract.js';
import { uniqueChannel } from './test-contract-clock.js';

const offsets = (msgs: BusMessage[], channel: string) => msgs.filter((m) => m.channel === channel).map((m) => m.offset);

export function busHistoryCases(ctx: BusContractContext): void {
  const { clock, ttlSeconds, setup, node, drain } = ctx;

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
      const fresh = await clock.eventually(
        async () => {
          const p = await a.bus.position(ch);
          expect(p.epoch).not.toBe(old);
          return p;
        },
        ttlMs * 5,
        100,
      );
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
      await clock.eventually(
        async () => {
          const r = await a.bus.publish({ channel: ch, event: 'e', data: 1, idempotencyKey: 'k' });
          expect(r.duplicate).toBeFalsy();
        },
        windowMs * 5,
        100,
      );
    });
  });
}
