/**
 * Publish batching (redis-publish.ts) against a real Redis: the publishes of one turn go as one
 * script call, each with its own offset, idempotency and error; the stream and meta layout stay
 * those of the one-call-per-publish script, so an old node and a new node publishing to one
 * channel during a rolling deploy produce consecutive offsets.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAvailable, startRedis, type RedisInstance } from '../../../../e2e/harness/redis.js';
import type { BusMessage } from '../bus.js';
import { messageFrame, messageParts } from '../../core/frames.js';
import { RedisBus, type RedisBusOptions } from './redis-bus.js';
import { envelopeTail } from './redis-keys.js';

/** The publish script of River before batching (main 2fe59cd), as an old node runs it. */
const OLD_PUBLISH_SCRIPT = `
local window = tonumber(ARGV[8])
if window > 0 then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local sep = string.find(seen, ':', 1, true)
    return {tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1), 1}
  end
end
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[9]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local frame = ARGV[3] .. offset .. ARGV[4]
local ttl = tonumber(ARGV[7])
local size = tonumber(ARGV[6])
if size > 0 then
  if ARGV[11] ~= '' then
    redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-0', 'f', frame, 't', ARGV[10], 'x', ARGV[11])
  else
    redis.call('XADD', KEYS[2], 'MAXLEN', size, offset .. '-0', 'f', frame, 't', ARGV[10])
  end
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('EXPIRE', KEYS[1], ttl)
if window > 0 then
  redis.call('SET', KEYS[3], offset .. ':' .. epoch, 'PX', window)
end
redis.call(ARGV[1], ARGV[2], 'm' .. offset .. ':' .. epoch .. ':' .. ARGV[5] .. frame)
return {offset, epoch, 0}
`;

let seq = 0;

describe.skipIf(!redisAvailable())('Redis publish batching', () => {
  let redis: RedisInstance;
  let admin: Redis;
  const buses: RedisBus[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await redis?.stop();
  });
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close();
  });

  async function node(extra: Partial<RedisBusOptions> = {}, received?: BusMessage[]): Promise<RedisBus> {
    const bus = new RedisBus({
      url: redis.url,
      prefix: `pb${process.pid}-${++seq}`,
      historySize: 5,
      historyTtlSeconds: 60,
      idempotencyWindowMs: 60_000,
      ...extra,
    });
    buses.push(bus);
    await bus.start({ message: (m) => received?.push(m), control: () => 0 });
    return bus;
  }

  /** Script calls Redis has run so far (EVALSHA and EVAL). */
  async function scriptCalls(): Promise<number> {
    const info = await admin.info('commandstats');
    let n = 0;
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
    return n;
  }

  it('sends the publishes of one turn, across channels, as one script call, each with its own offset, in call order', async () => {
    const got: BusMessage[] = [];
    const bus = await node({}, got);
    await bus.subscribe('a');
    await bus.subscribe('b');
    await bus.publish({ channel: 'warm', event: 'e', data: 0 }); // loads the script
    const before = await scriptCalls();
    const order = ['a', 'b', 'a', 'a', 'b', 'a', 'a', 'a'];
    const results = await Promise.all(order.map((channel, i) => bus.publish({ channel, event: 'e', data: i })));
    expect(await scriptCalls()).toBe(before + 1);
    expect(results.map((r) => `${r.channel}${r.offset}`)).toEqual(['a1', 'b1', 'a2', 'a3', 'b2', 'a4', 'a5', 'a6']);
    expect(results.every((r) => r.epoch === results[0]!.epoch || r.channel === 'b')).toBe(true);
    await expect.poll(() => got.length).toBe(order.length);
    // Delivered in call order across channels, each frame exactly the one history keeps.
    expect(got.map((m) => `${m.channel}${m.offset}`)).toEqual(['a1', 'b1', 'a2', 'a3', 'b2', 'a4', 'a5', 'a6']);
    expect(got[0]!.frame).toBe(messageFrame({ channel: 'a', event: 'e', data: '0', ts: got[0]!.ts, offset: 1 }));
    // History holds the last 5 of channel a (trimmed once, at its last message), b both.
    const a = await bus.history('a', {});
    expect(a.position.offset).toBe(6);
    expect(a.messages.map((m) => m.offset)).toEqual([2, 3, 4, 5, 6]);
    expect((await bus.history('b', {})).messages.map((m) => m.offset)).toEqual([1, 2]);
  });

  it('splits a batch larger than 256 messages into calls in order', async () => {
    const bus = await node({ historySize: 1000 });
    await bus.publish({ channel: 'warm', event: 'e', data: 0 });
    const before = await scriptCalls();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => bus.publish({ channel: 'big', event: 'e', data: i })));
    expect(await scriptCalls()).toBe(before + 2);
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const h = await bus.history('big', { limit: 1000 });
    expect(h.messages.map((m) => m.offset)).toEqual(results.map((r) => r.offset));
  });

  it('splits a batch of large messages into calls of about 1 MiB', async () => {
    const bus = await node({ historySize: 100 });
    await bus.publish({ channel: 'warm', event: 'e', data: 0 });
    const before = await scriptCalls();
    const big = 'x'.repeat(200_000);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => bus.publish({ channel: 'large', event: 'e', data: `${i}${big}` })),
    );
    // 12 × ~200 KB: 5 per call (the sixth would pass 1 MiB), so 3 calls.
    expect((await scriptCalls()) - before).toBe(3);
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const h = await bus.history('large', {});
    expect(h.messages.map((m) => /"data":"(\d+)x/.exec(m.frame)?.[1])).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
  });

  it('checks idempotency per message within one batch: a repeated key is a duplicate of the first', async () => {
    const got: BusMessage[] = [];
    const bus = await node({}, got);
    await bus.subscribe('c');
    const results = await Promise.all([
      bus.publish({ channel: 'c', event: 'e', data: 1, idempotencyKey: 'k1' }),
      bus.publish({ channel: 'c', event: 'e', data: 2 }),
      bus.publish({ channel: 'c', event: 'e', data: 3, idempotencyKey: 'k1' }),
      bus.publish({ channel: 'c', event: 'e', data: 4, idempotencyKey: 'k2' }),
      bus.publish({ channel: 'other', event: 'e', data: 5, idempotencyKey: 'k1' }),
    ]);
    expect(results.map((r) => [r.offset, r.duplicate === true])).toEqual([
      [1, false],
      [2, false],
      [1, true],
      [3, false],
      [1, false],
    ]);
    expect(results[2]!.epoch).toBe(results[0]!.epoch);
    const again = await bus.publish({ channel: 'c', event: 'e', data: 6, idempotencyKey: 'k2' });
    expect(again).toMatchObject({ offset: 3, duplicate: true });
    const h = await bus.history('c', {});
    expect(h.messages.map((m) => m.offset)).toEqual([1, 2, 3]);
    await expect.poll(() => got.length).toBe(3);
    expect(got.map((m) => m.offset)).toEqual([1, 2, 3]);
  });

  it('fails only the publishes of the channel whose keys are broken, the others of the batch go through', async () => {
    const bus = await node();
    await admin.set(bus.keys.meta('broken'), 'not a hash');
    const results = await Promise.allSettled([
      bus.publish({ channel: 'fine', event: 'e', data: 1 }),
      bus.publish({ channel: 'broken', event: 'e', data: 2 }),
      bus.publish({ channel: 'fine', event: 'e', data: 3 }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({
      name: 'ReplyError',
      message: expect.stringContaining('WRONGTYPE'),
    });
    expect(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.offset] : []))).toEqual([1, 2]);
  });

  it('keeps offsets consecutive when an old node (one script call per publish) and a new node publish to one channel', async () => {
    const got: BusMessage[] = [];
    const bus = await node({ historySize: 100 }, got);
    await bus.subscribe('mixed');
    const oldNode = new Redis(redis.url);
    try {
      const sha = (await oldNode.script('LOAD', OLD_PUBLISH_SCRIPT)) as string;
      const oldPublish = (data: number) => {
        const ts = Date.now();
        const { head, tail } = messageParts({ channel: 'mixed', event: 'e', data: String(data), ts });
        const k = bus.keys;
        return oldNode.evalsha(
          sha,
          3,
          k.meta('mixed'),
          k.stream('mixed'),
          k.meta('mixed'),
          'PUBLISH',
          k.live('mixed'),
          head,
          tail,
          envelopeTail(ts, undefined),
          100,
          60,
          0,
          'oldepoch',
          ts,
          '',
        ) as Promise<[number, string, number]>;
      };
      const offsets: number[] = [];
      for (let round = 0; round < 3; round++) {
        const [o] = await oldPublish(round * 10);
        offsets.push(o);
        const news = await Promise.all([1, 2].map((i) => bus.publish({ channel: 'mixed', event: 'e', data: round * 10 + i })));
        offsets.push(...news.map((r) => r.offset));
        const [o2, epoch] = await Promise.all([
          oldPublish(round * 10 + 3),
          bus.publish({ channel: 'mixed', event: 'e', data: round * 10 + 4 }),
        ]).then(([old, n]) => [old[0], old[1] === n.epoch] as const);
        expect(epoch).toBe(true);
        offsets.push(o2);
      }
      const h = await bus.history('mixed', { limit: 100 });
      const all = h.messages.map((m) => m.offset);
      expect(all).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
      expect(offsets.every((o) => all.includes(o))).toBe(true);
      await expect.poll(() => got.length).toBe(15);
      expect(got.map((m) => m.offset)).toEqual(all);
      // The history entries and live frames of both kinds of node are the same shape.
      for (const m of got)
        expect(m.frame).toMatch(
          new RegExp(`^\\{"type":"message","channel":"mixed","event":"e","data":\\d+,"offset":${m.offset},"ts":\\d+\\}$`),
        );
    } finally {
      oldNode.disconnect();
    }
  });

  it('publishes after Redis lost its script cache (EVALSHA answered NOSCRIPT: the script is sent again)', async () => {
    const bus = await node();
    expect((await bus.publish({ channel: 'flushed', event: 'e', data: 1 })).offset).toBe(1);
    await admin.script('FLUSH');
    expect((await bus.publish({ channel: 'flushed', event: 'e', data: 2 })).offset).toBe(2);
    expect((await bus.history('flushed', {})).messages.map((m) => m.offset)).toEqual([1, 2]);
  });

  it('sends the publishes made just before close, and refuses those after it', async () => {
    const bus = await node();
    const p = bus.publish({ channel: 'closing', event: 'e', data: 1 });
    await bus.close();
    await expect(p).resolves.toMatchObject({ offset: 1 });
    await expect(bus.publish({ channel: 'closing', event: 'e', data: 2 })).rejects.toMatchObject({ code: 'unavailable' });
  });
});
