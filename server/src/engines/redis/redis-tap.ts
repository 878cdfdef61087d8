/**
 * The Redis bus's tap (`Bus.setTap`, core/tap.ts): while a handler is set, the node's subscriber
 * connection pattern-subscribes to every channel's live feed (`PSUBSCRIBE <prefix>:{*}:live`) and
 * hands each envelope to it; when the handler is cleared it PUNSUBSCRIBEs. The cost while tapping:
 * this node receives every publish of the cluster once more (one envelope decode each); while not
 * tapping, nothing (no pattern subscription, no listener work). Cluster mode: sharded pub/sub has
 * no patterns, so `set` rejects with `TapUnsupportedError` (the hub then taps the channels it serves).
 */
import type { BusMessage, TapHandler } from '../bus.js';
import { asUnavailable, type RedisClient } from './redis-connection.js';
import { decodeEnvelope, messageOf, type RedisKeys } from './redis-keys.js';

/** The Redis engine in cluster mode cannot tap the whole cluster (sharded pub/sub has no patterns). */
export class TapUnsupportedError extends Error {
  readonly code = 'tap_unsupported';
  constructor() {
    super('a cluster-wide tap needs pattern pub/sub, which Redis Cluster (sharded pub/sub) does not have');
    this.name = 'TapUnsupportedError';
  }
}

export class RedisTap {
  private handler: TapHandler | null = null;

  constructor(
    private readonly sub: RedisClient,
    private readonly keys: RedisKeys,
    private readonly cluster: boolean,
    private readonly onError: (err: unknown) => void,
  ) {
    if (!cluster) sub.on('pmessage', (_pattern: string, name: string, payload: string) => this.onMessage(name, payload));
  }

  get active(): boolean {
    return this.handler !== null;
  }

  /** Sets or clears the handler; (un)subscribes the pattern now when `ready`, else at the next `resubscribe`. */
  async set(handler: TapHandler | null, ready: boolean): Promise<void> {
    if (this.cluster) throw new TapUnsupportedError();
    const was = this.handler !== null;
    this.handler = handler;
    if (was === (handler !== null) || !ready) return;
    try {
      if (handler !== null) await this.sub.psubscribe(this.keys.live('*'));
      else await this.sub.punsubscribe(this.keys.live('*'));
    } catch (err) {
      throw asUnavailable(err);
    }
  }

  /** After a reconnect (ioredis does not resubscribe by itself here): the pattern again, if tapping. */
  async resubscribe(): Promise<void> {
    if (this.handler === null) return;
    await this.sub.psubscribe(this.keys.live('*')).catch((err: unknown) => this.onError(err));
  }

  private onMessage(name: string, payload: string): void {
    const tap = this.handler;
    if (tap === null || payload.charCodeAt(0) === 0x73 /* a read's sync marker */) return;
    const channel = this.keys.channelOfLive(name);
    if (channel === undefined) return;
    const env = decodeEnvelope(payload);
    if (env === undefined) return;
    const msg: BusMessage = messageOf(channel, env);
    try {
      tap(msg);
    } catch (err) {
      this.onError(err);
    }
  }
}
