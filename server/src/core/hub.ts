/**
 * The hub: a node's local connections, and its channels (`Channels` in `channel.ts`, one per
 * channel with local subscribers). It is the bus's handler: its `message` is the channel
 * registry's, so a bus message goes straight to its channel, and a subscribe frame goes from the
 * connection straight to the registry.
 *
 * - Presence (`presence-` channels) lives in `presence-tracker.ts`.
 * - Time (`connection-timers.ts`): one node-wide tick checks auth deadlines, token expiry and
 *   heartbeats (no timer per socket).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { BAD_CHANNEL_MESSAGE, CLOSE_CODES, isValidChannel, type RequestId } from '@river/protocol';
import type { Bus, BusHandlers, BusMessage, ControlCommand, QueryCommand } from '../engines/bus.js';
import { Channels, type ChannelPort } from './channel.js';
import type { Presence } from '../engines/presence.js';
import type { TokenVerifier } from '../auth.js';
import type { Config } from '../config.js';
import { Connection, OPEN, CLOSING, CLOSE_GRACE_MS, type ConnectionHost, type RiverWebSocket } from './connection.js';
import { fewDelete, fewHas, fewList } from './few.js';
import type { Metrics } from '../metrics.js';
import { Outbox } from './outbox.js';
import { ConnectionTimers } from './connection-timers.js';
import { unsubscribedFrame } from './frames.js';
import { PresenceTracker } from './presence-tracker.js';

/** At most this many connections and channels per node in a snapshot. */
export const SNAPSHOT_LIMIT = 500;

/** One node's answer to the `snapshot` query (the console's view of it). */
export interface NodeSnapshot {
  node: string;
  connectionCount: number;
  subscriptions: number;
  connections: { id: string; userId: string; channels: string[]; since: number }[];
  channels: { name: string; subscribers: number }[];
  /** Messages published through this node, and message frames it queued to subscribers, since it started. */
  published: number;
  delivered: number;
  at: number;
}

export interface HubDeps {
  config: Config;
  bus: Bus;
  presence: Presence;
  verifier: TokenVerifier;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

export class Hub implements ConnectionHost, BusHandlers, ChannelPort {
  readonly config: Config;
  readonly bus: Bus;
  readonly verifier: TokenVerifier;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly outbox: Outbox;
  readonly now: () => number;
  readonly presence: PresenceTracker;
  readonly historySize: number;
  /**
   * Connections whose socket is still open (closing ones included: `state` tells them apart). One
   * node-wide set entry per connection; the not-yet-released ones are only counted.
   */
  private readonly sockets = new Set<Connection>();
  /** Connections not yet released (authenticating or open). */
  private unreleased = 0;
  /** The node's channels: where subscribe frames and bus messages go (channel.ts). */
  readonly channels: Channels;
  /** `BusHandlers.message`: the channel registry's, so the bus delivers straight to the channel. */
  readonly message: (msg: BusMessage) => void;
  /** Connection ids are `<idPrefix>.<seq in base 36>`, built when asked for (no string kept per connection). */
  readonly idPrefix = `${randomBytes(6).toString('base64url')}.`;
  private counter = 0;
  private readonly timers: ConnectionTimers;
  /** When the hub was made: connections keep their start as seconds since then (a small integer). */
  readonly startedAt: number;

  constructor(deps: HubDeps) {
    this.config = deps.config;
    this.bus = deps.bus;
    this.verifier = deps.verifier;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
    this.outbox = new Outbox(deps.config.maxBufferedBytes);
    this.historySize = deps.config.historySize;
    this.channels = new Channels(this);
    this.message = this.channels.message;
    this.presence = new PresenceTracker(deps.presence, deps.bus, deps.logger, this.message);
    this.timers = new ConnectionTimers(deps.config, this.now, this.sockets, this.outbox, () => this.presence.heartbeat());
  }

  /** Starts the node-wide tick (connection-timers.ts). */
  start(): void {
    this.timers.start();
  }

  stop(): void {
    this.timers.stop();
  }

  get connectionCount(): number {
    return this.unreleased;
  }

  /** Takes over an upgraded WebSocket and its socket. The upgrade request is not kept. */
  accept(ws: RiverWebSocket, socket: Socket): Connection {
    const conn = new Connection(this.counter++, ws, socket, this);
    conn.since = Math.floor((this.now() - this.startedAt) / 1000);
    this.sockets.add(conn);
    this.unreleased++;
    this.timers.accepted(conn);
    this.metrics.connections.inc();
    return conn;
  }

  // ---- ConnectionHost ------------------------------------------------------------------------

  authenticated(conn: Connection): void {
    this.timers.authenticated(conn);
  }

  /** Once per connection (the connection's state machine guarantees it). */
  release(conn: Connection): void {
    this.unreleased--;
    this.timers.released(conn);
    this.metrics.connections.dec();
    const subs = conn.subs;
    conn.subs = null;
    for (const name of fewList(subs)) void this.channels.detach(conn, name);
  }

  closed(conn: Connection): void {
    this.sockets.delete(conn);
  }

  async unsubscribe(conn: Connection, name: string, id: RequestId | undefined): Promise<void> {
    if (!isValidChannel(name)) {
      conn.sendError('bad_channel', BAD_CHANNEL_MESSAGE, id, name);
      return;
    }
    if (!fewHas(conn.subs, name)) {
      conn.sendError('not_subscribed', 'not subscribed to this channel', id, name);
      return;
    }
    conn.subs = fewDelete(conn.subs, name);
    this.logger.debug({ connectionId: conn.id, userId: conn.userId, channel: name }, 'unsubscribe');
    const leaving = this.channels.detach(conn, name);
    conn.send(unsubscribedFrame({ channel: name, id }));
    await leaving;
  }

  // ---- BusHandlers ---------------------------------------------------------------------------

  /** What the console shows of this node (`Bus.gather`): its open connections and channels, up to `SNAPSHOT_LIMIT` each. */
  async query(cmd: QueryCommand): Promise<NodeSnapshot | undefined> {
    if (cmd.type !== 'snapshot') return undefined;
    const connections: NodeSnapshot['connections'] = [];
    for (const conn of this.sockets) {
      if (conn.state !== OPEN) continue;
      if (connections.length >= SNAPSHOT_LIMIT) break;
      connections.push({
        id: conn.id,
        userId: conn.userId ?? '',
        channels: fewList(conn.subs),
        since: this.startedAt + conn.since * 1000,
      });
    }
    const channels: NodeSnapshot['channels'] = [];
    let subscriptions = 0;
    for (const ch of this.channels) {
      subscriptions += ch.subscriberCount;
      if (channels.length < SNAPSHOT_LIMIT) channels.push({ name: ch.name, subscribers: ch.subscriberCount });
    }
    const total = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
      (await c.get()).values.reduce((sum, v) => sum + v.value, 0);
    return {
      node: this.idPrefix.slice(0, -1),
      connectionCount: this.unreleased,
      subscriptions,
      connections,
      channels,
      published: await total(this.metrics.published),
      delivered: await total(this.metrics.delivered),
      at: this.now(),
    };
  }

  /** The sequence number of one of this node's connection ids; -1 for any other string. */
  seqOf(id: string): number {
    if (!id.startsWith(this.idPrefix)) return -1;
    const digits = id.slice(this.idPrefix.length);
    const seq = parseInt(digits, 36);
    return Number.isSafeInteger(seq) && seq.toString(36) === digits ? seq : -1;
  }

  control(cmd: ControlCommand): number {
    if (cmd.type !== 'disconnect') return 0;
    let n = 0;
    for (const conn of this.sockets) {
      if (conn.state === OPEN && conn.userId === cmd.userId) {
        conn.close(CLOSE_CODES.user_disconnected, 'user_disconnected');
        n++;
      }
    }
    return n;
  }

  /**
   * The bus may have missed messages of these channels (e.g. a Redis reconnect). Each catches up
   * (catch-up.ts): live frames are held while history fills the gap, then delivered after it;
   * where history cannot fill it, live subscribers get an unsolicited `subscribed` with
   * `recovered: false` and the new position. Call it as soon as the subscriptions are back.
   * Presence frames are not in history: the presence channels' members are read again instead
   * (their subscribers get the joins and leaves they missed, presence-tracker.ts).
   */
  resync(channels: string[]): void {
    const presence: string[] = [];
    for (const name of channels) {
      const ch = this.channels.get(name);
      if (ch === undefined) continue;
      if (ch.presence) presence.push(name);
      ch.resync();
    }
    if (presence.length > 0) void this.presence.resync(presence);
  }

  status(ready: boolean): void {
    this.logger.info({ ready }, ready ? 'bus ready' : 'bus unavailable');
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Closes every connection with 4000, spread over `drainMs`; resolves when their sockets are gone. */
  async drain(drainMs: number): Promise<void> {
    const list = [...this.sockets].filter((c) => c.state < CLOSING);
    // Evenly over drainMs: at most one step per 20 ms, at most one step per connection.
    const steps = Math.max(1, Math.min(list.length, Math.floor(drainMs / 20)));
    const perStep = Math.ceil(list.length / steps);
    let i = 0;
    while (i < list.length) {
      for (let k = 0; k < perStep && i < list.length; k++) list[i++]!.close(CLOSE_CODES.server_restarting, 'server_restarting');
      if (i < list.length) await new Promise((r) => setTimeout(r, drainMs / steps));
    }
    const deadline = this.now() + CLOSE_GRACE_MS + 500;
    while (this.sockets.size > 0 && this.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /** Drops every socket at once. */
  terminateAll(): void {
    for (const conn of [...this.sockets]) conn.terminate();
  }
}
