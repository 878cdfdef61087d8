/**
 * The embedded bus: one process, no dependencies, River's default engine. Passes `bus.contract.ts`.
 *
 * State lives in a `MemoryBackend`. Each `MemoryBus` is one node attached to a backend; a bus
 * created without one gets its own. Several buses sharing one backend behave like several River
 * nodes on one Redis (that is how the contract suite tests cross-node behaviour in memory).
 *
 * Memory stays bounded for any number of channels, with no timer per channel:
 * - Channels sit in one `Map` in last-activity order (a publish deletes and re-sets the entry, which
 *   moves it to the end). Expired channels are swept from the front by one unref'd interval timer
 *   per backend, at most `sweepBatch` entries per run so a mass expiry never blocks the event loop
 *   for long, and a little at every publish. Reads check the one channel they touch, so expiry is
 *   exact whatever the sweep has reached.
 * - Reads never create state for a channel no node is subscribed to: `position`/`history` of a
 *   channel without state answer offset 0 in the backend's *empty epoch* (one string per backend,
 *   never the epoch of any state) and store nothing, so a flood of reads of unique channels (HTTP
 *   `GET /v1/channels/{c}`, `/history`) costs no memory. Subscribing creates a channel's state (a
 *   fresh epoch) if it has none, kept while subscribed; the state also holds the subscribed nodes.
 * - Expiry rule: a channel's state (epoch, offset, history) expires `historyTtlSeconds` after its
 *   last publish, or after its creation by a subscribe, unless a node of this backend is subscribed to
 *   it: a subscribed channel keeps its state (so a quiet channel keeps its epoch and a reconnecting
 *   client recovers), and its TTL restarts when the last node unsubscribes. An expired channel
 *   loses offset, epoch and history: the next publish starts a new epoch at offset 1. Every read
 *   and publish also sweeps a few expired entries, so creating state faster than the timer sweeps
 *   (subscribe/unsubscribe churn over unique channels) cannot outgrow the TTL's worth of channels.
 * - Node-wide caps (RIVER_MAX_HISTORY_BYTES, RIVER_MAX_CHANNELS): past either, the channels least
 *   recently published to are evicted first, from the front of the same `Map`: a channel no node is
 *   subscribed to loses its whole state (its next publish starts a new epoch), a subscribed one its
 *   history (its epoch and offset stay). Either way a client resubscribing with `since` from before
 *   gets `recovered: false`. History bytes count each message's frame plus MESSAGE_OVERHEAD_BYTES.
 *   A flood of new channels or of large messages never grows memory past the caps.
 * - Idempotency keys (scoped per channel) sit in one `Map` in insertion order, which is expiry order
 *   (the window is fixed), and are swept the same way.
 *
 * Delivery is synchronous from `publish`, through one backend-wide queue: a handler that publishes
 * while handling a message has its message delivered after the current one to every node, so each
 * node sees each channel's offsets in increasing order.
 */
import { randomBytes } from 'node:crypto';
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
  type TapHandler,
  type StreamPosition,
} from '../bus.js';
import { messageFrame } from '../../core/frames.js';
import { fewAdd, fewDelete, fewHas, type Few } from '../../core/few.js';

/** Figures for /metrics and for tests: how much state the backend holds right now. */
export interface MemoryBusStats {
  /** Channels with live state (epoch, offset, history). */
  channels: number;
  /** Idempotency keys still inside their window. */
  idempotencyKeys: number;
  /** Channels at least one node is subscribed to. */
  subscribedChannels: number;
  /** Bytes of history held (frames + MESSAGE_OVERHEAD_BYTES each). */
  historyBytes: number;
  /** Channels (or their history) evicted by the caps since the start. */
  evicted: number;
}

/** What a history entry costs besides its frame's characters (the message object, its fields). */
export const MESSAGE_OVERHEAD_BYTES = 160;
const messageBytes = (m: BusMessage) => m.frame.length + MESSAGE_OVERHEAD_BYTES;

export interface MemoryBackendOptions extends BusOptions {
  /** How often the sweep timer runs. Default: a quarter of the TTL, between 100 ms and 5 s. */
  sweepIntervalMs?: number;
  /** Most entries one timer run removes (the next runs go on). Default 20000. */
  sweepBatch?: number;
  /** Node-wide cap on history bytes (RIVER_MAX_HISTORY_BYTES). Default: none. */
  maxHistoryBytes?: number;
  /** Node-wide cap on channels with state (RIVER_MAX_CHANNELS). Default: none. */
  maxChannels?: number;
}

export interface MemoryBusOptions extends MemoryBackendOptions {
  /**
   * Called when a handler throws (a bug: handlers must not throw); delivery to the other nodes
   * goes on. Default: rethrown on the next tick, as an uncaught exception.
   */
  onHandlerError?: (err: unknown) => void;
}

interface ChannelState {
  epoch: string;
  offset: number;
  /** Oldest first, at most historySize; null until the first publish (nothing kept for a quiet channel). */
  history: BusMessage[] | null;
  /**
   * Last publish or creation, for expiry: ms since the backend started (`MemoryBackend.t0`), a small
   * integer kept in the object for 24 days, where a timestamp takes a 16-byte box per channel.
   */
  touchedAt: number;
  /** Bytes of `history` (see messageBytes). */
  bytes: number;
  /**
   * The nodes of this backend subscribed to the channel (the node itself while there is one), null
   * while none. Kept here rather than in a Map of its own: a subscribed channel always has state
   * (subscribing creates it), and one Map entry less per channel.
   */
  nodes: Few<MemoryBus>;
}

interface IdempotencyEntry {
  result: PublishResult;
  expiresAt: number;
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

export class MemoryBackend {
  readonly historySize: number;
  readonly historyTtlMs: number;
  readonly idempotencyWindowMs: number;
  readonly now: () => number;
  /** When the backend was made (ms): channel times are kept relative to it (`ChannelState.touchedAt`). */
  private readonly t0: number;
  readonly sweepIntervalMs: number;
  readonly sweepBatch: number;
  readonly maxHistoryBytes: number;
  readonly maxChannels: number;
  private historyBytes = 0;
  private evicted = 0;

  /** Epoch of every channel without state (reads store nothing); never the epoch of a state. */
  readonly emptyEpoch = newEpoch();
  /** Last-activity order: the front expires first. */
  private readonly channels = new Map<string, ChannelState>();
  /** Insertion order == expiry order. Key: channel + '\n' + idempotencyKey. */
  private readonly idempotency = new Map<string, IdempotencyEntry>();
  /** Channels whose state has `nodes` (at least one node subscribed). */
  private subscribedChannels = 0;
  /** Local subscriber counts reported per node, per channel (one entry per channel, no Map per channel). */
  private readonly counts = new Map<MemoryBus, Map<string, number>>();
  /** Started nodes, in start order. */
  private readonly nodes = new Set<MemoryBus>();
  private readonly queue: { node: MemoryBus; msg: BusMessage }[] = [];
  /** Nodes with a tap set (`Bus.setTap`); null while none: one null check per delivery. */
  private tapping: Set<MemoryBus> | null = null;
  private draining = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: MemoryBackendOptions) {
    if (!(Number.isInteger(opts.historySize) && opts.historySize >= 0)) {
      throw new RangeError(`historySize must be a non-negative integer, got ${opts.historySize}`);
    }
    if (!(opts.historyTtlSeconds > 0)) throw new RangeError(`historyTtlSeconds must be positive, got ${opts.historyTtlSeconds}`);
    if (!(opts.idempotencyWindowMs >= 0)) {
      throw new RangeError(`idempotencyWindowMs must be non-negative, got ${opts.idempotencyWindowMs}`);
    }
    this.historySize = opts.historySize;
    this.historyTtlMs = opts.historyTtlSeconds * 1000;
    this.idempotencyWindowMs = opts.idempotencyWindowMs;
    this.now = opts.now ?? (() => Date.now());
    this.t0 = this.now();
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(5000, Math.max(100, this.historyTtlMs / 4));
    this.sweepBatch = opts.sweepBatch ?? 20_000;
    this.maxHistoryBytes = opts.maxHistoryBytes ?? Number.POSITIVE_INFINITY;
    this.maxChannels = opts.maxChannels ?? Number.POSITIVE_INFINITY;
  }

  stats(): MemoryBusStats {
    return {
      channels: this.channels.size,
      idempotencyKeys: this.idempotency.size,
      subscribedChannels: this.subscribedChannels,
      historyBytes: this.historyBytes,
      evicted: this.evicted,
    };
  }

  /** Removes a channel's state (expiry, eviction), its history bytes with it. */
  private drop(name: string, state: ChannelState): void {
    this.channels.delete(name);
    this.historyBytes -= state.bytes;
    state.bytes = 0;
    state.history = null;
  }

  /**
   * Evicts from the front (least recently published first) until both caps hold; `current`, the
   * channel just published to, only loses its oldest messages, never its newest.
   */
  private enforceCaps(current: ChannelState): void {
    // Subscribed channels are bounded by the connections (maxSubscriptions each) and are never
    // evicted whole: the count cap is on the others. At most 1,000 steps per call (the next goes on).
    let guard = Math.min(this.channels.size + 1, 1000);
    while ((this.historyBytes > this.maxHistoryBytes || this.channels.size > this.maxChannels + this.subscribedChannels) && guard-- > 0) {
      const first = this.channels.entries().next();
      if (first.done) return;
      const [name, state] = first.value;
      if (state === current) {
        // Only the current channel is left with history: trim it, oldest first, keeping the newest message.
        const h = state.history;
        while (this.historyBytes > this.maxHistoryBytes && h !== null && h.length > 1) {
          const b = messageBytes(h.shift()!);
          state.bytes -= b;
          this.historyBytes -= b;
        }
        return;
      }
      this.evicted += 1;
      if (state.nodes !== null) {
        // Kept (its subscribers hold its epoch and offset) but without history: moved to the back.
        this.historyBytes -= state.bytes;
        state.bytes = 0;
        state.history = null;
        this.channels.delete(name);
        this.channels.set(name, state);
      } else {
        this.drop(name, state);
      }
    }
  }

  /**
   * Drops up to `max` expired channels and as many expired idempotency keys, from the front of
   * their maps: O(number removed). Returns how many it removed.
   */
  sweep(max = Number.POSITIVE_INFINITY): number {
    const now = this.now();
    let removed = 0;
    for (const [name, state] of this.channels) {
      if (removed >= max || state.touchedAt + this.historyTtlMs > now - this.t0) break;
      // A channel some node is subscribed to keeps its state: re-append it with a fresh TTL.
      if (state.nodes !== null) {
        this.channels.delete(name);
        state.touchedAt = now - this.t0;
        this.channels.set(name, state);
      } else {
        this.drop(name, state);
        removed += 1;
      }
    }
    let keys = 0;
    for (const [key, entry] of this.idempotency) {
      if (keys >= max || entry.expiresAt > now) break;
      this.idempotency.delete(key);
      keys += 1;
    }
    return removed + keys;
  }

  // ---- used by MemoryBus ---------------------------------------------------------------------

  attach(node: MemoryBus): void {
    this.nodes.add(node);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(this.sweepBatch), this.sweepIntervalMs);
      this.timer.unref();
    }
  }

  detach(node: MemoryBus): void {
    this.nodes.delete(node);
    this.tap(node, false);
    for (const [channel, state] of [...this.channels]) if (fewHas(state.nodes, node)) this.unsubscribe(node, channel);
    this.counts.delete(node);
    if (this.nodes.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  publish(req: PublishRequest): PublishResult {
    // Serialize first: a value JSON cannot represent throws here, before any state changes.
    const dataJson = JSON.stringify(req.data) ?? 'null';
    this.sweep(8);
    const now = this.now();
    let idemKey: string | undefined;
    if (req.idempotencyKey !== undefined) {
      idemKey = `${req.channel}\n${req.idempotencyKey}`;
      const seen = this.idempotency.get(idemKey);
      if (seen !== undefined) {
        if (seen.expiresAt > now) return { ...seen.result, duplicate: true };
        this.idempotency.delete(idemKey);
      }
    }
    const state = this.live(req.channel, now) ?? { epoch: newEpoch(), offset: 0, history: null, touchedAt: 0, bytes: 0, nodes: null };
    // Move to the end of the activity order.
    this.channels.delete(req.channel);
    this.channels.set(req.channel, state);
    state.touchedAt = now - this.t0;
    state.offset += 1;
    const msg: BusMessage = {
      channel: req.channel,
      offset: state.offset,
      epoch: state.epoch,
      frame: messageFrame({ channel: req.channel, event: req.event, data: dataJson, offset: state.offset, ts: now }),
      ts: now,
    };
    if (req.excludeConnectionId !== undefined) msg.excludeConnectionId = req.excludeConnectionId;
    if (this.historySize > 0) {
      const history = (state.history ??= []);
      history.push(msg);
      const b = messageBytes(msg);
      state.bytes += b;
      this.historyBytes += b;
      if (history.length > this.historySize) {
        const old = messageBytes(history.shift()!);
        state.bytes -= old;
        this.historyBytes -= old;
      }
    }
    this.enforceCaps(state);
    const result: PublishResult = { channel: req.channel, epoch: state.epoch, offset: state.offset };
    if (idemKey !== undefined && this.idempotencyWindowMs > 0) {
      this.idempotency.set(idemKey, { result, expiresAt: now + this.idempotencyWindowMs });
    }
    this.deliver(msg);
    return { ...result };
  }

  broadcast(channel: string, frame: string): void {
    this.deliver({ channel, frame, ts: this.now() });
  }

  position(channel: string): StreamPosition {
    const state = this.read(channel);
    return state === undefined ? { epoch: this.emptyEpoch, offset: 0 } : { epoch: state.epoch, offset: state.offset };
  }

  history(channel: string, since: number, limit: number): HistoryResult {
    const state = this.read(channel);
    if (state === undefined) return { position: { epoch: this.emptyEpoch, offset: 0 }, messages: [], complete: since === 0 };
    const position = { epoch: state.epoch, offset: state.offset };
    const h = state.history ?? [];
    const oldest = h.length > 0 ? (h[0]!.offset as number) : state.offset + 1;
    const complete = since >= oldest - 1 && since <= state.offset;
    const start = Math.max(0, since - oldest + 1);
    const messages = limit > 0 && start < h.length ? h.slice(start, start + limit) : [];
    return { position, messages, complete };
  }

  subscribe(node: MemoryBus, channel: string): void {
    // A subscribed channel keeps its state, expired or not (the sweep has not reached it yet).
    let state = this.channels.get(channel);
    if (state === undefined) {
      this.sweep(8);
      state = { epoch: newEpoch(), offset: 0, history: null, touchedAt: this.now() - this.t0, bytes: 0, nodes: null };
      this.channels.set(channel, state);
      if (state.nodes === null) this.subscribedChannels += 1;
      state.nodes = node;
      this.enforceCaps(state);
      return;
    }
    if (state.nodes === null) this.subscribedChannels += 1;
    state.nodes = fewAdd(state.nodes, node);
  }

  unsubscribe(node: MemoryBus, channel: string): void {
    const state = this.channels.get(channel);
    if (state === undefined || !fewHas(state.nodes, node)) return;
    state.nodes = fewDelete(state.nodes, node);
    if (state.nodes !== null) return;
    this.subscribedChannels -= 1;
    // The last node left: the channel's TTL starts now.
    this.channels.delete(channel);
    state.touchedAt = Math.max(state.touchedAt, this.now() - this.t0);
    this.channels.set(channel, state);
  }

  tap(node: MemoryBus, on: boolean): void {
    if (on) (this.tapping ??= new Set()).add(node);
    else if (this.tapping !== null) {
      this.tapping.delete(node);
      if (this.tapping.size === 0) this.tapping = null;
    }
  }

  async gather(cmd: QueryCommand): Promise<unknown[]> {
    const answers = await Promise.all([...this.nodes].map((node) => node.runQuery(cmd)));
    return answers.filter((a) => a !== undefined && a !== null);
  }

  control(cmd: ControlCommand): number {
    let sum = 0;
    for (const node of [...this.nodes]) sum += node.runControl(cmd);
    return sum;
  }

  report(node: MemoryBus, channel: string, localCount: number): void {
    let local = this.counts.get(node);
    if (localCount > 0) {
      if (local === undefined) this.counts.set(node, (local = new Map()));
      local.set(channel, localCount);
    } else {
      local?.delete(channel);
    }
  }

  subscriberCount(channel: string): number {
    let sum = 0;
    for (const local of this.counts.values()) sum += local.get(channel) ?? 0;
    return sum;
  }

  /** The channel's state unless it has expired (then it is dropped here, whatever the sweep has reached). */
  private live(channel: string, now: number): ChannelState | undefined {
    const state = this.channels.get(channel);
    if (state === undefined || state.touchedAt + this.historyTtlMs > now - this.t0 || state.nodes !== null) return state;
    this.drop(channel, state);
    return undefined;
  }

  /** The state a read sees (a read creates none: a subscribed channel has had its state since the subscribe). */
  private read(channel: string): ChannelState | undefined {
    this.sweep(8);
    return this.live(channel, this.now());
  }

  /** Queues the message for every subscribed node; drains unless a drain is already running up the stack. */
  private deliver(msg: BusMessage): void {
    if (this.tapping !== null) for (const node of this.tapping) node.runTap(msg);
    const nodes = this.channels.get(msg.channel)?.nodes;
    if (nodes === undefined || nodes === null) return;
    if (nodes instanceof Set) for (const node of nodes) this.queue.push({ node, msg });
    else this.queue.push({ node: nodes, msg });
    if (this.draining) return;
    this.draining = true;
    try {
      for (let i = 0; i < this.queue.length; i++) {
        const item = this.queue[i]!;
        item.node.runMessage(item.msg);
      }
    } finally {
      this.queue.length = 0;
      this.draining = false;
    }
  }
}

function rethrowLater(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

export class MemoryBus implements Bus {
  readonly backend: MemoryBackend;
  private handlers: BusHandlers | undefined;
  private tapHandler: TapHandler | null = null;
  private started = false;
  private closed = false;
  private readonly onHandlerError: (err: unknown) => void;

  /** With `backend`, this bus is one more node on that shared state and the backend's options govern. */
  constructor(opts: MemoryBusOptions, backend?: MemoryBackend) {
    this.backend = backend ?? new MemoryBackend(opts);
    this.onHandlerError = opts.onHandlerError ?? rethrowLater;
  }

  get ready(): boolean {
    return this.started && !this.closed;
  }

  /** Embedded: nothing else shares the backend, so a publish-only bus is one with inert handlers. */
  startPublishOnly(): Promise<void> {
    return this.start({ message() {}, control: () => 0 });
  }

  async start(handlers: BusHandlers): Promise<void> {
    if (this.closed) throw new BusUnavailableError('the bus was closed');
    this.handlers = handlers;
    if (!this.started) {
      this.started = true;
      this.backend.attach(this);
      handlers.status?.(true);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const wasStarted = this.started;
    this.closed = true;
    if (wasStarted) {
      this.backend.detach(this);
      this.handlers?.status?.(false);
    }
  }

  /** What the backend holds (shared by every node on it). */
  stats(): MemoryBusStats {
    return this.backend.stats();
  }

  /** Drops expired state now (the timer does this too). Returns how many entries it removed. */
  sweep(): number {
    return this.backend.sweep();
  }

  async publish(req: PublishRequest): Promise<PublishResult> {
    this.assertReady();
    return this.backend.publish(req);
  }

  async broadcast(channel: string, frame: string): Promise<void> {
    this.assertReady();
    this.backend.broadcast(channel, frame);
  }

  async subscribe(channel: string): Promise<void> {
    this.assertReady();
    this.backend.subscribe(this, channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.ready) return;
    this.backend.unsubscribe(this, channel);
  }

  async position(channel: string): Promise<StreamPosition> {
    this.assertReady();
    return this.backend.position(channel);
  }

  async history(channel: string, opts: { since?: number; limit?: number }): Promise<HistoryResult> {
    this.assertReady();
    return this.backend.history(channel, opts.since ?? 0, opts.limit ?? Number.POSITIVE_INFINITY);
  }

  async control(cmd: ControlCommand): Promise<number> {
    this.assertReady();
    return this.backend.control(cmd);
  }

  async gather(cmd: QueryCommand): Promise<unknown[]> {
    this.assertReady();
    return this.backend.gather(cmd);
  }

  async setTap(handler: TapHandler | null): Promise<void> {
    this.tapHandler = handler;
    if (this.ready) this.backend.tap(this, handler !== null);
  }

  reportSubscribers(channel: string, localCount: number): void {
    if (this.ready) this.backend.report(this, channel, localCount);
  }

  async subscriberCount(channel: string): Promise<number> {
    this.assertReady();
    return this.backend.subscriberCount(channel);
  }

  /** @internal Called by the backend's delivery queue. */
  runMessage(msg: BusMessage): void {
    if (!this.ready || this.handlers === undefined) return;
    try {
      this.handlers.message(msg);
    } catch (err) {
      this.onHandlerError(err);
    }
  }

  /** @internal Called by the backend for every delivery while this node taps. */
  runTap(msg: BusMessage): void {
    if (this.tapHandler === null) return;
    try {
      this.tapHandler(msg);
    } catch (err) {
      this.onHandlerError(err);
    }
  }

  /** @internal Called by the backend for `gather`. */
  async runQuery(cmd: QueryCommand): Promise<unknown> {
    if (!this.ready || this.handlers?.query === undefined) return undefined;
    try {
      return await this.handlers.query(cmd);
    } catch (err) {
      this.onHandlerError(err);
      return undefined;
    }
  }

  /** @internal Called by the backend for `control`. */
  runControl(cmd: ControlCommand): number {
    if (!this.ready || this.handlers === undefined) return 0;
    try {
      const n = this.handlers.control(cmd);
      return Number.isFinite(n) ? n : 0;
    } catch (err) {
      this.onHandlerError(err);
      return 0;
    }
  }

  private assertReady(): void {
    if (!this.ready) throw new BusUnavailableError(this.closed ? 'the bus was closed' : 'the bus was not started');
  }
}
