/**
 * Presence in Redis, cluster-wide. Passes `presence.contract.ts`.
 *
 * Per channel (one hash slot, see `redis-keys.ts`): `pc` connection → user, `pd` connection →
 * deadline (ms), `pu` user → number of connections, `pi` user → info JSON. Add, remove and expiry
 * are Lua scripts over those four hashes, so `joined`/`left` are decided atomically cluster-wide,
 * and each script publishes the join/leave it decides on the channel's live pub/sub channel in the
 * same step (`announces`: the node does not broadcast them, so none is lost between the change and
 * its broadcast, and one channel's events reach every node in the order of the changes).
 *
 * Expiry: every entry also sits in a deadlines sorted set (member `<channel> <connectionId>`,
 * score = deadline): one set on a single Redis; in cluster mode `deadlineShards` sets (16) with
 * their own hash tags, the channel's slot choosing one, so the expiry index and its sweep spread
 * over the cluster's shards instead of loading one. It is written before the entry on add and
 * removed after it on remove, so a node dying between the two leaves at worst a stale member,
 * which the sweep drops. Each node runs a sweep every ttl/10 (100 ms … 5 s); a short lock per
 * deadlines set (SET NX PX, refreshed per batch) lets one node sweep a set per period. A sweep
 * takes the members past their deadline in batches of `sweepBatch` and keeps going, yielding to
 * the event loop between batches, until none is left, so any number of a dead node's entries
 * expire within one period. Per channel the expiry script re-checks each deadline (a touch may
 * have raced it) and removes the expired entries; the node whose script removed a user's last
 * entry reports `expired`, so each expiry is reported exactly once, by one node.
 *
 * `touch` refreshes deadlines in one pipelined round trip, never reviving an entry already past
 * its deadline, and resolves the entries it did not find (the owner adds them again). After its
 * connection to Redis comes back, the engine calls `restored` so the owner re-adds its entries at
 * once (Redis may have restarted empty, or expired them during the cut).
 */
import { presenceHead } from '../../core/frames.js';
import { BusUnavailableError } from '../bus.js';
import type { Member, Presence, PresenceEntry, PresenceHandlers, PresenceOptions } from '../presence.js';
import {
  asUnavailable,
  closeClient,
  createRedisClient,
  waitReady,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.js';
import { ephemeralEnvelope, hashSlot, RedisKeys } from './redis-keys.js';
import { defineScripts, type ScriptClient } from './redis-scripts.js';

export interface RedisPresenceOptions extends PresenceOptions, RedisConnectionOptions {
  prefix?: string;
  /** Sweep period. Default ttlMs / 10, between 100 ms and 5 s. */
  sweepIntervalMs?: number;
  /** Entries one batch of a sweep handles; a sweep runs batches until nothing expired is left. Default 2000. */
  sweepBatch?: number;
  /** Deadlines sets (see above). Default 16 in cluster mode, else 1. */
  deadlineShards?: number;
  startTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class RedisPresence implements Presence {
  readonly announces = true;
  readonly keys: RedisKeys;
  private readonly opts: RedisPresenceOptions;
  private readonly client: RedisClient;
  private readonly scripts: ScriptClient;
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private readonly sweepBatch: number;
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** [deadlines key, lock key] per shard. */
  private readonly shards: [string, string][];
  private handlers: PresenceHandlers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;
  private lost = false;

  constructor(opts: RedisPresenceOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${opts.ttlMs}`);
    const shards = opts.deadlineShards ?? (opts.cluster === true ? 16 : 1);
    if (!(Number.isInteger(shards) && shards >= 1 && shards <= 1024))
      throw new RangeError(`deadlineShards must be an integer from 1 to 1024, got ${shards}`);
    this.opts = opts;
    this.keys = new RedisKeys(opts.prefix ?? 'river');
    this.now = opts.now ?? (() => Date.now());
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(5000, Math.max(100, Math.floor(opts.ttlMs / 10)));
    this.sweepBatch = opts.sweepBatch ?? 2000;
    this.publishCommand = opts.cluster === true ? 'SPUBLISH' : 'PUBLISH';
    this.shards = Array.from({ length: shards }, (_, i) => this.keys.presenceDeadlinesShard(i));
    this.client = createRedisClient(opts, 'command');
    this.client.on('error', (err: unknown) => this.opts.onError?.(err));
    this.client.on('close', () => this.onLost());
    this.client.on('end', () => this.onLost());
    this.client.on('ready', () => this.onReady());
    this.scripts = defineScripts(this.client);
  }

  /** Whether its Redis connection is up (part of the node's `/readyz`). */
  get ready(): boolean {
    return !this.closed && this.client.status === 'ready';
  }

  async start(handlers: PresenceHandlers): Promise<void> {
    if (this.closed) throw new BusUnavailableError('presence was closed');
    this.handlers = handlers;
    try {
      await Promise.all([this.client.connect().catch(() => undefined), waitReady(this.client, this.opts.startTimeoutMs ?? 30_000)]);
    } catch (err) {
      await this.close();
      throw asUnavailable(err);
    }
    this.lost = false;
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
      await this.client.zadd(this.deadlinesOf(entry.channel), deadline, `${entry.channel} ${entry.connectionId}`);
      const joined = await this.scripts.riverPresenceAdd(
        ...k,
        entry.connectionId,
        entry.member.userId,
        JSON.stringify(entry.member.info ?? {}),
        deadline,
        ...this.announceArgs(entry.channel),
      );
      return { joined: Number(joined) === 1 };
    });
  }

  async remove(channel: string, connectionId: string, _userId: string): Promise<{ left: boolean }> {
    return this.call(async () => {
      const left = await this.scripts.riverPresenceRemove(...this.keys.presence(channel), connectionId, ...this.announceArgs(channel));
      await this.client.zrem(this.deadlinesOf(channel), `${channel} ${connectionId}`);
      return { left: Number(left) === 1 };
    });
  }

  async members(channel: string): Promise<Member[]> {
    const info = await this.call(() => this.client.hgetall(this.keys.presence(channel)[3]));
    return Object.entries(info).map(([userId, json]) => ({ userId, info: parseInfo(json) }));
  }

  async touch(entries: readonly PresenceEntry[]): Promise<PresenceEntry[]> {
    if (entries.length === 0) return [];
    const now = this.now();
    const deadline = now + this.opts.ttlMs;
    const byChannel = new Map<string, PresenceEntry[]>();
    for (const e of entries) {
      let list = byChannel.get(e.channel);
      if (list === undefined) byChannel.set(e.channel, (list = []));
      list.push(e);
    }
    return this.call(async () => {
      const missing: PresenceEntry[] = [];
      const refreshed = new Map<string, (string | number)[]>();
      // Every call goes out in one auto-pipelined write.
      await Promise.all(
        [...byChannel].map(async ([channel, list]) => {
          const done = new Set(
            await this.scripts.riverPresenceTouch(this.keys.presence(channel)[1], now, deadline, ...list.map((e) => e.connectionId)),
          );
          const key = this.deadlinesOf(channel);
          let args = refreshed.get(key);
          if (args === undefined) refreshed.set(key, (args = []));
          for (const e of list) {
            if (done.has(e.connectionId)) args.push(deadline, `${channel} ${e.connectionId}`);
            else missing.push(e);
          }
        }),
      );
      await Promise.all([...refreshed].filter(([, args]) => args.length > 0).map(([key, args]) => this.client.zadd(key, 'XX', ...args)));
      return missing;
    });
  }

  /** One sweep of every deadlines set this node gets the lock of. Exposed for tests and tools. */
  async sweep(): Promise<void> {
    if (this.closed || this.sweeping || this.client.status !== 'ready') return;
    this.sweeping = true;
    try {
      await Promise.all(this.shards.map(([deadlines, lock]) => this.sweepShard(deadlines, lock)));
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepShard(deadlines: string, lock: string): Promise<void> {
    try {
      const got = await this.client.set(lock, '1', 'PX', this.sweepIntervalMs, 'NX');
      if (got !== 'OK') return;
      for (let batch = 0; !this.closed; batch++) {
        if (batch > 0) {
          await yieldToEventLoop();
          if (this.closed || this.client.status !== 'ready') return;
          await this.client.pexpire(lock, this.sweepIntervalMs);
        }
        const now = this.now();
        const due = await this.client.zrangebyscore(deadlines, '-inf', now - 1, 'LIMIT', 0, this.sweepBatch);
        await this.expire(deadlines, due, now);
        if (due.length < this.sweepBatch) return;
      }
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  /** Runs the expiry script per channel over `due` (deadlines-set members) and reports the leaves. */
  private async expire(deadlines: string, due: string[], now: number): Promise<void> {
    const byChannel = new Map<string, string[]>();
    const stale: string[] = [];
    for (const m of due) {
      const sp = m.indexOf(' ');
      if (sp <= 0) {
        stale.push(m);
        continue;
      }
      const channel = m.slice(0, sp);
      let list = byChannel.get(channel);
      if (list === undefined) byChannel.set(channel, (list = []));
      list.push(m.slice(sp + 1));
    }
    if (stale.length > 0) await this.client.zrem(deadlines, ...stale);
    await Promise.all(
      [...byChannel].map(async ([channel, ids]) => {
        const [settled, left] = await this.scripts.riverPresenceExpire(
          ...this.keys.presence(channel),
          now,
          ...this.announceArgs(channel),
          ...ids,
        );
        if (settled.length > 0) await this.client.zrem(deadlines, ...settled.map((id) => `${channel} ${id}`));
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
  }

  /** The announce arguments of the scripts (see `redis-scripts.ts`). */
  private announceArgs(channel: string): [string, string, string, string] {
    return [this.publishCommand, this.keys.live(channel), ephemeralEnvelope(Date.now(), ''), presenceHead(channel)];
  }

  private deadlinesOf(channel: string): string {
    const n = this.shards.length;
    return this.shards[n === 1 ? 0 : hashSlot(this.keys.presence(channel)[0]) % n]![0];
  }

  private onLost(): void {
    if (this.handlers !== undefined && !this.closed) this.lost = true;
  }

  private onReady(): void {
    if (!this.lost || this.closed) return;
    this.lost = false;
    try {
      this.handlers?.restored?.();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed || this.client.status !== 'ready')
      throw new BusUnavailableError(this.closed ? 'presence was closed' : 'Redis is unreachable');
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
