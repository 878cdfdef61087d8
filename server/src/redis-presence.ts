/**
 * Presence in Redis, cluster-wide. Passes `presence.contract.ts`.
 *
 * Per channel (one hash slot, see `redis-keys.ts`): `pc` connection → user, `pd` connection →
 * deadline (ms), `pu` user → number of connections, `pi` user → info JSON. Add, remove and expiry
 * are Lua scripts over those four hashes, so `joined`/`left` are decided atomically cluster-wide.
 *
 * Expiry: every entry also sits in one global sorted set `P:{presence}:deadlines` (member
 * `<channel> <connectionId>`, score = deadline). It is written before the entry on add and removed
 * after it on remove, so a node dying between the two leaves at worst a stale member, which the
 * sweep drops. Each node runs a sweep every ttl/10 (100 ms … 5 s); a short lock (SET NX PX) lets
 * one node sweep per period. The sweep reads the members past their deadline and runs the expiry
 * script per channel, which re-checks each deadline (a touch may have raced it) and removes the
 * expired entries; the node whose script removed a user's last entry reports `expired`, so each
 * expiry is reported exactly once, by one node. `touch` refreshes deadlines (never reviving an entry
 * already past its deadline) in one pipelined round trip.
 */
import { BusUnavailableError } from './bus.js';
import type { Member, Presence, PresenceEntry, PresenceOptions } from './presence.js';
import { asUnavailable, closeClient, createRedisClient, waitReady, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { defineScripts, type ScriptClient } from './redis-scripts.js';

export interface RedisPresenceOptions extends PresenceOptions, RedisConnectionOptions {
  prefix?: string;
  /** Sweep period. Default ttlMs / 10, between 100 ms and 5 s. */
  sweepIntervalMs?: number;
  /** Most entries one sweep handles (the next sweep takes the rest). Default 5000. */
  sweepBatch?: number;
  startTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

type Handlers = Parameters<Presence['start']>[0];

export class RedisPresence implements Presence {
  readonly keys: RedisKeys;
  private readonly opts: RedisPresenceOptions;
  private readonly client: RedisClient;
  private readonly scripts: ScriptClient;
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private handlers: Handlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;

  constructor(opts: RedisPresenceOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${opts.ttlMs}`);
    this.opts = opts;
    this.keys = new RedisKeys(opts.prefix ?? 'river');
    this.now = opts.now ?? (() => Date.now());
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(5000, Math.max(100, Math.floor(opts.ttlMs / 10)));
    this.client = createRedisClient(opts, 'command');
    this.client.on('error', (err: unknown) => this.opts.onError?.(err));
    this.scripts = defineScripts(this.client);
  }

  async start(handlers: Handlers): Promise<void> {
    if (this.closed) throw new BusUnavailableError('presence was closed');
    this.handlers = handlers;
    try {
      await Promise.all([this.client.connect().catch(() => undefined), waitReady(this.client, this.opts.startTimeoutMs ?? 30_000)]);
    } catch (err) {
      await this.close();
      throw asUnavailable(err);
    }
    this.timer = setInterval(() => void this.sweep(), this.sweepIntervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await closeClient(this.client);
  }

  async add(entry: PresenceEntry): Promise<{ joined: boolean }> {
    const deadline = this.now() + this.opts.ttlMs;
    const k = this.keys.presence(entry.channel);
    return this.call(async () => {
      // The deadline first: if this node dies before the entry exists, the sweep drops a stale member.
      await this.client.zadd(this.keys.presenceDeadlines, deadline, `${entry.channel} ${entry.connectionId}`);
      const joined = await this.scripts.riverPresenceAdd(...k, entry.connectionId, entry.member.userId, JSON.stringify(entry.member.info ?? {}), deadline);
      return { joined: Number(joined) === 1 };
    });
  }

  async remove(channel: string, connectionId: string, _userId: string): Promise<{ left: boolean }> {
    return this.call(async () => {
      const left = await this.scripts.riverPresenceRemove(...this.keys.presence(channel), connectionId);
      await this.client.zrem(this.keys.presenceDeadlines, `${channel} ${connectionId}`);
      return { left: Number(left) === 1 };
    });
  }

  async members(channel: string): Promise<Member[]> {
    const info = await this.call(() => this.client.hgetall(this.keys.presence(channel)[3]));
    return Object.entries(info).map(([userId, json]) => ({ userId, info: parseInfo(json) }));
  }

  async touch(entries: readonly PresenceEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const now = this.now();
    const deadline = now + this.opts.ttlMs;
    const byChannel = new Map<string, string[]>();
    for (const e of entries) {
      let list = byChannel.get(e.channel);
      if (list === undefined) byChannel.set(e.channel, (list = []));
      list.push(e.connectionId);
    }
    await this.call(async () => {
      // Every call goes out in one auto-pipelined write.
      const touched = await Promise.all(
        [...byChannel].map(async ([channel, ids]) => {
          const done = await this.scripts.riverPresenceTouch(this.keys.presence(channel)[1], now, deadline, ...ids);
          return done.map((id) => `${channel} ${id}`);
        }),
      );
      const members = touched.flat();
      if (members.length > 0) {
        const args: (string | number)[] = [];
        for (const m of members) args.push(deadline, m);
        await this.client.zadd(this.keys.presenceDeadlines, 'XX', ...args);
      }
    });
  }

  /** One sweep, if this node holds the lock for this period. Exposed for tests and tools. */
  async sweep(): Promise<void> {
    if (this.closed || this.sweeping || this.client.status !== 'ready') return;
    this.sweeping = true;
    try {
      const got = await this.client.set(this.keys.sweepLock, '1', 'PX', this.sweepIntervalMs, 'NX');
      if (got !== 'OK') return;
      const now = this.now();
      const due = await this.client.zrangebyscore(this.keys.presenceDeadlines, '-inf', now - 1, 'LIMIT', 0, this.opts.sweepBatch ?? 5000);
      const byChannel = new Map<string, string[]>();
      for (const m of due) {
        const sp = m.indexOf(' ');
        if (sp <= 0) continue;
        const channel = m.slice(0, sp);
        let list = byChannel.get(channel);
        if (list === undefined) byChannel.set(channel, (list = []));
        list.push(m.slice(sp + 1));
      }
      await Promise.all(
        [...byChannel].map(async ([channel, ids]) => {
          const [settled, left] = await this.scripts.riverPresenceExpire(...this.keys.presence(channel), now, ...ids);
          if (settled.length > 0) await this.client.zrem(this.keys.presenceDeadlines, ...settled.map((id) => `${channel} ${id}`));
          for (let i = 0; i + 1 < left.length; i += 2) {
            const member: Member = { userId: left[i]!, info: parseInfo(left[i + 1]!) };
            try {
              this.handlers?.expired(channel, member);
            } catch (err) {
              this.opts.onError?.(err);
            }
          }
        }),
      );
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      this.sweeping = false;
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed || this.client.status !== 'ready') throw new BusUnavailableError(this.closed ? 'presence was closed' : 'Redis is unreachable');
    try {
      return await fn();
    } catch (err) {
      throw asUnavailable(err);
    }
  }
}

function parseInfo(json: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
