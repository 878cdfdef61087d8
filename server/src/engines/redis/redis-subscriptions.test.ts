/** The Redis bus's subscription batching, against a fake subscriber connection (no Redis needed). */
import { describe, expect, it } from 'vitest';
import type { RedisClient } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisSubscriptions } from './redis-subscriptions.js';

/** A subscriber connection that records SUBSCRIBE/UNSUBSCRIBE calls and answers at once. */
function fakeSub(): { client: RedisClient; calls: string[][]; live: Set<string> } {
  const calls: string[][] = [];
  const live = new Set<string>();
  const client = {
    async subscribe(...names: string[]) {
      calls.push(['subscribe', ...names]);
      for (const n of names) live.add(n);
    },
    async unsubscribe(...names: string[]) {
      calls.push(['unsubscribe', ...names]);
      for (const n of names) live.delete(n);
    },
  } as unknown as RedisClient;
  return { client, calls, live };
}

const keys = new RedisKeys('t');

describe('RedisSubscriptions', () => {
  it('sends one SUBSCRIBE and one UNSUBSCRIBE per tick, with only what changed', async () => {
    const { client, calls, live } = fakeSub();
    const subs = new RedisSubscriptions(client, false, keys, () => true);
    for (const c of ['a', 'b', 'c']) subs.add(c);
    await subs.flush();
    expect(calls).toEqual([['subscribe', keys.live('a'), keys.live('b'), keys.live('c')]]);
    subs.add('d');
    subs.delete('a');
    subs.add('a'); // back before the flush: nothing to do for it
    subs.delete('b');
    await subs.flush();
    expect(calls.slice(1)).toEqual([
      ['subscribe', keys.live('d')],
      ['unsubscribe', keys.live('b')],
    ]);
    expect(live).toEqual(new Set(['a', 'c', 'd'].map((c) => keys.live(c))));
    expect(subs.dirty()).toBe(false);
  });

  it('ends in the last state asked for when changes race an in-flight flush', async () => {
    const { client, live } = fakeSub();
    const subs = new RedisSubscriptions(client, false, keys, () => true);
    subs.add('x');
    const first = subs.flush();
    await new Promise((r) => setImmediate(r)); // the SUBSCRIBE of x is in flight
    subs.delete('x');
    const second = subs.flush();
    await Promise.all([first, second]);
    expect(live.has(keys.live('x'))).toBe(false);
    subs.add('y');
    const third = subs.flush();
    await new Promise((r) => setImmediate(r));
    subs.delete('y');
    subs.add('y');
    await Promise.all([third, subs.flush()]);
    expect(live.has(keys.live('y'))).toBe(true);
    expect(subs.isApplied('y')).toBe(true);
    expect(subs.dirty()).toBe(false);
  });

  it('flushes one change in time independent of how many channels are subscribed (O(changes))', async () => {
    const { client } = fakeSub();
    const subs = new RedisSubscriptions(client, false, keys, () => true);
    const time = async (n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        subs.add(`one-${i}`);
        await subs.flush();
      }
      return (performance.now() - t0) / n;
    };
    for (let i = 0; i < 50_000; i++) subs.add(`c${i}`);
    await subs.flush();
    // A diff of the full set costs ~8-17 ms per flush at 50k channels on the dev machine; one
    // change costs a setImmediate and the fake round trip (~0.05 ms). 2 ms is a generous bound.
    const perFlush = await time(300);
    expect(perFlush).toBeLessThan(2);
  });

  it('after a lost connection, resubscribes everything wanted in one go', async () => {
    const { client, calls } = fakeSub();
    const subs = new RedisSubscriptions(client, false, keys, () => true);
    subs.add('a');
    subs.add('b');
    await subs.flush();
    subs.lost();
    expect(subs.isApplied('a')).toBe(false);
    expect(subs.dirty()).toBe(true);
    subs.delete('b');
    expect(await subs.resubscribe(['ctl'])).toEqual(['a']);
    expect(calls.at(-1)).toEqual(['subscribe', keys.live('a'), 'ctl']);
    expect(subs.dirty()).toBe(false);
  });
});
