/**
 * The hub: a node's local connections and the channels they subscribe to.
 *
 * - Fanout: a bus message becomes ONE Buffer (the complete WebSocket frame) handed to every local
 *   subscriber through the outbox; nothing is serialized per subscriber.
 * - Bus subscriptions are reference-counted: the bus is subscribed when a channel's first local
 *   subscriber arrives and unsubscribed when its last leaves (calls per channel are chained, so a
 *   quick unsubscribe/subscribe pair reaches the engine in order).
 * - Recovery seam (`recovery-seam.ts`): a subscriber is first *pending*: messages for it are
 *   buffered while the bus subscription is made and then the channel's position (or history after
 *   `since`) is read. It then gets `subscribed`, the recovered messages, and the buffered messages
 *   newer than the position read, and becomes live. So nothing is lost or duplicated while
 *   publishes race the (re)subscribe. The channel's own position (`epoch`, `lastOffset`: what its
 *   live subscribers have been given) starts at its first subscriber's; a subscriber given a newer
 *   position than the channel's (a read that ran ahead of live delivery) is kept in `ahead` until
 *   the channel catches up, and messages up to its position are skipped for it: each subscriber
 *   gets each offset once.
 * - Catch-up (`catch-up.ts`): after a bus reconnect, a gap in the live offsets, or a new epoch
 *   arriving live, the channel's live frames are held while history fills the gap; where it
 *   cannot, live subscribers get an unsolicited `subscribed` with `recovered: false`.
 * - `excludeConnectionId` is honoured live, on replay and on catch-up.
 * - Presence (`presence-` channels) lives in `presence-tracker.ts`.
 * - Time (`connection-timers.ts`): one node-wide tick checks auth deadlines, token expiry and
 *   heartbeats (no timer per socket).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { BAD_CHANNEL_MESSAGE, CLOSE_CODES, isPresenceChannel, isValidChannel, matchAny, type RequestId, type SubscribeFrame } from '@river/protocol';
import type { Bus, BusHandlers, BusMessage, ControlCommand, StreamPosition } from './bus.js';
import type { Presence } from './presence.js';
import type { TokenVerifier } from './auth.js';
import type { Config } from './config.js';
import { Connection, OPEN, CLOSING, CLOSE_GRACE_MS, type ConnectionHost } from './connection.js';
import { fewDelete, fewHas, fewList, fewSize, type Few } from './few.js';
import type { Metrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { hold, startCatchUp, type CatchUp } from './catch-up.js';
import { ConnectionTimers } from './connection-timers.js';
import { PresenceTracker, type Seam } from './presence-tracker.js';
import { attach } from './recovery-seam.js';
import { textFrame } from './ws-frame.js';

/** A channel with local subscribers. */
export interface Channel {
  readonly name: string;
  readonly presence: boolean;
  /** Live local subscribers (usually one: kept as the connection itself until a second arrives). */
  live: Few<Connection>;
  /** Subscribers between `subscribe` and `subscribed`, with the messages buffered for them. */
  pending: Map<Connection, BusMessage[]> | null;
  /** Presence seams of new subscribers (see presence-tracker.ts). */
  seams: Map<Connection, Seam> | null;
  /** Resolves when the bus subscription is in place; null once it is (nothing kept per idle channel). */
  busSubscribed: Promise<void> | null;
  /** Newest offset fanned out to the live subscribers, in `epoch` (duplicate guard). */
  lastOffset: number;
  /** Undefined until the first subscriber is live (or a message arrived while all were pending). */
  epoch: string | undefined;
  /** Live subscribers given a newer position than the channel's: skip messages up to it for them. */
  ahead: Map<Connection, StreamPosition> | null;
  /** Frames held while the channel catches up (see catch-up.ts); null otherwise. */
  catchUp: CatchUp | null;
  /** The bus asked for a catch-up while no subscriber was live yet: catch up when the first one is. */
  stale: boolean;
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

export class Hub implements ConnectionHost, BusHandlers {
  readonly config: Config;
  readonly bus: Bus;
  readonly verifier: TokenVerifier;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly outbox: Outbox;
  readonly now: () => number;
  readonly presence: PresenceTracker;
  /**
   * Connections whose socket is still open (closing ones included: `state` tells them apart). One
   * node-wide set entry per connection; the not-yet-released ones are only counted.
   */
  private readonly sockets = new Set<Connection>();
  /** Connections not yet released (authenticating or open). */
  private unreleased = 0;
  private readonly channels = new Map<string, Channel>();
  private readonly busOps = new Map<string, Promise<void>>();
  /** Connection ids are `<idPrefix>.<seq in base 36>`, built when asked for (no string kept per connection). */
  readonly idPrefix = `${randomBytes(6).toString('base64url')}.`;
  private counter = 0;
  private readonly timers: ConnectionTimers;

  constructor(deps: HubDeps) {
    this.config = deps.config;
    this.bus = deps.bus;
    this.verifier = deps.verifier;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.outbox = new Outbox(deps.config.maxBufferedBytes);
    this.presence = new PresenceTracker(deps.presence, deps.bus, deps.logger, (msg) => this.message(msg));
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
  accept(ws: WebSocket, socket: Socket): Connection {
    const conn = new Connection(this.counter++, ws, socket, this);
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
    for (const name of fewList(subs)) void this.detach(conn, name);
  }

  closed(conn: Connection): void {
    this.sockets.delete(conn);
  }

  /** Checks the request, then subscribes through the recovery seam (recovery-seam.ts). */
  async subscribe(conn: Connection, frame: SubscribeFrame): Promise<void> {
    const { channel: name, id } = frame;
    if (!isValidChannel(name)) {
      conn.sendError('bad_channel', BAD_CHANNEL_MESSAGE, id, name);
      return;
    }
    if (fewHas(conn.subs, name)) {
      conn.sendError('bad_request', 'already subscribed to this channel', id, name);
      return;
    }
    if (fewSize(conn.subs) >= this.config.maxSubscriptions) {
      conn.sendError('too_many_subscriptions', `at most ${this.config.maxSubscriptions} subscriptions per connection`, id, name);
      return;
    }
    const patterns = conn.identity!.channels;
    if (patterns === undefined ? this.config.requireChannelClaims : !matchAny(patterns, name)) {
      conn.sendError('forbidden', 'the token\'s "channels" claim does not allow this channel', id, name);
      return;
    }
    return attach(this, conn, frame);
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
    const leaving = this.detach(conn, name);
    conn.send(`{"type":"unsubscribed","channel":${JSON.stringify(name)}${id === undefined ? '' : `,"id":${JSON.stringify(id)}`}}`);
    await leaving;
  }

  // ---- BusHandlers ---------------------------------------------------------------------------

  message(msg: BusMessage): void {
    const ch = this.channels.get(msg.channel);
    if (ch === undefined) return;
    // Presence frames are coalesced per channel for a few ms (presence-tracker.ts), then come back here.
    if (ch.presence && msg.offset === undefined && this.presence.coalesce(msg)) return;
    if (ch.catchUp !== null) return hold(this, ch, msg);
    if (msg.offset !== undefined && ch.live !== null) {
      // A new epoch (the channel's state was lost in the bus) or skipped offsets (a message lost on
      // the way): fill the gap from history, or tell the subscribers it cannot be filled.
      if (msg.epoch !== ch.epoch || msg.offset > ch.lastOffset + 1) return startCatchUp(this, ch, [msg]);
    }
    this.fanout(ch, msg);
  }

  /** Fans a message out in the channel's order: an offset it already fanned out is dropped. */
  fanout(ch: Channel, msg: BusMessage): void {
    if (msg.offset !== undefined) {
      if (msg.epoch === ch.epoch && msg.offset <= ch.lastOffset) return; // already fanned out
      ch.epoch = msg.epoch;
      ch.lastOffset = msg.offset;
    }
    const frame = textFrame(msg.frame);
    let n = 0;
    const exclude = msg.excludeConnectionId;
    const excludeSeq = exclude === undefined ? -1 : this.seqOf(exclude);
    const seams = msg.offset === undefined ? ch.seams : null;
    const ahead = msg.offset === undefined ? null : ch.ahead;
    const live = ch.live;
    if (live === null) {
      // only pending subscribers
    } else if (!(live instanceof Set)) {
      if (this.admits(live, excludeSeq, seams, ahead, msg) && this.outbox.push(live, frame)) n++;
    } else if (exclude === undefined && seams === null && ahead === null) {
      for (const conn of live) if (this.outbox.push(conn, frame)) n++;
    } else {
      for (const conn of live) if (this.admits(conn, excludeSeq, seams, ahead, msg) && this.outbox.push(conn, frame)) n++;
    }
    if (ch.pending !== null) for (const buffered of ch.pending.values()) buffered.push(msg);
    if (ahead !== null) {
      for (const [conn, pos] of ahead) if (pos.epoch === ch.epoch && pos.offset <= ch.lastOffset) ahead.delete(conn);
      if (ahead.size === 0) ch.ahead = null;
    }
    if (n > 0) this.metrics.delivered.inc(n);
    if (msg.offset !== undefined) this.metrics.fanoutLatency.observe(Math.max(0, this.now() - msg.ts) / 1000);
  }

  /** Whether `ch` is still the hub's channel of that name (it has local subscribers). */
  hasChannel(ch: Channel): boolean {
    return this.channels.get(ch.name) === ch;
  }

  /** The sequence number of one of this node's connection ids; -1 for any other string. */
  private seqOf(id: string): number {
    if (!id.startsWith(this.idPrefix)) return -1;
    const digits = id.slice(this.idPrefix.length);
    const seq = parseInt(digits, 36);
    return Number.isSafeInteger(seq) && seq.toString(36) === digits ? seq : -1;
  }

  private admits(conn: Connection, excludeSeq: number, seams: Map<Connection, Seam> | null, ahead: Map<Connection, StreamPosition> | null, msg: BusMessage): boolean {
    if (conn.seq === excludeSeq) return false;
    if (ahead !== null) {
      const pos = ahead.get(conn);
      if (pos !== undefined && (pos.epoch !== msg.epoch || msg.offset! <= pos.offset)) return false;
    }
    const seam = seams?.get(conn);
    return seam === undefined || seam.admit(msg.frame);
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
      if (ch.live === null) ch.stale = true; // subscribers still pending: catch up once the first is live
      else startCatchUp(this, ch);
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

  // ---- channels (also used by recovery-seam.ts) -------------------------------------------------

  /** The channel of that name; made, and its bus subscription started, if it has no local subscriber. */
  channel(name: string): Channel {
    let ch = this.channels.get(name);
    if (ch === undefined) {
      ch = {
        name,
        presence: isPresenceChannel(name),
        live: null,
        pending: null,
        seams: null,
        busSubscribed: null,
        lastOffset: 0,
        epoch: undefined,
        ahead: null,
        catchUp: null,
        stale: false,
      };
      const channel = ch;
      const subscribed = this.busOp(name, () => this.bus.subscribe(name));
      channel.busSubscribed = subscribed;
      subscribed.then(
        () => {
          if (channel.busSubscribed === subscribed) channel.busSubscribed = null;
        },
        () => {},
      );
      this.channels.set(name, ch);
      this.metrics.channels.inc();
    }
    return ch;
  }

  /** Removes one local subscription; resolves when its presence entry (if any) is gone. */
  detach(conn: Connection, name: string): Promise<void> {
    const ch = this.channels.get(name);
    if (ch !== undefined) {
      if (fewHas(ch.live, conn)) {
        ch.live = fewDelete(ch.live, conn);
        if (ch.ahead?.delete(conn) && ch.ahead.size === 0) ch.ahead = null;
        this.metrics.subscriptions.dec();
      } else if (ch.pending?.delete(conn) && ch.pending.size === 0) ch.pending = null;
      if (ch.seams?.delete(conn) && ch.seams.size === 0) ch.seams = null;
      this.report(ch);
      if (ch.live === null && ch.pending === null) {
        this.channels.delete(name);
        this.metrics.channels.dec();
        void this.busOp(name, () => this.bus.unsubscribe(name)).catch((err: unknown) =>
          this.logger.warn({ err, channel: name }, 'bus unsubscribe failed'),
        );
      }
    }
    return ch?.presence || isPresenceChannel(name) ? this.presence.leave(name, conn) : Promise.resolve();
  }

  /** Reports the channel's local subscriber count (live and pending) to the bus. */
  report(ch: Channel): void {
    this.bus.reportSubscribers(ch.name, fewSize(ch.live) + (ch.pending?.size ?? 0));
  }

  /** Runs bus (un)subscribe calls of one channel in call order. */
  private busOp(name: string, op: () => Promise<void>): Promise<void> {
    const prev = this.busOps.get(name);
    const next = prev === undefined ? op() : prev.catch(() => undefined).then(op);
    this.busOps.set(name, next);
    const cleanup = () => {
      if (this.busOps.get(name) === next) this.busOps.delete(name);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}
