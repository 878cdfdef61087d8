/**
 * The Redis bus: many River nodes as one service. Passes `bus.contract.ts`. Key layout and the
 * live envelope: `redis-keys.ts`; scripts: `redis-scripts.ts`; connections: `redis-connection.ts`.
 *
 * - Routing per channel. A node subscribes to `P:{c}:live` only while it has local subscribers
 *   (the hub reference-counts; subscribe/unsubscribe calls of one tick go out as one SUBSCRIBE and
 *   one UNSUBSCRIBE). No wildcard subscription: a node receives only the channels it serves.
 * - Publish is one Lua script step per message (idempotency, epoch, offset, capped history, TTLs,
 *   live PUBLISH), so offsets, history and delivery always agree; the publishes of one event-loop
 *   turn share one script call (`redis-publish.ts`). The frame is serialized once, by the
 *   publishing node; the script inserts the offset and every receiving node hands the frame text on
 *   unchanged.
 * - Cluster mode (`cluster: true`): every channel's keys share one hash slot; live delivery and
 *   control use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7). ioredis replaces a shard's dropped
 *   subscriber connection by itself while the Cluster stays ready; `redis-shard-watch.ts` notices
 *   and resyncs that shard's channels.
 * - Subscriber counts: each node writes its local counts into `P:{c}:subs` (nodeId → count,
 *   batched) and keeps a liveness deadline in `P:{nodes}`; counts of nodes past their deadline are
 *   ignored and cleaned on read.
 * - Control commands go to a node-wide channel; PUBLISH answers how many nodes received it, and
 *   the sender collects that many answers on its reply channel (1 s timeout).
 * - Outage: `ready` turns false as soon as a connection drops, and publish rejects with
 *   `BusUnavailableError` without queueing anything. ioredis reconnects with backoff; the bus then
 *   re-subscribes every channel, calls `handlers.resync(channels)` at once (those channels may have
 *   missed messages; the hub holds their live messages from then on while it reads the gap from
 *   history) and `handlers.status(true)`.
 * - State of channels a node is subscribed to is kept alive (TTL refreshed), as with the memory bus.
 * - Reads after delivery (`redis-reads.ts`). `position`/`history` of a channel this node is
 *   subscribed to resolve only after every message they include has been handed to `onMessage`
 *   (as on the memory bus, whose delivery is synchronous): the read script publishes a marker on
 *   the channel after reading and the read waits for it (1 s bound).
 */
import { randomBytes } from 'node:crypto';
import type { Cluster } from 'ioredis';
import {
  BusUnavailableError,
  type Bus,
  type BusHandlers,
  type BusMessage,
  type BusOptions,
  type ControlCommand,
  type HistoryResult,
  type PublishRequest,
  type PublishResult,
  type QueryCommand,
  type StreamPosition,
  type TapHandler,
} from '../bus.js';
import { messageParts } from '../../core/frames.js';
import {
  asUnavailable,
  closeClient,
  createRedisClient,
  isClientReady,
  waitReady,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.js';
import { RedisControl } from './redis-control.js';
import { RedisSubscriberCounts } from './redis-counts.js';
import { decodeEnvelope, messageOf, envelopeTail, ephemeralEnvelope, hashSlot, RedisKeys } from './redis-keys.js';
import { RedisReads } from './redis-reads.js';
import { RedisSubscriptions } from './redis-subscriptions.js';
import { RedisTap } from './redis-tap.js';
import { ShardWatch } from './redis-shard-watch.js';
import { PublishBatcher } from './redis-publish.js';
import { defineScripts, type ScriptClient } from './redis-scripts.js';

export interface RedisBusOptions extends BusOptions, RedisConnectionOptions {
  /** Key prefix (RIVER_REDIS_PREFIX). Default `river`. */
  prefix?: string;
  /** This node's id in counts and control replies. Default: random. */
  nodeId?: string;
  /** How long `start` waits for Redis. Default 30000. */
  startTimeoutMs?: number;
  /** How long `control` waits for answers. Default 1000. */
  controlTimeoutMs?: number;
  /** Liveness refresh period; a node is dead after 3 periods. Default 5000. */
  livenessIntervalMs?: number;
  /** Called when a handler throws or a background Redis call fails. Default: ignored. */
  onError?: (err: unknown) => void;
}

export class RedisBus implements Bus {
  readonly nodeId: string;
  readonly keys: RedisKeys;
  private readonly opts: RedisBusOptions;
  private readonly cluster: boolean;
  private readonly cmd: RedisClient;
  private readonly sub: RedisClient;
  private readonly scripts: ScriptClient;
  private readonly publisher: PublishBatcher;
  private readonly replyChannel: string;
  private handlers: BusHandlers | undefined;
  private state: 'new' | 'starting' | 'ready' | 'down' | 'closed' = 'new';
  private readonly subs: RedisSubscriptions;
  private readonly counts: RedisSubscriberCounts;
  private readonly controls: RedisControl;
  private readonly shards: ShardWatch | undefined;
  private timers: NodeJS.Timeout[] = [];
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  private readonly reads: RedisReads;
  private readonly tap: RedisTap;

  constructor(opts: RedisBusOptions) {
    if (!(Number.isInteger(opts.historySize) && opts.historySize >= 0)) {
      throw new RangeError(`historySize must be a non-negative integer, got ${opts.historySize}`);
    }
    if (!(Number.isInteger(opts.historyTtlSeconds) && opts.historyTtlSeconds > 0)) {
      throw new RangeError(`historyTtlSeconds must be a positive integer, got ${opts.historyTtlSeconds}`);
    }
    this.opts = opts;
    this.cluster = opts.cluster === true;
    this.keys = new RedisKeys(opts.prefix ?? 'river');
    this.nodeId = opts.nodeId ?? randomBytes(8).toString('hex');
    this.replyChannel = this.keys.reply(this.nodeId);
    this.cmd = createRedisClient(opts, 'command');
    this.sub = this.cluster ? this.cmd : createRedisClient(opts, 'subscriber');
    this.scripts = defineScripts(this.cmd);
    this.publisher = new PublishBatcher({
      client: this.cmd,
      keys: this.keys,
      cluster: this.cluster,
      historySize: opts.historySize,
      historyTtlSeconds: opts.historyTtlSeconds,
      idempotencyWindowMs: opts.idempotencyWindowMs,
      ready: () => this.isReadyNow(),
      unavailable: () => this.unavailableError(),
      asError: asUnavailable,
    });
    const onError = (err: unknown) => this.opts.onError?.(err);
    this.subs = new RedisSubscriptions(this.sub, this.cluster, this.keys, () => this.ready);
    this.counts = new RedisSubscriberCounts(this.cmd, this.keys, this.nodeId, opts.livenessIntervalMs ?? 5000, () => this.ready, onError);
    this.reads = new RedisReads(this.scripts, this.keys, this.nodeId, this.cluster, opts.historyTtlSeconds, (c) => this.subs.isApplied(c));
    this.controls = new RedisControl(
      this.keys.control,
      this.replyChannel,
      (n, p) => this.pub(n, p),
      opts.controlTimeoutMs ?? 1000,
      onError,
    );
    for (const c of new Set([this.cmd, this.sub])) {
      c.on('error', (err: unknown) => this.opts.onError?.(err));
      c.on('close', () => this.onConnectionLost());
      c.on('end', () => this.onConnectionLost());
      c.on('ready', () => void this.onConnectionReady());
    }
    this.sub.on(this.cluster ? 'smessage' : 'message', (name: string, payload: string) => this.onPubSub(name, payload));
    this.tap = new RedisTap(this.sub, this.keys, this.cluster, onError);
    if (this.cluster) {
      const cluster = this.cmd as Cluster;
      this.shards = new ShardWatch(
        cluster,
        (nodeKey) =>
          this.subs.lostSome(this.subs.appliedChannels().filter((c) => cluster.slots[hashSlot(this.keys.live(c))]?.[0] === nodeKey)),
        (channels) => this.subs.resubscribeSome(channels),
        (channels) => this.safely(() => this.handlers?.resync?.(channels)),
        () => this.ready,
        onError,
      );
    }
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Connects; resolves when Redis is reachable and the node's control channels are subscribed. */
  start(handlers: BusHandlers): Promise<void> {
    return this.connect(handlers);
  }

  /** Connects without handlers: only the reply channel of its own control commands is subscribed. */
  startPublishOnly(): Promise<void> {
    return this.connect(undefined);
  }

  private async connect(handlers: BusHandlers | undefined): Promise<void> {
    if (this.state === 'closed') throw new BusUnavailableError('the bus was closed');
    if (this.state !== 'new') return;
    this.handlers = handlers;
    this.state = 'starting';
    const timeout = this.opts.startTimeoutMs ?? 30_000;
    try {
      await Promise.all(
        [...new Set([this.cmd, this.sub])].map((c) => Promise.all([c.connect().catch(() => undefined), waitReady(c, timeout)])),
      );
      await this.onConnectionReady();
      if (!this.isReadyNow()) await this.recovering;
      if (!this.isReadyNow()) throw new BusUnavailableError('Redis connection lost during start');
    } catch (err) {
      await this.close();
      throw asUnavailable(err);
    }
    const live = this.opts.livenessIntervalMs ?? 5000;
    // Four refreshes per TTL (at least one per 60 s): a subscribed channel never expires between two.
    const keepAlive = Math.min(60_000, Math.max(100, (this.opts.historyTtlSeconds * 1000) / 4));
    this.timers.push(setInterval(() => void this.counts.heartbeat(), live));
    this.timers.push(setInterval(() => void this.counts.refresh(), 30_000));
    this.timers.push(setInterval(() => void this.keepChannelsAlive(), keepAlive));
    for (const t of this.timers) t.unref();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    // Publishes made before close are sent before the connections quit.
    this.publisher.flush();
    this.state = 'closed';
    for (const t of this.timers) clearInterval(t);
    this.shards?.close();
    this.controls.settleAll();
    this.reads.settleAll();
    if (wasReady) {
      await this.counts.leave();
      this.handlers?.status?.(false);
    }
    await Promise.all([...new Set([this.cmd, this.sub])].map((c) => closeClient(c)));
  }

  // ---- publishing ------------------------------------------------------------------------------

  async publish(req: PublishRequest): Promise<PublishResult> {
    // Serialize first: a value JSON cannot represent throws here, before anything is sent.
    const dataJson = JSON.stringify(req.data) ?? 'null';
    this.assertReady();
    const ts = Date.now();
    const { head, tail } = messageParts({ channel: req.channel, event: req.event, data: dataJson, ts });
    return new Promise((resolve, reject) =>
      this.publisher.add({
        channel: req.channel,
        head,
        tail,
        envTail: envelopeTail(ts, req.excludeConnectionId),
        idempotencyKey: req.idempotencyKey,
        resolve,
        reject,
      }),
    );
  }

  async broadcast(channel: string, frame: string): Promise<void> {
    this.assertReady();
    this.publisher.flush();
    try {
      await this.pub(this.keys.live(channel), ephemeralEnvelope(Date.now(), frame));
    } catch (err) {
      throw asUnavailable(err);
    }
  }

  async position(channel: string): Promise<StreamPosition> {
    const h = await this.read(channel, 0, 0);
    return h.position;
  }

  async history(channel: string, opts: { since?: number; limit?: number }): Promise<HistoryResult> {
    const limit = opts.limit === undefined ? Math.max(1, this.opts.historySize) : Math.max(0, Math.floor(opts.limit));
    return this.read(channel, opts.since ?? 0, limit);
  }

  private async read(channel: string, since: number, limit: number): Promise<HistoryResult> {
    this.assertReady();
    this.publisher.flush();
    return this.reads.read(channel, since, limit);
  }

  // ---- subscriptions ---------------------------------------------------------------------------

  async subscribe(channel: string): Promise<void> {
    // Recorded even while Redis is down: the reconnect subscribes it and resyncs it.
    this.subs.add(channel);
    this.assertReady();
    return this.subs.flush();
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subs.delete(channel);
    if (!this.ready) return;
    await this.subs.flush().catch(() => undefined);
  }

  /** Channels this node is subscribed to (or will be once Redis is back). */
  subscribedChannels(): string[] {
    return this.subs.wantedChannels();
  }

  private pub(name: string, payload: string): Promise<number> {
    return this.cluster ? (this.cmd.spublish(name, payload) as Promise<number>) : this.cmd.publish(name, payload);
  }

  /** `state` read through a method, so TypeScript does not narrow it across awaits. */
  private isReadyNow(): boolean {
    return this.state === 'ready';
  }

  private onPubSub(name: string, payload: string): void {
    if (this.state !== 'ready' && this.state !== 'starting') return;
    const channel = this.keys.channelOfLive(name);
    if (channel !== undefined) {
      if (payload.charCodeAt(0) === 0x73 /* s: a read's sync marker */) {
        this.reads.onMarker(payload);
        return;
      }
      if (!this.subs.wants(channel)) return;
      const env = decodeEnvelope(payload);
      if (env === undefined) return;
      const msg: BusMessage = messageOf(channel, env);
      if (env.excludeConnectionId !== undefined) msg.excludeConnectionId = env.excludeConnectionId;
      this.safely(() => this.handlers?.message(msg));
    } else if (name === this.keys.control) {
      this.controls.onCommand(
        payload,
        (cmd) => this.handlers?.control(cmd) ?? 0,
        (q) => this.handlers?.query?.(q),
      );
    } else if (name === this.replyChannel) {
      this.controls.onReply(payload);
    }
  }

  // ---- control and counts ---------------------------------------------------------------------

  async control(cmd: ControlCommand): Promise<number> {
    this.assertReady();
    return this.controls.send(cmd);
  }

  async gather(cmd: QueryCommand): Promise<unknown[]> {
    this.assertReady();
    return this.controls.gather(cmd);
  }

  /** The tap (redis-tap.ts): PSUBSCRIBE to every channel's live feed only while a handler is set. */
  setTap(handler: TapHandler | null): Promise<void> {
    return this.tap.set(handler, this.ready);
  }

  reportSubscribers(channel: string, localCount: number): void {
    this.counts.report(channel, localCount);
  }

  async subscriberCount(channel: string): Promise<number> {
    this.assertReady();
    return this.counts.count(channel);
  }

  /** Subscribed channels keep their epoch and history, as on the memory bus. */
  private async keepChannelsAlive(): Promise<void> {
    if (!this.ready) return;
    const ttl = this.opts.historyTtlSeconds;
    try {
      await Promise.all(
        this.subs.appliedChannels().flatMap((c) => [this.cmd.expire(this.keys.meta(c), ttl), this.cmd.expire(this.keys.stream(c), ttl)]),
      );
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  // ---- connection state ------------------------------------------------------------------------

  private onConnectionLost(): void {
    if (this.state === 'closed' || this.state === 'new') return;
    this.subs.lost();
    if (this.state === 'ready') {
      this.state = 'down';
      this.safely(() => this.handlers?.status?.(false));
    }
  }

  /** Both connections ready: (re)subscribe everything, then report ready (and resync after an outage). */
  private onConnectionReady(): Promise<void> {
    if (this.state === 'closed' || this.state === 'new' || this.state === 'ready') return Promise.resolve();
    if (!isClientReady(this.cmd) || !isClientReady(this.sub)) return Promise.resolve();
    if (this.recovering !== undefined) {
      // A connection came back while a recovery was running: run it again if that one fails.
      this.recoverAgain = true;
      return this.recovering;
    }
    this.recovering = (async () => {
      do {
        this.recoverAgain = false;
        await this.recover();
      } while (this.recoverAgain && this.state !== 'ready' && this.state !== 'closed');
    })().finally(() => {
      this.recovering = undefined;
    });
    return this.recovering;
  }

  private async recover(): Promise<void> {
    const wasDown = this.state === 'down';
    let channels: string[];
    try {
      channels = await this.subs.resubscribe(this.handlers !== undefined ? [this.replyChannel, this.keys.control] : [this.replyChannel]);
    } catch (err) {
      this.opts.onError?.(err);
      // The next 'ready' tries again; if both connections stayed up (a timeout), retry shortly.
      const retry = setTimeout(() => void this.onConnectionReady(), 500);
      retry.unref();
      return;
    }
    if (this.state === 'closed' || !isClientReady(this.cmd) || !isClientReady(this.sub)) return;
    await this.tap.resubscribe();
    this.state = 'ready';
    if (wasDown) {
      // At once, before anything else awaits: live messages of these channels are arriving again,
      // and the hub must hold them from the start of its catch-up.
      const missed = channels.filter((c) => this.subs.wants(c));
      if (missed.length > 0) this.safely(() => this.handlers?.resync?.(missed));
    }
    this.safely(() => this.handlers?.status?.(true));
    await this.counts.rewriteAll();
    if (this.subs.dirty()) void this.subs.flush().catch(() => undefined);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private assertReady(): void {
    if (this.state !== 'ready') throw this.unavailableError();
  }

  private unavailableError(): BusUnavailableError {
    return new BusUnavailableError(
      this.state === 'closed' ? 'the bus was closed' : this.state === 'new' ? 'the bus was not started' : 'Redis is unreachable',
    );
  }
}
