/**
 * Redis key layout and the live-delivery envelope of the Redis engines (`redis-bus.ts`,
 * `redis-presence.ts`).
 *
 * Every key of one channel carries the channel name as its hash tag, `<prefix>:{<channel>}:<what>`
 * (e.g. `river:{dogs}:meta`), so in Redis Cluster all of a channel's keys, its idempotency keys and
 * its sharded pub/sub channel live in one slot and one script may touch them all. Channel names
 * cannot contain `{` or `}` (docs/protocol.md#5-channels-and-tokens) and neither can the prefix, so the first `{…}` of a
 * key is always the channel.
 *
 * | key | type | holds |
 * |---|---|---|
 * | `P:{c}:meta` | hash | `e` epoch, `o` latest offset (TTL historyTtlSeconds) |
 * | `P:{c}:stream` | stream | history, entry id `<offset>-0`, fields `f` frame, `t` ts, `x` excluded connection id if any (MAXLEN historySize, same TTL) |
 * | `P:{c}:idem:<key>` | string | `<offset>:<epoch>` of the first publish with that key (PX idempotencyWindowMs) |
 * | `P:{c}:live` | pub/sub channel | envelopes (SPUBLISH in cluster mode) |
 * | `P:{c}:subs` | hash | nodeId → local subscriber count |
 * | `P:{c}:pc` `:pd` `:pu` `:pi` | hashes | presence: connection → user, connection → deadline, user → connection count, user → info |
 * | `P:{nodes}` | zset | nodeId → liveness deadline (ms) |
 * | `P:{presence}:deadlines` | zset | `<channel> <connectionId>` → deadline (ms), for the expiry sweep (cluster mode: also `P:{presence.<n>}:deadlines`, n = 1…15, the channel's slot choosing the set) |
 * | `P:{presence}:lock` | string | the sweep lock (one per deadlines set: `P:{presence.<n>}:lock`) |
 * | `P:{control}` / `P:{control}:reply:<node>` | pub/sub channels | control commands and their answers |
 */
import type { BusMessage } from '../bus.js';

export class RedisKeyError extends Error {
  readonly code = 'bad_config';
  constructor(message: string) {
    super(message);
    this.name = 'RedisKeyError';
  }
}

const PREFIX_RE = /^[A-Za-z0-9_\-:.]{1,64}$/;

export class RedisKeys {
  readonly nodes: string;
  readonly control: string;
  readonly presenceDeadlines: string;
  readonly sweepLock: string;
  private readonly head: string;

  constructor(readonly prefix: string) {
    if (!PREFIX_RE.test(prefix)) {
      throw new RedisKeyError(
        `The Redis key prefix must be 1 to 64 characters of letters, digits, _ - : and ., got ${JSON.stringify(prefix)}.`,
      );
    }
    this.head = `${prefix}:{`;
    this.nodes = `${prefix}:{nodes}`;
    this.control = `${prefix}:{control}`;
    this.presenceDeadlines = `${prefix}:{presence}:deadlines`;
    this.sweepLock = `${prefix}:{presence}:lock`;
  }

  meta(channel: string): string {
    return `${this.head}${channel}}:meta`;
  }
  stream(channel: string): string {
    return `${this.head}${channel}}:stream`;
  }
  idempotency(channel: string, key: string): string {
    return `${this.head}${channel}}:idem:${key}`;
  }
  live(channel: string): string {
    return `${this.head}${channel}}:live`;
  }
  subs(channel: string): string {
    return `${this.head}${channel}}:subs`;
  }
  /** Presence hashes of a channel: [connection→user, connection→deadline, user→count, user→info]. */
  presence(channel: string): [string, string, string, string] {
    const base = `${this.head}${channel}}:p`;
    return [`${base}c`, `${base}d`, `${base}u`, `${base}i`];
  }
  /** The deadlines set and sweep lock of presence expiry shard `n` (shard 0: `presenceDeadlines`, `sweepLock`). */
  presenceDeadlinesShard(n: number): [string, string] {
    if (n === 0) return [this.presenceDeadlines, this.sweepLock];
    return [`${this.prefix}:{presence.${n}}:deadlines`, `${this.prefix}:{presence.${n}}:lock`];
  }
  reply(nodeId: string): string {
    return `${this.control}:reply:${nodeId}`;
  }

  /** The River channel of a `live` pub/sub channel name, or undefined for any other name. */
  channelOfLive(name: string): string | undefined {
    if (!name.startsWith(this.head) || !name.endsWith('}:live')) return undefined;
    return name.slice(this.head.length, -6);
  }
}

/**
 * The CRC16 hash slot Redis Cluster assigns to a key (hash tag aware). Used by tests and by the
 * docs' claim that one channel is one slot.
 */
export function hashSlot(key: string): number {
  const s = key.indexOf('{');
  if (s !== -1) {
    const e = key.indexOf('}', s + 1);
    if (e > s + 1) key = key.slice(s + 1, e);
  }
  const bytes = Buffer.from(key, 'utf8');
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

// ---- envelope ----------------------------------------------------------------------------------
//
// What travels on `P:{c}:live` (built by the publish script, parsed once per receiving node):
//   message:   m<offset>:<epoch>:<ts>:<len>:<excludeConnectionId><frame>
//   ephemeral: b<ts>:<frame>
// offset, ts and len are decimal integers and epochs are base64url, so none contains `:`; the
// excluded connection id is length-prefixed (any characters, `len` UTF-16 code units, 0 when
// absent). The frame is the rest of the text, exactly the frame handed to subscribers.

export interface DecodedEnvelope {
  offset?: number;
  epoch?: string;
  ts: number;
  frame: string;
  excludeConnectionId?: string;
}

/** The message an envelope carries on `channel`, with its stream position when it has one (not its exclusion). */
export function messageOf(channel: string, env: DecodedEnvelope): BusMessage {
  const msg: BusMessage = { channel, frame: env.frame, ts: env.ts };
  if (env.offset !== undefined) {
    msg.offset = env.offset;
    msg.epoch = env.epoch!;
  }
  return msg;
}

/** The part of a message envelope the publisher knows (the script prepends `m<offset>:<epoch>:`). */
export function envelopeTail(ts: number, excludeConnectionId: string | undefined): string {
  const x = excludeConnectionId ?? '';
  return `${ts}:${x.length}:${x}`;
}

export function ephemeralEnvelope(ts: number, frame: string): string {
  return `b${ts}:${frame}`;
}

/** Parses an envelope; undefined when it is not one (never throws). */
export function decodeEnvelope(payload: string): DecodedEnvelope | undefined {
  const kind = payload.charCodeAt(0);
  if (kind === 0x62 /* b */) {
    const i = payload.indexOf(':', 1);
    if (i === -1) return undefined;
    const ts = Number(payload.slice(1, i));
    return Number.isFinite(ts) ? { ts, frame: payload.slice(i + 1) } : undefined;
  }
  if (kind !== 0x6d /* m */) return undefined;
  const i1 = payload.indexOf(':', 1);
  const i2 = i1 === -1 ? -1 : payload.indexOf(':', i1 + 1);
  const i3 = i2 === -1 ? -1 : payload.indexOf(':', i2 + 1);
  const i4 = i3 === -1 ? -1 : payload.indexOf(':', i3 + 1);
  if (i4 === -1) return undefined;
  const offset = Number(payload.slice(1, i1));
  const ts = Number(payload.slice(i2 + 1, i3));
  const len = Number(payload.slice(i3 + 1, i4));
  if (!Number.isSafeInteger(offset) || !Number.isFinite(ts) || !Number.isSafeInteger(len) || i4 + 1 + len > payload.length)
    return undefined;
  const env: DecodedEnvelope = { offset, epoch: payload.slice(i1 + 1, i2), ts, frame: payload.slice(i4 + 1 + len) };
  if (len > 0) env.excludeConnectionId = payload.slice(i4 + 1, i4 + 1 + len);
  return env;
}
