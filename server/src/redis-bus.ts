/**
 * The Redis bus: many River nodes as one service. Passes `bus.contract.ts`. Key layout and the
 * live envelope: `redis-keys.ts`; scripts: `redis-scripts.ts`; connections: `redis-connection.ts`.
 *
 * - Routing per channel. A node subscribes to `P:{c}:live` only while it has local subscribers
 *   (the hub reference-counts; subscribe/unsubscribe calls of one tick go out as one SUBSCRIBE and
 *   one UNSUBSCRIBE). No wildcard subscription: a node receives only the channels it serves.
 * - Publish is one Lua script per channel (idempotency, epoch, offset, capped history, TTLs, live
 *   PUBLISH), so offsets, history and delivery always agree. The frame is serialized once, by the
 *   publishing node; the script inserts the offset and every receiving node hands the frame text on
 *   unchanged.
 * - Cluster mode (`cluster: true`): every channel's keys share one hash slot; live delivery and
 *   control use sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7).
 * - Subscriber counts: each node writes its local counts into `P:{c}:subs` (nodeId → count,
 *   batched) and keeps a liveness deadline in `P:{nodes}`; counts of nodes past their deadline are
 *   ignored and cleaned on read.
 * - Control commands go to a node-wide channel; PUBLISH answers how many nodes received it, and
 *   the sender collects that many answers on its reply channel (1 s timeout).
 * - Outage: `ready` turns false as soon as a connection drops, and publish rejects with
 *   `BusUnavailableError` without queueing anything. ioredis reconnects with backoff; the bus then
 *   re-subscribes every channel, calls `handlers.resync(channels)` (those channels may have missed
 *   messages) and `handlers.status(true)`.
 * - State of channels a node is subscribed to is kept alive (TTL refreshed), as with the memory bus.
 * - Reads after delivery. `position`/`history` of a channel this node is subscribed to resolve only
 *   after every message they include has been handed to `onMessage` (as on the memory bus, whose
 *   delivery is synchronous). Live messages and script replies use different connections, so the
 *   read script publishes a marker on the channel after reading and the read waits for it (1 s
 *   bound). Without this, a recovering subscriber could get a message in its replay and again
 *   live, just after.
 */
import { randomBytes } from 'node:crypto';
import {
  BusUnavailableError,
  messageFrame,
  type Bus,
  type BusHandlers,
  type BusMessage,
  type BusOptions,
  type ControlCommand,
  type HistoryResult,
  type PublishRequest,
  type PublishResult,
  type StreamPosition,
} from './bus.js';
import { asUnavailable, closeClient, createRedisClient, isClientReady, waitReady, type RedisClient, type RedisConnectionOptions } from './redis-connection.js';
import { decodeEnvelope, envelopeTail, ephemeralEnvelope, RedisKeys } from './redis-keys.js';
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

const COUNT_TTL_S = 120;
const SUBSCRIBE_CHUNK = 1000;
/** Longest a read waits for live delivery to catch up (a lost marker: the connection dropped). */
const SYNC_TIMEOUT_MS = 1000;

/**
 * A new epoch candidate, unique per call (a random per-process base and a counter): the scripts
 * use it only when a channel's state is gone, and it must never repeat an earlier epoch.
 * Base64url and base 36: no `:` (the envelope's delimiter).
 */
const EPOCH_BASE = randomBytes(6).toString('base64url');
let epochSeq = 0;
function newEpoch(): string {
  epochSeq = (epochSeq + 1) % Number.MAX_SAFE_INTEGER;
  return `${EPOCH_BASE}${epochSeq.toString(36)}`;
}

interface PendingControl {
  sum: number;
  answers: number;
  expected: number | undefined;
  done: (sum: number) => void;
}

export class RedisBus implements Bus {
  readonly nodeId: string;
  readonly keys: RedisKeys;
  private readonly opts: RedisBusOptions;
  private readonly cluster: boolean;
  private readonly cmd: RedisClient;
  private readonly sub: RedisClient;
  private readonly scripts: ScriptClient;
  private readonly replyChannel: string;
  private handlers: BusHandlers | undefined;
  private state: 'new' | 'starting' | 'ready' | 'down' | 'closed' = 'new';
  private readonly wanted = new Set<string>();
  private readonly applied = new Set<string>();
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush: Promise<void> | undefined;
  private readonly localCounts = new Map<string, number>();
  private readonly dirtyCounts = new Set<string>();
  private countTimer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly pendingControl = new Map<string, PendingControl>();
  private recovering: Promise<void> | undefined;
  private recoverAgain = false;
  private readonly syncs = new Map<string, () => void>();
  private syncSeq = 0;

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
    for (const c of new Set([this.cmd, this.sub])) {
      c.on('error', (err: unknown) => this.opts.onError?.(err));
      c.on('close', () => this.onConnectionLost());
      c.on('end', () => this.onConnectionLost());
      c.on('ready', () => void this.onConnectionReady());
    }
    this.sub.on(this.cluster ? 'smessage' : 'message', (name: string, payload: string) => this.onPubSub(name, payload));
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Connects; resolves when Redis is reachable and the node's control channels are subscribed. */
  async start(handlers?: BusHandlers): Promise<void> {
    if (this.state === 'closed') throw new BusUnavailableError('the bus was closed');
    if (this.state !== 'new') return;
    this.handlers = handlers;
    this.state = 'starting';
    const timeout = this.opts.startTimeoutMs ?? 30_000;
    try {
      await Promise.all([...new Set([this.cmd, this.sub])].map((c) => Promise.all([c.connect().catch(() => undefined), waitReady(c, timeout)])));
      await this.onConnectionReady();
      if (!this.isReadyNow()) await this.recovering;
      if (!this.isReadyNow()) throw new BusUnavailableError('Redis connection lost during start');
    } catch (err) {
      await this.close();
      throw asUnavailable(err);
    }
    const live = this.opts.livenessIntervalMs ?? 5000;
    const keepAlive = Math.min(60_000, Math.max(1000, (this.opts.historyTtlSeconds * 1000) / 4));
    this.timers.push(setInterval(() => void this.heartbeat(), live));
    this.timers.push(setInterval(() => void this.refreshCounts(), 30_000));
    this.timers.push(setInterval(() => void this.keepChannelsAlive(), keepAlive));
    for (const t of this.timers) t.unref();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    for (const t of this.timers) clearInterval(t);
    if (this.countTimer) clearTimeout(this.countTimer);
    for (const p of this.pendingControl.values()) p.done(p.sum);
    for (const done of [...this.syncs.values()]) done();
    this.pendingControl.clear();
    if (wasReady) {
      // Leave the cluster's counts and control group at once rather than when the liveness lapses.
      try {
        await Promise.all([
          this.cmd.zrem(this.keys.nodes, this.nodeId),
          ...[...this.localCounts.keys()].map((c) => this.cmd.hdel(this.keys.subs(c), this.nodeId)),
        ]);
      } catch {
        // Redis gone: the liveness deadline lapses instead.
      }
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
    const full = messageFrame(req.channel, req.event, dataJson, 0, ts);
    const tail = `,"ts":${ts}}`;
    const head = full.slice(0, full.length - tail.length - 1); // drop the placeholder offset "0"
    const window = req.idempotencyKey !== undefined ? this.opts.idempotencyWindowMs : 0;
    const meta = this.keys.meta(req.channel);
    try {
      const [offset, epoch, dup] = await this.scripts.riverPublish(
        meta,
        this.keys.stream(req.channel),
        window > 0 ? this.keys.idempotency(req.channel, req.idempotencyKey!) : meta,
        this.cluster ? 'SPUBLISH' : 'PUBLISH',
        this.keys.live(req.channel),
        head,
        tail,
        envelopeTail(ts, req.excludeConnectionId),
        this.opts.historySize,
        this.opts.historyTtlSeconds,
        window,
        newEpoch(),
        ts,
      );
      const result: PublishResult = { channel: req.channel, epoch, offset: Number(offset) };
      if (dup === 1) result.duplicate = true;
      return result;
    } catch (err) {
      throw asUnavailable(err);
    }
  }

  async broadcast(channel: string, frame: string): Promise<void> {
    this.assertReady();
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
    let reply: Awaited<ReturnType<ScriptClient['riverHistory']>>;
    // On a subscribed channel, resolve only once live delivery has caught up with what was read
    // (as on the memory bus), so a recovering subscriber never gets a message twice at the seam.
    const marker = this.applied.has(channel) ? `s${this.nodeId}.${(this.syncSeq = (this.syncSeq + 1) % 1e9)}` : '';
    const synced = marker === '' ? undefined : this.awaitMarker(marker);
    try {
      reply = await this.scripts.riverHistory(
        this.keys.meta(channel),
        this.keys.stream(channel),
        since,
        limit,
        newEpoch(),
        this.opts.historyTtlSeconds,
        this.cluster ? 'SPUBLISH' : 'PUBLISH',
        this.keys.live(channel),
        marker,
      );
    } catch (err) {
      if (marker !== '') this.syncs.get(marker)?.();
      throw asUnavailable(err);
    }
    await synced;
    const [epoch, rawOffset, rawOldest, entries] = reply;
    const offset = Number(rawOffset);
    const oldest = Number(rawOldest);
    const messages: BusMessage[] = [];
    for (const [id, fields] of entries) {
      let frame = '';
      let ts = 0;
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'f') frame = fields[i + 1]!;
        else if (fields[i] === 't') ts = Number(fields[i + 1]);
      }
      messages.push({ channel, offset: Number(id.slice(0, id.indexOf('-'))), epoch, frame, ts });
    }
    const complete = since >= oldest - 1 && since <= offset;
    return { position: { epoch, offset }, messages, complete };
  }

  // ---- subscriptions ---------------------------------------------------------------------------

  async subscribe(channel: string): Promise<void> {
    // Recorded even while Redis is down: the reconnect subscribes it and resyncs it.
    this.wanted.add(channel);
    this.assertReady();
    return this.scheduleFlush();
  }

  async unsubscribe(channel: string): Promise<void> {
    this.wanted.delete(channel);
    if (!this.ready) return;
    await this.scheduleFlush().catch(() => undefined);
  }

  /** Channels this node is subscribed to (or will be once Redis is back). */
  subscribedChannels(): string[] {
    return [...this.wanted];
  }

  /** Every subscribe/unsubscribe of one tick goes out in one flush; flushes never overlap. */
  private scheduleFlush(): Promise<void> {
    if (this.nextFlush === undefined) {
      const run = this.flushing.then(
        () =>
          new Promise<void>((resolve, reject) => {
            setImmediate(() => {
              this.nextFlush = undefined;
              this.flush().then(resolve, reject);
            });
          }),
      );
      this.nextFlush = run;
      this.flushing = run.catch(() => undefined);
    }
    return this.nextFlush;
  }

  private async flush(): Promise<void> {
    if (!this.ready) throw new BusUnavailableError('Redis is unreachable');
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
      // One SSUBSCRIBE per slot (ioredis routes each to the shard that owns it).
      await Promise.all(names.map((n) => (this.sub as RedisClient).ssubscribe(n)));
      return;
    }
    for (let i = 0; i < names.length; i += SUBSCRIBE_CHUNK) await this.sub.subscribe(...names.slice(i, i + SUBSCRIBE_CHUNK));
  }

  private async unsubscribeNames(names: string[]): Promise<void> {
    if (names.length === 0) return;
    if (this.cluster) {
      await Promise.all(names.map((n) => this.sub.sunsubscribe(n)));
      return;
    }
    for (let i = 0; i < names.length; i += SUBSCRIBE_CHUNK) await this.sub.unsubscribe(...names.slice(i, i + SUBSCRIBE_CHUNK));
  }

  /** Resolves when this node receives `marker` on a live channel, or after the sync timeout. */
  private awaitMarker(marker: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.syncs.delete(marker);
        resolve();
      };
      const timer = setTimeout(done, SYNC_TIMEOUT_MS);
      this.syncs.set(marker, done);
    });
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
        this.syncs.get(payload)?.();
        return;
      }
      if (!this.applied.has(channel) && !this.wanted.has(channel)) return;
      const env = decodeEnvelope(payload);
      if (env === undefined) return;
      const msg: BusMessage = { channel, frame: env.frame, ts: env.ts };
      if (env.offset !== undefined) {
        msg.offset = env.offset;
        msg.epoch = env.epoch!;
      }
      if (env.excludeConnectionId !== undefined) msg.excludeConnectionId = env.excludeConnectionId;
      this.safely(() => this.handlers?.message(msg));
    } else if (name === this.keys.control) {
      this.onControl(payload);
    } else if (name === this.replyChannel) {
      const sep = payload.lastIndexOf(':');
      const pending = this.pendingControl.get(payload.slice(0, sep));
      if (pending === undefined) return;
      pending.sum += Number(payload.slice(sep + 1)) || 0;
      pending.answers += 1;
      if (pending.expected !== undefined && pending.answers >= pending.expected) pending.done(pending.sum);
    }
  }

  // ---- control ---------------------------------------------------------------------------------

  async control(cmd: ControlCommand): Promise<number> {
    this.assertReady();
    const id = randomBytes(8).toString('hex');
    const timeoutMs = this.opts.controlTimeoutMs ?? 1000;
    return new Promise<number>((resolve, reject) => {
      const entry: PendingControl = {
        sum: 0,
        answers: 0,
        expected: undefined,
        done: (sum) => {
          clearTimeout(timer);
          this.pendingControl.delete(id);
          resolve(sum);
        },
      };
      const timer = setTimeout(() => entry.done(entry.sum), timeoutMs);
      this.pendingControl.set(id, entry);
      this.pub(this.keys.control, JSON.stringify({ id, reply: this.replyChannel, cmd })).then(
        (receivers) => {
          // PUBLISH answers how many nodes got the command: wait for that many answers.
          entry.expected = receivers;
          if (entry.answers >= receivers) entry.done(entry.sum);
        },
        (err: unknown) => {
          clearTimeout(timer);
          this.pendingControl.delete(id);
          reject(asUnavailable(err));
        },
      );
    });
  }

  private onControl(payload: string): void {
    let parsed: { id: string; reply: string; cmd: ControlCommand };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      return;
    }
    let n = 0;
    this.safely(() => {
      const r = this.handlers?.control(parsed.cmd) ?? 0;
      n = Number.isFinite(r) ? r : 0;
    });
    this.pub(parsed.reply, `${parsed.id}:${n}`).catch((err: unknown) => this.opts.onError?.(err));
  }

  // ---- subscriber counts -----------------------------------------------------------------------

  reportSubscribers(channel: string, localCount: number): void {
    if (localCount > 0) this.localCounts.set(channel, localCount);
    else this.localCounts.delete(channel);
    this.dirtyCounts.add(channel);
    if (this.countTimer === undefined && this.ready) {
      this.countTimer = setTimeout(() => void this.writeCounts(), 100);
      this.countTimer.unref();
    }
  }

  async subscriberCount(channel: string): Promise<number> {
    this.assertReady();
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

  private async writeCounts(): Promise<void> {
    this.countTimer = undefined;
    if (!this.ready) return;
    const channels = [...this.dirtyCounts];
    this.dirtyCounts.clear();
    await this.writeCountsOf(channels);
  }

  private async writeCountsOf(channels: string[]): Promise<void> {
    const ops: Promise<unknown>[] = [];
    for (const c of channels) {
      const key = this.keys.subs(c);
      const n = this.localCounts.get(c);
      if (n === undefined) ops.push(this.cmd.hdel(key, this.nodeId));
      else ops.push(this.cmd.hset(key, this.nodeId, n), this.cmd.expire(key, COUNT_TTL_S));
    }
    try {
      await Promise.all(ops);
    } catch (err) {
      // Written again after the reconnect.
      for (const c of channels) this.dirtyCounts.add(c);
      this.opts.onError?.(err);
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.ready) return;
    const period = this.opts.livenessIntervalMs ?? 5000;
    try {
      await this.cmd.zadd(this.keys.nodes, Date.now() + 3 * period, this.nodeId);
      await this.cmd.zremrangebyscore(this.keys.nodes, '-inf', Date.now() - 60_000);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private async refreshCounts(): Promise<void> {
    if (this.ready) await this.writeCountsOf([...this.localCounts.keys()]);
  }

  /** Subscribed channels keep their epoch and history, as on the memory bus. */
  private async keepChannelsAlive(): Promise<void> {
    if (!this.ready) return;
    const ttl = this.opts.historyTtlSeconds;
    try {
      await Promise.all([...this.applied].flatMap((c) => [this.cmd.expire(this.keys.meta(c), ttl), this.cmd.expire(this.keys.stream(c), ttl)]));
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  // ---- connection state ------------------------------------------------------------------------

  private onConnectionLost(): void {
    if (this.state === 'closed' || this.state === 'new') return;
    // The server dropped our subscriptions with the connection.
    this.applied.clear();
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
    const channels = [...this.wanted];
    const names = channels.map((c) => this.keys.live(c));
    names.push(this.replyChannel);
    if (this.handlers !== undefined) names.push(this.keys.control);
    try {
      this.applied.clear();
      await this.subscribeNames(names);
    } catch (err) {
      this.opts.onError?.(err);
      // The next 'ready' tries again; if both connections stayed up (a timeout), retry shortly.
      const retry = setTimeout(() => void this.onConnectionReady(), 500);
      retry.unref();
      return;
    }
    if (this.state === 'closed' || !isClientReady(this.cmd) || !isClientReady(this.sub)) return;
    for (const c of channels) this.applied.add(c);
    this.state = 'ready';
    await this.heartbeat();
    for (const c of this.localCounts.keys()) this.dirtyCounts.add(c);
    void this.writeCounts();
    if (wasDown) {
      const missed = channels.filter((c) => this.wanted.has(c));
      if (missed.length > 0) this.safely(() => this.handlers?.resync?.(missed));
    }
    this.safely(() => this.handlers?.status?.(true));
    if (this.wanted.size !== this.applied.size || [...this.wanted].some((c) => !this.applied.has(c))) void this.scheduleFlush().catch(() => undefined);
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  private assertReady(): void {
    if (this.state !== 'ready') {
      throw new BusUnavailableError(this.state === 'closed' ? 'the bus was closed' : this.state === 'new' ? 'the bus was not started' : 'Redis is unreachable');
    }
  }
}
