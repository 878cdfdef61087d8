import { describe, expect, it } from 'vitest';
import { decodeEnvelope, envelopeTail, ephemeralEnvelope, hashSlot, RedisKeys } from './redis-keys.js';

describe('RedisKeys', () => {
  const keys = new RedisKeys('river');

  it('hash-tags every key of a channel with the channel, so one script touches one slot', () => {
    expect(keys.meta('dogs')).toBe('river:{dogs}:meta');
    expect(keys.stream('dogs')).toBe('river:{dogs}:stream');
    expect(keys.live('dogs')).toBe('river:{dogs}:live');
    expect(keys.idempotency('dogs', 'k{1}')).toBe('river:{dogs}:idem:k{1}');
    const ch = 'presence-room:42;a=b@c,d.e';
    const all = [keys.meta(ch), keys.stream(ch), keys.live(ch), keys.subs(ch), keys.idempotency(ch, '{x}'), ...keys.presence(ch)];
    expect(new Set(all.map(hashSlot))).toEqual(new Set([hashSlot(ch)]));
    expect(hashSlot(keys.meta('dogs'))).not.toBe(hashSlot(keys.meta('cats')));
  });

  it('computes Redis Cluster slots (CRC16 XMODEM mod 16384, hash tags honoured)', () => {
    expect(hashSlot('123456789')).toBe(0x31c3 % 16384);
    expect(hashSlot('foo')).toBe(12182);
    expect(hashSlot('{user1000}.following')).toBe(hashSlot('{user1000}.followers'));
    // Redis's own examples: the tag is between the first { and the next }.
    expect(hashSlot('foo{{bar}}zap')).toBe(hashSlot('{bar'));
    expect(hashSlot('foo{bar}{zap}')).toBe(hashSlot('bar'));
  });

  it('maps a live pub/sub name back to its channel and nothing else', () => {
    expect(keys.channelOfLive(keys.live('a:b}c'))).toBe('a:b}c');
    expect(keys.channelOfLive('river:{control}')).toBeUndefined();
    expect(keys.channelOfLive('other:{dogs}:live')).toBeUndefined();
  });

  it('refuses a prefix that could break the hash tag', () => {
    expect(() => new RedisKeys('a{b}')).toThrow(/prefix/);
    expect(() => new RedisKeys('')).toThrow(/prefix/);
  });
});

describe('envelope', () => {
  const frame = '{"type":"message","channel":"c","event":"e","data":{"s":"a:b"},"offset":7,"ts":5}';

  it('round-trips a message envelope as the script builds it, any excluded connection id', () => {
    for (const exclude of [undefined, 'conn-1', 'a:b:c', 'ünï:cødé', '12:']) {
      const payload = `m7:AbC-_x:${envelopeTail(5, exclude)}${frame}`;
      const env = decodeEnvelope(payload)!;
      expect(env).toEqual({ offset: 7, epoch: 'AbC-_x', ts: 5, frame, ...(exclude ? { excludeConnectionId: exclude } : {}) });
    }
  });

  it('round-trips an ephemeral envelope and rejects garbage', () => {
    expect(decodeEnvelope(ephemeralEnvelope(9, '{"type":"presence"}'))).toEqual({ ts: 9, frame: '{"type":"presence"}' });
    for (const bad of ['', 'x', 'm1:e', 'm1:e:2:99:short', 'bnope', 'mX:e:1:0:{}']) expect(decodeEnvelope(bad)).toBeUndefined();
  });
});
