/**
 * Cluster-wide subscriber counts for the Redis bus. Each node writes its local count of a channel
 * into `P:{c}:subs` (field nodeId; batched: changes within 100 ms go out together; every nonzero
 * count is rewritten every 30 s with a 120 s TTL) and keeps its liveness deadline in `P:{nodes}`
 * (refreshed every `livenessIntervalMs`, dead after 3 periods). A count sums the fields of live
 * nodes and deletes those of dead ones. A closing node removes its fields and its liveness at once.
 */
import { asUnavailable, type RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

const COUNT_TTL_S = 120;

export class RedisSubscriberCounts {
  private readonly local = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly cmd: RedisClient,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly livenessIntervalMs: number,
    private readonly canWrite: () => boolean,
    private readonly onError: (err: unknown) => void,
  ) {}

  report(channel: string, localCount: number): void {
    if (localCount > 0) this.local.set(channel, localCount);
    else this.local.delete(channel);
    this.dirty.add(channel);
    if (this.timer === undefined && this.canWrite()) {
      this.timer = setTimeout(() => void this.writeDirty(), 100);
      this.timer.unref();
    }
  }

  async count(channel: string): Promise<number> {
    const key = this.keys.subs(channel);
    let counts: Record<string, string>;
    let alive: string[];
    try {
      [counts, alive] = await Promise.all([this.cmd.hgetall(key), this.cmd.zrangebyscore(this.keys.nodes, Date.now(), '+inf')]);
    } catch (err) {
      throw asUnavailable(err);
    }
    const live = new Set(alive);
    let sum = 0;
    const dead: string[] = [];
    for (const [node, n] of Object.entries(counts)) {
      if (live.has(node)) sum += Number(n) || 0;
      else dead.push(node);
    }
    if (dead.length > 0) this.cmd.hdel(key, ...dead).catch(() => undefined);
    return sum;
  }

  /** Refreshes this node's liveness deadline. */
  async heartbeat(): Promise<void> {
    if (!this.canWrite()) return;
    try {
      await this.cmd.zadd(this.keys.nodes, Date.now() + 3 * this.livenessIntervalMs, this.nodeId);
      await this.cmd.zremrangebyscore(this.keys.nodes, '-inf', Date.now() - 60_000);
    } catch (err) {
      this.onError(err);
    }
  }

  /** After a reconnect (Redis may have lost everything): liveness and every count again. */
  async rewriteAll(): Promise<void> {
    await this.heartbeat();
    for (const c of this.local.keys()) this.dirty.add(c);
    await this.writeDirty();
  }

  /** Periodic rewrite of every nonzero count (keeps their TTL). */
  async refresh(): Promise<void> {
    if (this.canWrite()) await this.write([...this.local.keys()]);
  }

  /** Leaves at once rather than when the liveness lapses. */
  async leave(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      await Promise.all([
        this.cmd.zrem(this.keys.nodes, this.nodeId),
        ...[...this.local.keys()].map((c) => this.cmd.hdel(this.keys.subs(c), this.nodeId)),
      ]);
    } catch {
      // Redis gone: the liveness deadline lapses instead.
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async writeDirty(): Promise<void> {
    this.timer = undefined;
    if (!this.canWrite()) return;
    const channels = [...this.dirty];
    this.dirty.clear();
    await this.write(channels);
  }

  private async write(channels: string[]): Promise<void> {
    const ops: Promise<unknown>[] = [];
    for (const c of channels) {
      const key = this.keys.subs(c);
      const n = this.local.get(c);
      if (n === undefined) ops.push(this.cmd.hdel(key, this.nodeId));
      else ops.push(this.cmd.hset(key, this.nodeId, n), this.cmd.expire(key, COUNT_TTL_S));
    }
    try {
      await Promise.all(ops);
    } catch (err) {
      // Written again after the reconnect.
      for (const c of channels) this.dirty.add(c);
      this.onError(err);
    }
  }
}
