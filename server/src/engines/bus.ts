/**
 * The bus: how a River node publishes messages, keeps per-channel history and receives the
 * messages of the channels its local clients are subscribed to. Engines: `memory-bus.ts` (one
 * process, the default) and `redis-bus.ts` (many nodes). Every engine passes `bus.contract.ts`.
 *
 * Contract (what every engine promises):
 * - Positions. Each channel has a stream position `{epoch, offset}`. `publish` assigns the next
 *   offset (1, 2, 3 … per epoch) atomically with appending to history and delivering: a message is
 *   in history (while the window holds it) if and only if it has been (or is being) delivered to
 *   subscribed nodes, and offsets in one channel are delivered in increasing order, each once.
 *   A channel that was never published to (or whose state expired) reads as offset 0. When a node
 *   is subscribed to it, a read creates its epoch and keeps it, so later reads and publishes use
 *   it (a channel always subscribes before it reads, channel.ts). A read of a channel no node is subscribed to
 *   may leave nothing behind (the memory engine answers an "empty" epoch and stores nothing, so
 *   floods of reads cost no memory; Redis creates the epoch with the TTL): its epoch at offset 0
 *   means nothing to a later publish.
 * - Epoch. Changes only when the channel's state is lost (engine restarted without persistence,
 *   channel idle past the history TTL, keys evicted). Opaque string. Live delivery carries the
 *   epoch: a subscribed node that sees a message of another epoch than the one it knew learns that
 *   the channel's state was lost (the channel then tells its subscribers, see channel.ts).
 * - Subscribed channels keep their state. While any node is subscribed to a channel, its epoch,
 *   offset and history do not expire, however long it stays quiet (the TTL starts again when the
 *   last node unsubscribes). So a client of a quiet channel recovers after a reconnect. Only a
 *   backend losing its data (restart without persistence, eviction) ends them.
 * - Read-after-delivery. `position` and `history` of a channel this node is subscribed to resolve
 *   only after every message they include has been handed to `onMessage`, so a channel's recovery
 *   seam (live buffer + history) never sees a message twice or misses one.
 * - History. The last `historySize` messages of a channel are kept while the channel saw a publish
 *   within `historyTtlSeconds` (or a node is subscribed to it). Each keeps its
 *   `excludeConnectionId`, so a replay skips that connection as live delivery did. `history(channel, {since})` returns the messages with offset > since
 *   in increasing order, together with the position they were read at (same atomic read).
 * - Subscriptions. `subscribe(channel)` resolves once every message published after that moment is
 *   going to reach the `onMessage` handler. Calls are reference-counted by the caller (the channel registry calls
 *   subscribe on the first local subscriber and unsubscribe on the last); an engine may batch them.
 *   Messages of channels this node is not subscribed to are not delivered to it.
 * - Frames. `publish` builds the `message` frame JSON once; `BusMessage.frame` is that exact text,
 *   handed unchanged to every local subscriber (no per-subscriber serialization anywhere).
 * - Idempotency. A publish carrying an `idempotencyKey` seen within `idempotencyWindowMs` returns
 *   the first result with `duplicate: true` and delivers nothing. Keys are scoped per channel (a
 *   multi-channel HTTP publish uses one key for all its channels): the same key on another channel
 *   is another publish.
 * - History and position are one atomic read: `history` returns exactly the messages after `since`
 *   up to the position it reports (when `limit` allows), whatever publishes run concurrently.
 * - Failure. When the engine cannot reach its backend, `ready` is false and `publish` rejects with a
 *   `BusUnavailableError` having published nothing (not queued for later). A publish whose
 *   connection drops after it was sent rejects with the same error, but the backend may have run
 *   it: only a retry with the same `idempotencyKey` is sure to publish it exactly once. When the
 *   engine reaches the backend again it re-establishes its subscriptions and calls
 *   `handlers.resync` with the channels that may have missed messages meanwhile (for Redis
 *   Cluster: also those of a shard whose subscriber connection dropped).
 * - Subscription calls (`subscribe`/`unsubscribe`) of one channel take effect in call order, also
 *   when an engine batches several into one flush: the last call decides.
 * - Ephemeral frames (`broadcast`, used for presence events) are delivered like messages to the
 *   nodes subscribed to the channel but take no offset and are not kept in history.
 * - Control commands (`control`) reach every node of the cluster, including this one, and resolve
 *   the sum of the handlers' answers.
 */
import type { StreamPosition } from '@river/protocol';

export type { StreamPosition };

export interface PublishRequest {
  channel: string;
  event: string;
  data: unknown;
  /** Skip this connection when fanning out (the sender's own tab). */
  excludeConnectionId?: string;
  idempotencyKey?: string;
}

export interface PublishResult {
  channel: string;
  epoch: string;
  offset: number;
  /** True when the idempotency key was already seen: nothing was published this time. */
  duplicate?: boolean;
}

/** One message as it travels from the bus to the node's channel. */
export interface BusMessage {
  channel: string;
  /** Absent for ephemeral frames (presence events). */
  offset?: number;
  epoch?: string;
  /** The complete JSON text of the frame (`message` or `presence`), built once per publish. */
  frame: string;
  /** Publish time, ms since the epoch (for the publish→fanout latency metric). */
  ts: number;
  excludeConnectionId?: string;
}

export interface HistoryResult {
  position: StreamPosition;
  /** Messages with offset > since, oldest first, at most `limit`. */
  messages: BusMessage[];
  /**
   * True when history still holds every message after `since` (the window covers it), so a
   * client at `since` in this epoch can recover without a gap.
   */
  complete: boolean;
}

/** Commands every node of the cluster acts on. */
export type ControlCommand = { type: 'disconnect'; userId: string };

/** Questions every node of the cluster answers (`Bus.gather`): `snapshot` is what the console shows of a node. */
export type QueryCommand = { type: 'snapshot' };

/** Receives every message and ephemeral frame of every channel while a tap is set (`Bus.setTap`). */
export type TapHandler = (msg: BusMessage) => void;

export interface BusHandlers {
  /** A message or ephemeral frame for a channel this node is subscribed to. Must not throw. */
  message(msg: BusMessage): void;
  /** A control command from any node (including this one). Returns how many local connections it affected. */
  control(cmd: ControlCommand): number;
  /**
   * The engine lost messages it may have missed for these subscribed channels (e.g. it reconnected
   * to Redis after an outage). The hub treats subscribers as needing recovery.
   */
  resync?(channels: string[]): void;
  /** Readiness changed (backend connected / lost). */
  status?(ready: boolean): void;
  /** A question from any node (including this one): the answer (or its promise) must be JSON-serializable. */
  query?(cmd: QueryCommand): unknown;
}

export interface Bus {
  /** Connects to the backend and receives: the node's messages and control commands go to `handlers`. Resolves when ready. */
  start(handlers: BusHandlers): Promise<void>;
  /**
   * Connects as a publish-only process (the Lambda): publishes, reads history and counts, and sends
   * control commands, but subscribes to nothing and is not among the nodes a control command waits
   * for (a frozen process could not answer). Use instead of `start`.
   */
  startPublishOnly(): Promise<void>;
  /** Disconnects; pending operations settle. */
  close(): Promise<void>;
  /** Whether the backend is reachable right now. */
  readonly ready: boolean;

  publish(req: PublishRequest): Promise<PublishResult>;
  /** Delivers an ephemeral frame (no offset, no history) to the channel's subscribed nodes. */
  broadcast(channel: string, frame: string): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  position(channel: string): Promise<StreamPosition>;
  history(channel: string, opts: { since?: number; limit?: number }): Promise<HistoryResult>;
  /**
   * Runs the command on every node (this one included) and resolves the sum of what their
   * handlers returned. Nodes that do not answer within a short timeout (about 1 s) are not counted,
   * and an answer that arrives after the timeout is ignored. A node cut off from the backend does
   * not get the command at all (see docs/self-host.md).
   * A publish-only engine (`startPublishOnly`) still sends it.
   */
  control(cmd: ControlCommand): Promise<number>;
  /**
   * Asks every node (this one included) and resolves their answers (`handlers.query`), in no
   * particular order, with the same timeout as `control`. Engines without it: this node only.
   */
  gather?(cmd: QueryCommand): Promise<unknown[]>;
  /**
   * Receives every message and ephemeral frame published anywhere in the cluster (every channel,
   * whether this node serves it or not) while a handler is set; `null` stops. Costs nothing per
   * message while unset. The memory engine calls it synchronously in publish; the Redis engine
   * pattern-subscribes to every channel's live feed only while a handler is set (not available in
   * cluster mode, where sharded pub/sub has no patterns: there the tap sees the channels this node
   * serves).
   */
  setTap?(handler: TapHandler | null): Promise<void>;

  /**
   * The node's local subscriber count of a channel changed. Engines aggregate these for
   * `subscriberCount`; they may batch and must tolerate bursts.
   */
  reportSubscribers(channel: string, localCount: number): void;
  /** Cluster-wide number of connections subscribed to the channel (may be up to a few seconds stale across nodes). */
  subscriberCount(channel: string): Promise<number>;
}

export class BusUnavailableError extends Error {
  readonly code = 'unavailable';
  constructor(message = 'the bus is unavailable', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusUnavailableError';
  }
}

export interface BusOptions {
  historySize: number;
  historyTtlSeconds: number;
  idempotencyWindowMs: number;
  /** Clock for timestamps and expiry; injectable for tests. */
  now?: () => number;
}
