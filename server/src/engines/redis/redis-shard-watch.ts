/**
 * Redis Cluster mode: noticing that one shard's sharded pub/sub subscriber connection dropped.
 *
 * ioredis keeps one subscriber connection per master (`shardedSubscribers: true`) and replaces a
 * dropped one by itself (a killed client, a shard restart, a failover), re-sending its SSUBSCRIBEs,
 * while the Cluster object stays `ready` and emits no `close`. Messages published on that shard
 * between the drop and the new SSUBSCRIBE never reach the node. So the bus watches the Cluster's
 * `-node` events (emitted for a dropped subscriber connection with its node key, and for a dropped
 * command connection), takes the channels whose slot that node served, marks them unconfirmed,
 * and once ioredis reports its subscribers ready again (or after a short wait), subscribes them
 * again itself (so the subscription is known to be in place) and hands them to `recover`, which
 * has the hub catch them up from history. Failures retry with backoff until they succeed or the
 * channels are no longer wanted.
 */
import type { Cluster } from 'ioredis';

/** The longest wait for ioredis's `subscribersReady` before trying anyway. */
const READY_WAIT_MS = 1000;

export class ShardWatch {
  private readonly lost = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private attempt = 0;
  private closed = false;

  /**
   * @param channelsOn the channels this node is subscribed to whose slot `nodeKey` (`host:port`) serves
   * @param resubscribe subscribes them again; resolves those confirmed and still wanted
   * @param recover called with the channels confirmed again (they may have missed messages)
   */
  constructor(
    cluster: Cluster,
    private readonly channelsOn: (nodeKey: string) => string[],
    private readonly resubscribe: (channels: string[]) => Promise<string[]>,
    private readonly recover: (channels: string[]) => void,
    private readonly canRun: () => boolean,
    private readonly onError: (err: unknown) => void,
  ) {
    cluster.on('-node', (redis: unknown, nodeKey: unknown) => {
      const key = typeof nodeKey === 'string' ? nodeKey : nodeKeyOf(redis);
      if (key !== undefined) this.shardLost(key);
    });
    cluster.on('subscribersReady', () => {
      if (this.lost.size > 0) this.schedule(0);
    });
  }

  /** Channels waiting to be confirmed again. */
  get pending(): number {
    return this.lost.size;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private shardLost(nodeKey: string): void {
    if (this.closed) return;
    const channels = this.channelsOn(nodeKey);
    if (channels.length === 0) return;
    for (const c of channels) this.lost.add(c);
    this.attempt = 0;
    this.schedule(READY_WAIT_MS);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.running || this.closed || this.lost.size === 0) return;
    if (!this.canRun()) return this.schedule(500); // the whole bus is down: its own recovery resyncs everything
    this.running = true;
    const channels = [...this.lost];
    this.lost.clear();
    try {
      const done = await this.resubscribe(channels);
      if (done.length > 0) this.recover(done);
      this.attempt = 0;
    } catch (err) {
      this.onError(err);
      for (const c of channels) this.lost.add(c);
      this.schedule(Math.min(2000, 100 * 2 ** this.attempt++));
    } finally {
      this.running = false;
    }
    if (this.lost.size > 0 && this.timer === undefined) this.schedule(0);
  }
}

function nodeKeyOf(redis: unknown): string | undefined {
  const o = (redis as { options?: { host?: unknown; port?: unknown } } | null)?.options;
  return typeof o?.host === 'string' && typeof o.port === 'number' ? `${o.host}:${o.port}` : undefined;
}
