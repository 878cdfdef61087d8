/**
 * The hub: a node's local connections and the channels they subscribe to.
 *
 * - Fanout: a bus message becomes ONE Buffer (the complete WebSocket frame) handed to every local
 *   subscriber through the outbox; nothing is serialized per subscriber.
 * - Bus subscriptions are reference-counted: the bus is subscribed when a channel's first local
 *   subscriber arrives and unsubscribed when its last leaves (calls per channel are chained, so a
 *   quick unsubscribe/subscribe pair reaches the engine in order).
 * - Recovery seam: a subscriber is first *pending*: messages for it are buffered while the bus
 *   subscription is made and then the channel's position (or history after `since`) is read. It
 *   then gets `subscribed`, the recovered messages, and the buffered messages newer than the
 *   position read, and becomes live. So nothing is lost or duplicated while publishes race the
 *   (re)subscribe.
 * - Presence (`presence-` channels) lives in `presence-tracker.ts`.
 * - Time: one node-wide tick checks auth deadlines, token expiry and heartbeats (no timer per socket).
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
import { fewAdd, fewDelete, fewHas, fewList, fewSize, type Few } from './few.js';
import type { Metrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { PresenceTracker, type Seam } from './presence-tracker.js';
import { textFrame } from './ws-frame.js';

const PING = textFrame('{"type":"ping"}');
/** Longest window a heartbeat round's pings are spread over. */
const HEARTBEAT_SPREAD_MS = 10_000;

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
  /** Newest offset fanned out (duplicate guard). */
  lastOffset: number;
  epoch: string | undefined;
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
  /** Connections not yet authenticated, with their auth deadline (ms; kept here, not on every connection). */
  private readonly unauthenticated = new Map<Connection, number>();
  private readonly expiring = new Set<Connection>();
  private readonly channels = new Map<string, Channel>();
  private readonly busOps = new Map<string, Promise<void>>();
  /** Connection ids are `<idPrefix>.<seq in base 36>`, built when asked for (no string kept per connection). */
  readonly idPrefix = `${randomBytes(6).toString('base64url')}.`;
  private counter = 0;
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 1000;
  private nextPingAt: number;
  /** The heartbeat round in progress (its pings are spread over part of the heartbeat). */
  private pingRound: { iter: Iterator<Connection>; size: number; start: number; done: number } | null = null;

  constructor(deps: HubDeps) {
    this.config = deps.config;
    this.bus = deps.bus;
    this.verifier = deps.verifier;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.outbox = new Outbox(deps.config.maxBufferedBytes);
    this.presence = new PresenceTracker(deps.presence, deps.bus, deps.logger);
    this.nextPingAt = this.now() + deps.config.heartbeatMs;
  }

  /** Starts the node-wide tick. */
  start(): void {
    const { authTimeoutMs, heartbeatMs } = this.config;
    const tickMs = Math.max(5, Math.min(1000, Math.floor(Math.min(authTimeoutMs, heartbeatMs) / 4)));
    this.tickMs = tickMs;
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get connectionCount(): number {
    return this.unreleased;
  }

  /** Takes over an upgraded WebSocket and its socket. The upgrade request is not kept. */
  accept(ws: WebSocket, socket: Socket): Connection {
    const conn = new Connection(this.counter++, ws, socket, this);
    this.sockets.add(conn);
    this.unreleased++;
    this.unauthenticated.set(conn, this.now() + this.config.authTimeoutMs);
    this.metrics.connections.inc();
    return conn;
  }

  // ---- ConnectionHost ------------------------------------------------------------------------

  authenticated(conn: Connection): void {
    this.unauthenticated.delete(conn);
    if (conn.exp > 0) this.expiring.add(conn);
    else this.expiring.delete(conn);
  }

  /** Once per connection (the connection's state machine guarantees it). */
  release(conn: Connection): void {
    this.unreleased--;
    this.unauthenticated.delete(conn);
    this.expiring.delete(conn);
    this.metrics.connections.dec();
    const subs = conn.subs;
    conn.subs = null;
    for (const name of fewList(subs)) void this.detach(conn, name);
  }

  closed(conn: Connection): void {
    this.sockets.delete(conn);
  }

  async subscribe(conn: Connection, frame: SubscribeFrame): Promise<void> {
    const { channel: name, since, id } = frame;
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

    const ch = this.channel(name);
    const buffer: BusMessage[] = [];
    (ch.pending ??= new Map()).set(conn, buffer);
    conn.subs = fewAdd(conn.subs, name);
    this.report(ch);
    const stillPending = () => ch.pending?.get(conn) === buffer;
    try {
      if (ch.busSubscribed !== null) await ch.busSubscribed;
      let members: string | undefined;
      let seam: Seam | undefined;
      if (ch.presence) {
        const joined = await this.presence.join(name, conn, stillPending);
        if (joined === undefined) return; // gone meanwhile; the tracker cleaned up
        ({ json: members, seam } = joined);
      }
      let position: StreamPosition;
      let recovered: boolean | undefined;
      let replay: BusMessage[] = [];
      if (since !== undefined) {
        const h = await this.bus.history(name, { since: since.offset, limit: Math.max(1, this.config.historySize) });
        position = h.position;
        const missing = position.offset - since.offset;
        recovered =
          since.epoch === position.epoch &&
          h.complete &&
          missing >= 0 &&
          h.messages.length === missing &&
          (missing === 0 || h.messages[0]!.offset === since.offset + 1);
        if (recovered) replay = h.messages;
      } else {
        position = await this.bus.position(name);
      }
      if (!stillPending()) return;

      const parts = [`{"type":"subscribed","channel":${JSON.stringify(name)},"epoch":${JSON.stringify(position.epoch)},"offset":${position.offset}`];
      if (recovered !== undefined) parts.push(`,"recovered":${recovered}`);
      if (members !== undefined) parts.push(`,"members":${members}`);
      if (id !== undefined) parts.push(`,"id":${JSON.stringify(id)}`);
      parts.push('}');
      conn.send(parts.join(''));
      for (const m of replay) this.outbox.push(conn, textFrame(m.frame));
      for (const m of buffer) {
        if (m.excludeConnectionId === conn.id) continue;
        if (m.offset !== undefined) {
          if (m.epoch === position.epoch && m.offset <= position.offset) continue;
        } else if (seam !== undefined && !seam.admit(m.frame)) {
          continue;
        }
        this.outbox.push(conn, textFrame(m.frame));
      }
      ch.pending!.delete(conn);
      if (ch.pending!.size === 0) ch.pending = null;
      ch.live = fewAdd(ch.live, conn);
      if (seam !== undefined) {
        (ch.seams ??= new Map()).set(conn, seam);
        this.presence.trackSeams(ch);
      }
      this.metrics.subscriptions.inc();
    } catch (err) {
      this.logger.warn({ err, channel: name }, 'subscribe failed');
      if (stillPending()) {
        conn.subs = fewDelete(conn.subs, name);
        await this.detach(conn, name);
        conn.sendError('unavailable', 'the bus is unavailable; try again', id, name);
      }
    }
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
    const live = ch.live;
    if (live === null) {
      // only pending subscribers
    } else if (!(live instanceof Set)) {
      if (this.admits(live, excludeSeq, seams, msg.frame) && this.outbox.push(live, frame)) n++;
    } else if (exclude === undefined && seams === null) {
      for (const conn of live) if (this.outbox.push(conn, frame)) n++;
    } else {
      for (const conn of live) if (this.admits(conn, excludeSeq, seams, msg.frame) && this.outbox.push(conn, frame)) n++;
    }
    if (ch.pending !== null) for (const buffered of ch.pending.values()) buffered.push(msg);
    if (n > 0) this.metrics.delivered.inc(n);
    if (msg.offset !== undefined) this.metrics.fanoutLatency.observe(Math.max(0, this.now() - msg.ts) / 1000);
  }

  /** The sequence number of one of this node's connection ids; -1 for any other string. */
  private seqOf(id: string): number {
    if (!id.startsWith(this.idPrefix)) return -1;
    const digits = id.slice(this.idPrefix.length);
    const seq = parseInt(digits, 36);
    return Number.isSafeInteger(seq) && seq.toString(36) === digits ? seq : -1;
  }

  private admits(conn: Connection, excludeSeq: number, seams: Map<Connection, Seam> | null, frame: string): boolean {
    if (conn.seq === excludeSeq) return false;
    const seam = seams?.get(conn);
    return seam === undefined || seam.admit(frame);
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
   * The bus may have missed messages of these channels (e.g. a Redis reconnect). Local subscribers
   * get what history still holds; where it cannot fill the gap, they are closed with 4000 so their
   * client reconnects at once and resubscribes with `since` (getting `recovered: false`).
   */
  resync(channels: string[]): void {
    for (const name of channels) {
      const ch = this.channels.get(name);
      if (ch === undefined || ch.epoch === undefined) continue;
      const { epoch, lastOffset } = ch;
      this.bus.history(name, { since: lastOffset, limit: Math.max(1, this.config.historySize) }).then(
        (h) => {
          if (h.position.epoch === epoch && h.complete && h.messages.length === h.position.offset - lastOffset) {
            for (const m of h.messages) this.message(m);
          } else {
            for (const conn of fewList(ch.live)) conn.close(CLOSE_CODES.server_restarting, 'server_restarting');
          }
        },
        (err: unknown) => this.logger.warn({ err, channel: name }, 'resync failed'),
      );
    }
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

  // ---- internals -----------------------------------------------------------------------------

  private tick(): void {
    const now = this.now();
    for (const [conn, deadline] of this.unauthenticated) {
      if (now >= deadline) conn.close(CLOSE_CODES.auth_timeout, 'auth_timeout');
    }
    for (const conn of this.expiring) {
      if (conn.exp * 1000 <= now) conn.close(CLOSE_CODES.token_expired, 'token_expired');
    }
    if (now >= this.nextPingAt) {
      this.nextPingAt = now + this.config.heartbeatMs;
      this.pingRound = { iter: this.sockets.values(), size: this.sockets.size, start: now, done: 0 };
      this.presence.heartbeat();
    }
    if (this.pingRound !== null) this.heartbeat(now);
  }

  /**
   * Pings the connections of the current round, spread over the first half of the heartbeat (at
   * most HEARTBEAT_SPREAD_MS): 20k pings and 20k pongs at once stall every fanout for half a second.
   * A connection is checked one round (heartbeatMs) after its ping, give or take the spread, so it
   * always has at least half a heartbeat to answer. Few connections are all pinged at the round's start.
   */
  private heartbeat(now: number): void {
    const round = this.pingRound!;
    const spread = Math.min(this.config.heartbeatMs / 2, HEARTBEAT_SPREAD_MS);
    const due = Math.ceil((round.size * (now - round.start + this.tickMs)) / spread);
    while (round.done < due) {
      const next = round.iter.next();
      if (next.done === true) {
        this.pingRound = null;
        return;
      }
      round.done++;
      const conn = next.value;
      if (conn.state !== OPEN) continue;
      if (!conn.alive) {
        conn.close(CLOSE_CODES.heartbeat_timeout, 'heartbeat_timeout');
        continue;
      }
      conn.alive = false;
      this.outbox.push(conn, PING);
    }
  }

  private channel(name: string): Channel {
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
  private detach(conn: Connection, name: string): Promise<void> {
    const ch = this.channels.get(name);
    if (ch !== undefined) {
      if (fewHas(ch.live, conn)) {
        ch.live = fewDelete(ch.live, conn);
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

  private report(ch: Channel): void {
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
