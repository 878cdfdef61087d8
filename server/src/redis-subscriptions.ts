/**
 * The Redis bus's pub/sub subscriptions: which channels the node wants (reference counting is the
 * hub's) and which Redis has confirmed. Changes of one event-loop tick go out in one flush (one
 * SUBSCRIBE and one UNSUBSCRIBE, chunked by 1,000; in cluster mode one SSUBSCRIBE per channel,
 * routed to its shard); flushes never overlap. After a reconnect everything wanted is subscribed
 * again in one go.
 */
import { BusUnavailableError } from './bus.js';
import { asUnavailable, type RedisClient } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

const CHUNK = 1000;

export class RedisSubscriptions {
  private readonly wanted = new Set<string>();
  private readonly applied = new Set<string>();
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
  }

  delete(channel: string): void {
    this.wanted.delete(channel);
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
  }

  /** Subscribes every wanted channel plus `extra` names on a fresh connection; returns the channels. */
  async resubscribe(extra: string[]): Promise<string[]> {
    const channels = [...this.wanted];
    this.applied.clear();
    await this.subscribeNames([...channels.map((c) => this.keys.live(c)), ...extra]);
    for (const c of channels) this.applied.add(c);
    return channels;
  }

  /** Whether a flush would change anything. */
  dirty(): boolean {
    return this.wanted.size !== this.applied.size || [...this.wanted].some((c) => !this.applied.has(c));
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
    const add = [...this.wanted].filter((c) => !this.applied.has(c));
    const drop = [...this.applied].filter((c) => !this.wanted.has(c));
    try {
      await Promise.all([this.subscribeNames(add.map((c) => this.keys.live(c))), this.unsubscribeNames(drop.map((c) => this.keys.live(c)))]);
    } catch (err) {
      throw asUnavailable(err);
    }
    for (const c of add) this.applied.add(c);
    for (const c of drop) this.applied.delete(c);
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
