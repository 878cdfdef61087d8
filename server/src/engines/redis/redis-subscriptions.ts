/**
 * The Redis bus's pub/sub subscriptions: which channels the node wants (reference counting is the
 * hub's) and which Redis has confirmed. Changes of one event-loop tick go out in one flush (one
 * SUBSCRIBE and one UNSUBSCRIBE, chunked by 1,000; in cluster mode one SSUBSCRIBE per channel,
 * routed to its shard); flushes never overlap. After a reconnect everything wanted is subscribed
 * again in one go.
 *
 * Cost: a flush is O(channels changed since the last one), whatever the number of subscribed
 * channels: `add`/`delete` record the change in `toAdd`/`toDrop`, and a flush sends only those.
 */
import { BusUnavailableError } from '../bus.js';
import { asUnavailable, type RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

const CHUNK = 1000;

export class RedisSubscriptions {
  private readonly wanted = new Set<string>();
  private readonly applied = new Set<string>();
  /** Wanted, not applied, not yet sent. */
  private readonly toAdd = new Set<string>();
  /** Applied, no longer wanted, not yet sent. */
  private readonly toDrop = new Set<string>();
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush: Promise<void> | undefined;

  constructor(
    private readonly sub: RedisClient,
    private readonly cluster: boolean,
    private readonly keys: RedisKeys,
    private readonly canFlush: () => boolean,
  ) {}

  /** Records the wish (kept across outages); `flush` sends it. */
  add(channel: string): void {
    this.wanted.add(channel);
    this.toDrop.delete(channel);
    if (!this.applied.has(channel)) this.toAdd.add(channel);
  }

  delete(channel: string): void {
    this.wanted.delete(channel);
    this.toAdd.delete(channel);
    if (this.applied.has(channel)) this.toDrop.add(channel);
  }

  /** Wanted: messages of it are for this node (also while a subscribe is in flight). */
  wants(channel: string): boolean {
    return this.wanted.has(channel) || this.applied.has(channel);
  }

  /** Confirmed by Redis on the current connection. */
  isApplied(channel: string): boolean {
    return this.applied.has(channel);
  }

  wantedChannels(): string[] {
    return [...this.wanted];
  }

  appliedChannels(): string[] {
    return [...this.applied];
  }

  /** The connection dropped, and the server forgot our subscriptions with it. */
  lost(): void {
    this.applied.clear();
    this.toDrop.clear();
    this.toAdd.clear();
    for (const c of this.wanted) this.toAdd.add(c);
  }

  /**
   * Some subscriptions were lost (one shard's subscriber connection in cluster mode): they count
   * as not applied until `resubscribeSome` confirms them again. Returns those still wanted.
   */
  lostSome(channels: Iterable<string>): string[] {
    const out: string[] = [];
    for (const c of channels) {
      this.applied.delete(c);
      this.toDrop.delete(c);
      if (this.wanted.has(c)) {
        out.push(c);
        this.toAdd.add(c);
      }
    }
    return out;
  }

  /** Subscribes every wanted channel plus `extra` names on a fresh connection; returns the channels. */
  async resubscribe(extra: string[]): Promise<string[]> {
    const channels = [...this.wanted];
    this.applied.clear();
    this.toDrop.clear();
    await this.subscribeNames([...channels.map((c) => this.keys.live(c)), ...extra]);
    for (const c of channels) {
      this.applied.add(c);
      this.toAdd.delete(c);
      if (!this.wanted.has(c)) this.toDrop.add(c);
    }
    return channels;
  }

  /** Subscribes these channels again (after `lostSome`); returns those confirmed and still wanted. */
  async resubscribeSome(channels: string[]): Promise<string[]> {
    const still = channels.filter((c) => this.wanted.has(c));
    await this.subscribeNames(still.map((c) => this.keys.live(c)));
    const done: string[] = [];
    for (const c of still) {
      this.toAdd.delete(c);
      this.applied.add(c);
      // Dropped meanwhile: the next flush unsubscribes it.
      if (!this.wanted.has(c)) this.toDrop.add(c);
      else done.push(c);
    }
    return done;
  }

  /** Whether a flush would change anything. */
  dirty(): boolean {
    return this.toAdd.size > 0 || this.toDrop.size > 0;
  }

  /** Every change of one tick goes out in one flush; resolves when that flush is done. */
  flush(): Promise<void> {
    if (this.nextFlush === undefined) {
      const run = this.flushing.then(
        () =>
          new Promise<void>((resolve, reject) => {
            setImmediate(() => {
              this.nextFlush = undefined;
              this.apply().then(resolve, reject);
            });
          }),
      );
      this.nextFlush = run;
      this.flushing = run.catch(() => undefined);
    }
    return this.nextFlush;
  }

  private async apply(): Promise<void> {
    if (!this.canFlush()) throw new BusUnavailableError('Redis is unreachable');
    const add = [...this.toAdd];
    const drop = [...this.toDrop];
    this.toAdd.clear();
    this.toDrop.clear();
    try {
      await Promise.all([
        this.subscribeNames(add.map((c) => this.keys.live(c))),
        this.unsubscribeNames(drop.map((c) => this.keys.live(c))),
      ]);
    } catch (err) {
      // Not sent (or not confirmed): the next flush (or the reconnect) tries again, for what is still wanted.
      for (const c of add) if (this.wanted.has(c) && !this.applied.has(c)) this.toAdd.add(c);
      for (const c of drop) if (!this.wanted.has(c) && this.applied.has(c)) this.toDrop.add(c);
      throw asUnavailable(err);
    }
    for (const c of add) {
      this.applied.add(c);
      // Unsubscribed while the SUBSCRIBE was in flight: drop it on the next flush.
      if (!this.wanted.has(c)) this.toDrop.add(c);
    }
    for (const c of drop) {
      this.applied.delete(c);
      // Subscribed again while the UNSUBSCRIBE was in flight: add it on the next flush.
      if (this.wanted.has(c)) this.toAdd.add(c);
    }
  }

  private async subscribeNames(names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (this.cluster) {
      await Promise.all(names.map((n) => this.sub.ssubscribe(n)));
      return;
    }
    for (let i = 0; i < names.length; i += CHUNK) await this.sub.subscribe(...names.slice(i, i + CHUNK));
  }

  private async unsubscribeNames(names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (this.cluster) {
      await Promise.all(names.map((n) => this.sub.sunsubscribe(n)));
      return;
    }
    for (let i = 0; i < names.length; i += CHUNK) await this.sub.unsubscribe(...names.slice(i, i + CHUNK));
  }
}
