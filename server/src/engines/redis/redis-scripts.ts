/**
 * The Lua scripts of the Redis engines. Each one touches the keys of one channel only (one hash
 * slot, see `redis-keys.ts`), so it is atomic on a single Redis and valid in Redis Cluster.
 * Registered with ioredis `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { PRESENCE_AFTER_ACTION, PRESENCE_AFTER_USER, PRESENCE_TAIL } from '../../core/frames.js';

/** A Lua string literal of `s` (the frame pieces the scripts splice come from frames.ts). */
const lua = (s: string): string => `'${s.replace(/[\\']/g, '\\$&')}'`;

/**
 * A new epoch candidate, unique per call (a random per-process base and a counter): the scripts
 * use it only when a channel's state is gone, and it must never repeat an earlier epoch.
 * Base64url and base 36: no `:` (the envelope's delimiter).
 */
const EPOCH_BASE = randomBytes(6).toString('base64url');
let epochSeq = 0;
export function newEpoch(): string {
  epochSeq = (epochSeq + 1) % Number.MAX_SAFE_INTEGER;
  return `${EPOCH_BASE}${epochSeq.toString(36)}`;
}

/**
 * Publish a batch: the publishes of one event-loop turn (one channel in cluster mode, any channels
 * on one Redis), in call order, each with its own idempotency check, offset, history entry and live
 * PUBLISH, exactly as if each had been its own call (same meta hash, stream entries and envelope),
 * but with one script call, one read of each channel's epoch and offset, one write of the offset
 * and one EXPIRE per key for the whole batch.
 * KEYS: per channel c = 1…C (in order of first appearance) its meta (KEYS[2c-1]) and stream
 *       (KEYS[2c]), then the idempotency keys of the messages that have one.
 * ARGV: 1 publish command (PUBLISH | SPUBLISH), 2 historySize, 3 historyTtlSeconds,
 *       4 idempotency window ms, 5 C, 5+c the epoch to use if channel c has none, then 5 per
 *       message: channel index (negative: the channel's last message in the batch, which trims the
 *       stream), idempotency KEYS index (0: none), frame head (up to `"offset":`), frame tail
 *       (`,"ts":…}`), envelope tail (`<ts>:<len>:<excludeConnectionId>`; the stream keeps the ts as
 *       `t` and a non-empty excludeConnectionId as `x`, so a replay skips that connection too).
 * Returns per message offset, epoch, duplicate (0|1); a message that failed returns -1 and the
 * error text instead (the others are unaffected). The live channel is the meta key with `live`
 * for `meta` (same hash tag, so the same slot).
 */
export const PUBLISH_SCRIPT = `
local cmd = ARGV[1]
local size = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local nc = tonumber(ARGV[5])
local epochs, offsets, lives, trimmed = {}, {}, {}, {}
local out = {}
local function one(a)
  local c = tonumber(ARGV[a])
  local last = c < 0
  if last then c = -c end
  local k = tonumber(ARGV[a + 1])
  if k > 0 then
    local seen = redis.call('GET', KEYS[k])
    if seen then
      local sep = string.find(seen, ':', 1, true)
      return tonumber(string.sub(seen, 1, sep - 1)), string.sub(seen, sep + 1), 1
    end
  end
  local meta = KEYS[2 * c - 1]
  local epoch = epochs[c]
  if not epoch then
    local m = redis.call('HMGET', meta, 'e', 'o')
    epoch = m[1]
    if not epoch then
      epoch = ARGV[5 + c]
      redis.call('DEL', KEYS[2 * c])
      redis.call('HSET', meta, 'e', epoch)
      offsets[c] = 0
    else
      offsets[c] = tonumber(m[2] or '0')
    end
    epochs[c] = epoch
    lives[c] = string.sub(meta, 1, -5) .. 'live'
  end
  local offset = offsets[c] + 1
  local env = ARGV[a + 4]
  local frame = ARGV[a + 2] .. offset .. ARGV[a + 3]
  if size > 0 then
    local i1 = string.find(env, ':', 1, true)
    local i2 = string.find(env, ':', i1 + 1, true)
    local ts = string.sub(env, 1, i1 - 1)
    if last then
      if i2 < #env then
        redis.call('XADD', KEYS[2 * c], 'MAXLEN', size, offset .. '-0', 'f', frame, 't', ts, 'x', string.sub(env, i2 + 1))
      else
        redis.call('XADD', KEYS[2 * c], 'MAXLEN', size, offset .. '-0', 'f', frame, 't', ts)
      end
      trimmed[c] = true
    else
      if i2 < #env then
        redis.call('XADD', KEYS[2 * c], offset .. '-0', 'f', frame, 't', ts, 'x', string.sub(env, i2 + 1))
      else
        redis.call('XADD', KEYS[2 * c], offset .. '-0', 'f', frame, 't', ts)
      end
      trimmed[c] = false
    end
  end
  offsets[c] = offset
  if k > 0 then
    redis.call('SET', KEYS[k], offset .. ':' .. epoch, 'PX', window)
  end
  redis.call(cmd, lives[c], 'm' .. offset .. ':' .. epoch .. ':' .. env .. frame)
  return offset, epoch, 0
end
for a = 6 + nc, #ARGV, 5 do
  local ok, o, e, d = pcall(one, a)
  local n = #out
  if ok then
    out[n + 1] = o
    out[n + 2] = e
    out[n + 3] = d
  else
    out[n + 1] = -1
    out[n + 2] = type(o) == 'table' and (o.err or 'ERR') or tostring(o)
    out[n + 3] = 0
  end
end
for c, offset in pairs(offsets) do
  local meta = KEYS[2 * c - 1]
  redis.call('HSET', meta, 'o', offset)
  redis.call('EXPIRE', meta, ttl)
  if size > 0 then
    if trimmed[c] == false then
      redis.call('XTRIM', KEYS[2 * c], 'MAXLEN', size)
    end
    redis.call('EXPIRE', KEYS[2 * c], ttl)
  end
end
return out
`;

/**
 * Position and history in one atomic read; creates the epoch of a fresh channel (with the TTL).
 * KEYS: meta, stream. ARGV: 1 since, 2 limit (0: position only), 3 epoch to use if none, 4 ttl s,
 * 5 publish command, 6 live channel, 7 sync marker ('' for none). The marker is published on the
 * live channel after the read: a subscribed node that receives it has received every message the
 * read saw (pub/sub and the script reply travel on different connections).
 * Returns {epoch, offset, oldest offset held (offset+1 when none), entries}.
 */
const HISTORY = `
local epoch = redis.call('HGET', KEYS[1], 'e')
local offset = 0
if not epoch then
  epoch = ARGV[3]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
else
  offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
end
local limit = tonumber(ARGV[2])
local oldest = offset + 1
local entries = {}
if limit > 0 then
  local first = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
  if #first > 0 then
    oldest = tonumber(string.match(first[1][1], '^(%d+)'))
  end
  local since = tonumber(ARGV[1])
  if since < offset then
    entries = redis.call('XRANGE', KEYS[2], (since + 1) .. '-0', '+', 'COUNT', limit)
  end
end
if ARGV[7] ~= '' then
  redis.call(ARGV[5], ARGV[6], ARGV[7])
end
return {epoch, offset, oldest, entries}
`;

/**
 * The presence scripts announce the join/leave they decide themselves, in the same atomic step:
 * `announce` publishes the `presence` frame as an ephemeral envelope on the channel's live pub/sub
 * channel. So the event cannot be lost between the change and its broadcast, and the events of one
 * channel reach every node in the order of the changes. The common ARGV of the announcing scripts:
 * publish command (PUBLISH | SPUBLISH, '' not to announce), live channel, envelope head (`b<ts>:`),
 * frame head (`presenceHead`, frames.ts, which also gives the pieces after the action and the user:
 * the member is `{"userId":<cjson string>,"info":<info JSON as stored>}`).
 */
const ANNOUNCE = `
local function announce(a, action, user, info)
  if ARGV[a] == '' then return end
  redis.call(ARGV[a], ARGV[a + 1], ARGV[a + 2] .. ARGV[a + 3] .. action .. ${lua(PRESENCE_AFTER_ACTION)} .. cjson.encode(user) .. ${lua(PRESENCE_AFTER_USER)} .. info .. ${lua(PRESENCE_TAIL)})
end
`;

/**
 * Presence add. KEYS: pc, pd, pu, pi. ARGV: 1 connectionId, 2 userId, 3 info JSON, 4 deadline,
 * 5-8 announce. Returns 1 when the user joined (and announces the join).
 */
const PRESENCE_ADD = `${ANNOUNCE}
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if redis.call('HGET', KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
if redis.call('HINCRBY', KEYS[3], ARGV[2], 1) == 1 then
  announce(5, 'join', ARGV[2], ARGV[3])
  return 1
end
return 0
`;

/**
 * Presence remove. KEYS: pc, pd, pu, pi. ARGV: 1 connectionId, 2-5 announce. Returns 1 when the
 * user left (and announces the leave, with the user's stored info).
 */
const PRESENCE_REMOVE = `${ANNOUNCE}
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
  local info = redis.call('HGET', KEYS[4], user) or '{}'
  redis.call('HDEL', KEYS[3], user)
  redis.call('HDEL', KEYS[4], user)
  announce(2, 'leave', user, info)
  return 1
end
return 0
`;

/**
 * Presence touch: refreshes the deadlines of entries that exist and have not expired yet (an
 * expired entry is the sweep's, and is not revived). KEYS: pd. ARGV: now, deadline, connectionIds….
 * Returns the connection ids refreshed (the caller adds the others again).
 */
const PRESENCE_TOUCH = `
local now = tonumber(ARGV[1])
local done = {}
for i = 3, #ARGV do
  local d = redis.call('HGET', KEYS[1], ARGV[i])
  if d and tonumber(d) >= now then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[2])
    done[#done + 1] = ARGV[i]
  end
end
return done
`;

/**
 * Presence expiry of candidate entries. KEYS: pc, pd, pu, pi. ARGV: 1 now, 2-5 announce,
 * 6… connectionIds. Removes those past their deadline and announces each user's leave whose last
 * entry went. Returns {settled ids (removed or already gone: drop them from the deadlines zset),
 * flat list of userId, info JSON for users whose last entry went}.
 */
const PRESENCE_EXPIRE = `${ANNOUNCE}
local now = tonumber(ARGV[1])
local settled = {}
local left = {}
for i = 6, #ARGV do
  local cid = ARGV[i]
  local d = redis.call('HGET', KEYS[2], cid)
  local user = redis.call('HGET', KEYS[1], cid)
  if not d or not user then
    redis.call('HDEL', KEYS[2], cid)
    redis.call('HDEL', KEYS[1], cid)
    settled[#settled + 1] = cid
  elseif tonumber(d) < now then
    redis.call('HDEL', KEYS[1], cid)
    redis.call('HDEL', KEYS[2], cid)
    settled[#settled + 1] = cid
    if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
      local info = redis.call('HGET', KEYS[4], user) or '{}'
      left[#left + 1] = user
      left[#left + 1] = info
      redis.call('HDEL', KEYS[3], user)
      redis.call('HDEL', KEYS[4], user)
      announce(2, 'leave', user, info)
    end
  end
end
return {settled, left}
`;

type Arg = string | number;

/** The scripts as methods of a client on which `defineScripts` was called. */
export interface ScriptClient {
  riverHistory(meta: string, stream: string, ...argv: Arg[]): Promise<[string, number, number, [string, string[]][]]>;
  riverPresenceAdd(pc: string, pd: string, pu: string, pi: string, ...argv: Arg[]): Promise<number>;
  riverPresenceRemove(pc: string, pd: string, pu: string, pi: string, ...argv: Arg[]): Promise<number>;
  riverPresenceTouch(pd: string, ...argv: Arg[]): Promise<string[]>;
  riverPresenceExpire(pc: string, pd: string, pu: string, pi: string, ...argv: Arg[]): Promise<[string[], string[]]>;
}

const PUBLISH_SHA = createHash('sha1').update(PUBLISH_SCRIPT).digest('hex');

/**
 * Runs the publish script (EVALSHA, EVAL when Redis does not have it: nothing ran then). Not a
 * `defineCommand`: its number of keys varies, and ioredis routes a defined command with a varying
 * number of keys by its first argument (the count) in Cluster auto-pipelining, which sends it to
 * the wrong shard's pipeline. EVALSHA is routed by its first key.
 */
export async function runPublishScript(client: Redis | Cluster, numberOfKeys: number, keysAndArgv: Arg[]): Promise<(number | string)[]> {
  try {
    return (await client.evalsha(PUBLISH_SHA, numberOfKeys, ...keysAndArgv)) as (number | string)[];
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
    return (await client.eval(PUBLISH_SCRIPT, numberOfKeys, ...keysAndArgv)) as (number | string)[];
  }
}

export function defineScripts(client: Redis | Cluster): ScriptClient {
  client.defineCommand('riverHistory', { numberOfKeys: 2, lua: HISTORY });
  client.defineCommand('riverPresenceAdd', { numberOfKeys: 4, lua: PRESENCE_ADD });
  client.defineCommand('riverPresenceRemove', { numberOfKeys: 4, lua: PRESENCE_REMOVE });
  client.defineCommand('riverPresenceTouch', { numberOfKeys: 1, lua: PRESENCE_TOUCH });
  client.defineCommand('riverPresenceExpire', { numberOfKeys: 4, lua: PRESENCE_EXPIRE });
  return client as unknown as ScriptClient;
}
