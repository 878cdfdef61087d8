/**
 * A channel with local subscribers: its state, and everything that changes it.
 *
 * - Fanout: a bus message becomes ONE Buffer (the complete WebSocket frame) handed to every live
 *   subscriber through the outbox; nothing is serialized per subscriber.
 * - Attach (the recovery seam): a subscriber is first *pending*: messages for it are buffered while
 *   the bus subscription is made (shared by the channel's local subscribers), its presence entry
 *   added (`presence-` channels, presence-tracker.ts) and then the channel's position, or its
 *   history after `since`, read. It then gets `subscribed`, the recovered messages and the buffered
 *   messages newer than the position read, and goes live. `subscribed` and the recovered messages
 *   go out as the client reads (the outbox's backlog), however many bytes they are. So nothing is lost or duplicated while
 *   publishes race the (re)subscribe. The channel's own position (`epoch`, `lastOffset`: what its
 *   live subscribers have been given) starts at its first live subscriber's; a subscriber given a
 *   newer position (a read that ran ahead of live delivery) is kept in `ahead` until the channel
 *   catches up, and messages up to its position are skipped for it: each subscriber gets each
 *   offset once.
 * - Catch-up (catch-up.ts): after a bus reconnect, a gap in the live offsets, or a new epoch arriving
 *   live, live frames are held while history fills the gap; where it cannot, live subscribers get an
 *   unsolicited `subscribed` with `recovered: false`.
 * - `excludeConnectionId` is honoured live, on replay and on catch-up.
 */
import type { Logger } from 'pino';
import { BAD_CHANNEL_MESSAGE, CLOSE_CODES, isPresenceChannel, isValidChannel, matchAny, type SubscribeFrame } from '@river/protocol';
import type { Bus, BusMessage, StreamPosition, TapHandler } from '../engines/bus.js';
import type { Config } from '../config.js';
import { CatchUp, type Snapshot } from './catch-up.js';
import type { Connection } from './connection.js';
import { fewAdd, fewDelete, fewHas, fewList, fewSize, type Few } from './few.js';
import type { Metrics } from '../metrics.js';
import type { Outbox } from './outbox.js';
import type { PresenceTracker, Seam } from './presence-tracker.js';
import { subscribedFrame, textFrame } from './frames.js';

/** What the channels need of their node (the hub). */
export interface ChannelPort {
  readonly config: Pick<Config, 'maxSubscriptions' | 'requireChannelClaims'>;
  readonly bus: Bus;
  readonly outbox: Outbox;
  readonly presence: PresenceTracker;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** How many messages a replay or a catch-up reads at most. */
  readonly historySize: number;
  now(): number;
  /** The sequence number of one of this node's connection ids; -1 for any other string. */
  seqOf(connectionId: string): number;
}

/**
 * The node's channels with local subscribers, by name: a connection's subscribe frame and every
 * bus message come here and go straight to their `Channel`. The hub holds it and hands `message`
 * to the bus as its message handler.
 *
 * Bus subscriptions are reference-counted: a channel subscribes the bus when it opens for its first
 * local subscriber and unsubscribes it when the last leaves (the engine applies a channel's
 * subscribe and unsubscribe calls in call order: the `Bus` contract).
 */
export class Channels {
  private readonly open = new Map<string, Channel>();
  /** The tap of this node's own channels, set only when the bus cannot tap the cluster (tap.ts). */
  localTap: TapHandler | null = null;

  constructor(readonly port: ChannelPort) {}

  /** The bus's message handler (`BusHandlers.message`): a message or presence frame for a channel. */
  readonly message = (msg: BusMessage): void => {
    if (this.localTap !== null) this.localTap(msg);
    this.open.get(msg.channel)?.receive(msg);
  };

  get(name: string): Channel | undefined {
    return this.open.get(name);
  }

  [Symbol.iterator](): IterableIterator<Channel> {
    return this.open.values();
  }

  /** Checks a subscribe request, then subscribes `conn` through the channel's recovery seam (`Channel.attach`). */
  async subscribe(conn: Connection, frame: SubscribeFrame): Promise<void> {
    const { config, logger } = this.port;
    const { channel: name, id } = frame;
    if (!isValidChannel(name)) return conn.sendError('bad_channel', BAD_CHANNEL_MESSAGE, id, name);
    if (fewHas(conn.subs, name)) return conn.sendError('bad_request', 'already subscribed to this channel', id, name);
    if (fewSize(conn.subs) >= config.maxSubscriptions) {
      return conn.sendError('too_many_subscriptions', `at most ${config.maxSubscriptions} subscriptions per connection`, id, name);
    }
    const patterns = conn.identity!.channels;
    if (patterns === undefined ? config.requireChannelClaims : !matchAny(patterns, name)) {
      return conn.sendError('forbidden', 'the token\'s "channels" claim does not allow this channel', id, name);
    }
    logger.debug({ connectionId: conn.id, userId: conn.userId, channel: name }, 'subscribe');
    let ch = this.open.get(name);
    if (ch === undefined) {
      // The first local subscriber: register the channel and start its bus subscription.
      ch = new Channel(name, this, this.port.bus.subscribe(name));
      this.open.set(name, ch);
      this.port.metrics.channels.inc();
    }
    return ch.attach(conn, frame);
  }

  /** Removes one local subscription; resolves when its presence entry (if any) is gone. */
  detach(conn: Connection, name: string): Promise<void> {
    const ch = this.open.get(name);
    if (ch !== undefined) {
      ch.remove(conn);
      if (ch.idle) {
        this.open.delete(name);
        this.port.metrics.channels.dec();
        this.port.bus.unsubscribe(name).catch((err: unknown) => this.port.logger.warn({ err, channel: name }, 'bus unsubscribe failed'));
      }
    }
    return isPresenceChannel(name) ? this.port.presence.leave(name, conn) : Promise.resolve();
  }

  /** Whether `ch` is still the channel of its name (it has local subscribers). */
  isOpen(ch: Channel): boolean {
    return this.open.get(ch.name) === ch;
  }
}

export class Channel {
  /** Live local subscribers (usually one: kept as the connection itself until a second arrives). */
  private live: Few<Connection> = null;
  /** Newest offset fanned out to the live subscribers, in `epoch` (duplicate guard). */
  private lastOffset = 0;
  /** Undefined until the first subscriber is live (or a message arrived while all were pending). */
  private epoch: string | undefined = undefined;
  /**
   * What a channel holds only for a while (see `Passing`): one object while any of it is set, null
   * otherwise, so an idle channel keeps one field where it would keep six. Read and written through
   * the accessors below.
   */
  private passing: Passing | null = null;

  /** Subscribers between `subscribe` and `subscribed`, with the messages buffered for them. */
  private get pending(): Map<Connection, BusMessage[]> | null {
    return this.passing === null ? null : this.passing.pending;
  }
  private set pending(v: Map<Connection, BusMessage[]> | null) {
    this.setPassing('pending', v);
  }
  /** Presence seams of new subscribers (see presence-tracker.ts). */
  private get seams(): Map<Connection, Seam> | null {
    return this.passing === null ? null : this.passing.seams;
  }
  private set seams(v: Map<Connection, Seam> | null) {
    this.setPassing('seams', v);
  }
  /** Resolves when the bus subscription is in place; null once it is. */
  private get busSubscribed(): Promise<void> | null {
    return this.passing === null ? null : this.passing.busSubscribed;
  }
  private set busSubscribed(v: Promise<void> | null) {
    this.setPassing('busSubscribed', v);
  }
  /** Live subscribers given a newer position than the channel's: skip messages up to it for them. */
  private get ahead(): Map<Connection, StreamPosition> | null {
    return this.passing === null ? null : this.passing.ahead;
  }
  private set ahead(v: Map<Connection, StreamPosition> | null) {
    this.setPassing('ahead', v);
  }
  /** Frames held while the channel catches up (catch-up.ts); null otherwise. */
  private get catchUp(): CatchUp | null {
    return this.passing === null ? null : this.passing.catchUp;
  }
  private set catchUp(v: CatchUp | null) {
    this.setPassing('catchUp', v);
  }
  /** The bus asked for a catch-up while no subscriber was live yet: catch up when the first one is. */
  private get stale(): boolean {
    return this.passing === null ? false : this.passing.stale;
  }
  private set stale(v: boolean) {
    this.setPassing('stale', v);
  }

  private setPassing<K extends keyof Passing>(key: K, value: Passing[K]): void {
    let p = this.passing;
    if (p === null) {
      if (value === null || value === false) return;
      p = this.passing = { pending: null, seams: null, busSubscribed: null, ahead: null, catchUp: null, stale: false };
    }
    p[key] = value;
    if (p.pending === null && p.seams === null && p.busSubscribed === null && p.ahead === null && p.catchUp === null && !p.stale) {
      this.passing = null;
    }
  }

  /** `busSubscribed`: the bus subscription the registry started for this channel. */
  constructor(
    readonly name: string,
    private readonly channels: Channels,
    busSubscribed: Promise<void>,
  ) {
    this.busSubscribed = busSubscribed;
    busSubscribed.then(
      () => {
        if (this.busSubscribed === busSubscribed) this.busSubscribed = null;
      },
      () => {},
    );
  }

  // Derived, not stored: every field is kept once per channel (one per connection when each has its own).
  private get port(): ChannelPort {
    return this.channels.port;
  }

  get presence(): boolean {
    return isPresenceChannel(this.name);
  }

  /** Local subscribers, live and pending (what the bus is told). */
  get subscriberCount(): number {
    return fewSize(this.live) + (this.pending?.size ?? 0);
  }

  get idle(): boolean {
    return this.live === null && this.pending === null;
  }

  // ---- attach / replay / go live --------------------------------------------------------------

  /** Subscribes `conn` (whose request `Channels.subscribe` has checked) through the seam described above. */
  async attach(conn: Connection, frame: SubscribeFrame): Promise<void> {
    const { port } = this;
    const { channel: name, since, id } = frame;
    const buffer: BusMessage[] = [];
    (this.pending ??= new Map()).set(conn, buffer);
    conn.subs = fewAdd(conn.subs, name);
    this.report();
    const stillPending = () => this.pending?.get(conn) === buffer;
    try {
      if (this.busSubscribed !== null) await this.busSubscribed;
      let members: string | undefined;
      let seam: Seam | undefined;
      if (this.presence) {
        const joined = await port.presence.join(name, conn, stillPending);
        if (joined === undefined) return; // gone meanwhile; the tracker cleaned up
        ({ json: members, seam } = joined);
      }
      let position: StreamPosition;
      let recovered: boolean | undefined;
      let replay: BusMessage[] = [];
      if (since !== undefined) {
        const h = await port.bus.history(name, { since: since.offset, limit: Math.max(1, port.historySize) });
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
        position = await port.bus.position(name);
      }
      if (!stillPending()) return;

      const subscribed = subscribedFrame({ channel: name, epoch: position.epoch, offset: position.offset, recovered, members, id });
      const connId = conn.id;
      if (replay.length === 0 && members === undefined) {
        conn.send(subscribed);
      } else {
        // The answer can be far larger than maxBufferedBytes (a long replay, a big members list): it
        // goes out as the socket drains and never counts as slowness (outbox.ts: backlog).
        const answer: (() => Buffer)[] = [() => textFrame(subscribed)];
        for (const m of replay) if (m.excludeConnectionId !== connId) answer.push(() => textFrame(m.frame));
        port.outbox.pushBacklog(conn, answer);
      }
      // What this subscriber has been given: the position read, then the buffered messages after it.
      const given: StreamPosition = { epoch: position.epoch, offset: position.offset };
      let inconsistent = false;
      for (const m of buffer) {
        if (m.offset !== undefined) {
          if (m.epoch !== position.epoch) {
            inconsistent = true; // another epoch than the one read: let a catch-up sort it out
            continue;
          }
          if (m.offset <= given.offset) continue;
          given.offset = m.offset;
        } else if (seam !== undefined && !seam.admit(m.frame)) {
          continue;
        }
        if (m.excludeConnectionId !== connId) port.outbox.push(conn, textFrame(m.frame));
      }
      this.pending!.delete(conn);
      if (this.pending!.size === 0) this.pending = null;
      this.goLive(conn, given);
      if (seam !== undefined) {
        (this.seams ??= new Map()).set(conn, seam);
        port.presence.trackSeams(this);
      }
      port.metrics.subscriptions.inc();
      if (inconsistent || this.stale) {
        this.stale = false;
        this.startCatchUp();
      }
    } catch (err) {
      port.logger.warn({ err, channel: name }, 'subscribe failed');
      if (stillPending()) {
        conn.subs = fewDelete(conn.subs, name);
        await this.channels.detach(conn, name);
        conn.sendError('unavailable', 'the bus is unavailable; try again', id, name);
      }
    }
  }

  /** A pending subscriber that was given `given` becomes live. */
  private goLive(conn: Connection, given: StreamPosition): void {
    if (this.live === null) {
      // The first live subscriber: the channel's position is the one it was given.
      if (given.epoch !== this.epoch || given.offset > this.lastOffset) {
        this.epoch = given.epoch;
        this.lastOffset = given.offset;
        if (this.catchUp !== null) this.catchUp.again = true;
      }
    } else if (given.epoch !== this.epoch || given.offset > this.lastOffset) {
      (this.ahead ??= new Map()).set(conn, given);
    }
    this.live = fewAdd(this.live, conn);
  }

  /** Removes one subscriber, live or pending. */
  remove(conn: Connection): void {
    if (fewHas(this.live, conn)) {
      this.live = fewDelete(this.live, conn);
      if (this.ahead?.delete(conn) && this.ahead.size === 0) this.ahead = null;
      this.port.metrics.subscriptions.dec();
    } else if (this.pending?.delete(conn) && this.pending.size === 0) this.pending = null;
    if (this.seams?.delete(conn) && this.seams.size === 0) this.seams = null;
    this.report();
  }

  /** Reports the channel's local subscriber count (live and pending) to the bus. */
  private report(): void {
    this.port.bus.reportSubscribers(this.name, this.subscriberCount);
  }

  // ---- live messages ---------------------------------------------------------------------------

  /** A message from the bus for this channel. */
  receive(msg: BusMessage): void {
    // Presence frames are coalesced per channel for a few ms (presence-tracker.ts), then come back here.
    if (msg.offset === undefined && this.presence && this.port.presence.coalesce(msg)) return;
    if (this.catchUp !== null) return this.catchUp.hold(msg);
    if (msg.offset !== undefined && this.live !== null) {
      // A new epoch (the channel's state was lost in the bus) or skipped offsets (a message lost on
      // the way): fill the gap from history, or tell the subscribers it cannot be filled.
      if (msg.epoch !== this.epoch || msg.offset > this.lastOffset + 1) return this.startCatchUp([msg]);
    }
    this.fanout(msg);
  }

  /** Fans a message out in the channel's order: an offset it already fanned out is dropped. */
  private fanout(msg: BusMessage): void {
    const { port } = this;
    if (msg.offset !== undefined) {
      if (msg.epoch === this.epoch && msg.offset <= this.lastOffset) return; // already fanned out
      this.epoch = msg.epoch;
      this.lastOffset = msg.offset;
    }
    const frame = textFrame(msg.frame);
    let n = 0;
    const exclude = msg.excludeConnectionId;
    const excludeSeq = exclude === undefined ? -1 : port.seqOf(exclude);
    const seams = msg.offset === undefined ? this.seams : null;
    const ahead = msg.offset === undefined ? null : this.ahead;
    const live = this.live;
    if (live === null) {
      // only pending subscribers
    } else if (!(live instanceof Set)) {
      if (admits(live, excludeSeq, seams, ahead, msg) && port.outbox.push(live, frame)) n++;
    } else if (exclude === undefined && seams === null && ahead === null) {
      for (const conn of live) if (port.outbox.push(conn, frame)) n++;
    } else {
      for (const conn of live) if (admits(conn, excludeSeq, seams, ahead, msg) && port.outbox.push(conn, frame)) n++;
    }
    if (this.pending !== null) for (const buffered of this.pending.values()) buffered.push(msg);
    if (ahead !== null) {
      for (const [conn, pos] of ahead) if (pos.epoch === this.epoch && pos.offset <= this.lastOffset) ahead.delete(conn);
      if (ahead.size === 0) this.ahead = null;
    }
    if (n > 0) port.metrics.delivered.inc(n);
    if (msg.offset !== undefined) port.metrics.fanoutLatency.observe(Math.max(0, port.now() - msg.ts) / 1000);
  }

  // ---- catch-up ----------------------------------------------------------------------------------

  /** The bus may have missed messages of this channel: catch up now, or once the first subscriber is live. */
  resync(): void {
    if (this.live === null) this.stale = true;
    else this.startCatchUp();
  }

  /** Starts a catch-up (or makes the running one read again), holding `held` first. */
  private startCatchUp(held: BusMessage[] = []): void {
    if (this.catchUp !== null) {
      this.catchUp.held.push(...held);
      this.catchUp.again = true;
      return;
    }
    const cu = new CatchUp(this.name, this.port.logger, held, {
      open: () => this.channels.isOpen(this),
      position: () => ({ epoch: this.epoch, offset: this.lastOffset }),
      history: (since) => this.port.bus.history(this.name, { since, limit: Math.max(1, this.port.historySize) }),
      snapshot: () => (this.presence ? this.port.presence.snapshot(this.name) : undefined),
      fill: (messages) => {
        for (const m of messages) this.fanout(m);
      },
      lost: (position, snapshot) => this.announceLost(position, snapshot),
      overflow: () => {
        for (const conn of fewList(this.live)) conn.close(CLOSE_CODES.server_restarting, 'server_restarting');
      },
      done: (held) => {
        if (this.catchUp === cu) this.catchUp = null;
        if (!this.channels.isOpen(this)) return;
        // Through the normal path: the duplicate guard drops what was delivered; a new gap catches up again.
        for (const m of held) this.receive(m);
      },
    });
    this.catchUp = cu;
    cu.start();
  }

  /**
   * The channel's position is lost for its live subscribers: each one (except those already given a
   * position at least as new, in this epoch) gets the unsolicited `subscribed` with `recovered:false`.
   */
  private announceLost(position: StreamPosition, snapshot: Snapshot | undefined): void {
    this.epoch = position.epoch;
    this.lastOffset = position.offset;
    const frame = textFrame(
      subscribedFrame({ channel: this.name, epoch: position.epoch, offset: position.offset, recovered: false, members: snapshot?.json }),
    );
    const told: Connection[] = [];
    for (const conn of fewList(this.live)) {
      const ahead = this.ahead?.get(conn);
      if (ahead !== undefined && ahead.epoch === position.epoch && ahead.offset >= position.offset) continue;
      this.ahead?.delete(conn);
      // With a members list it may be larger than maxBufferedBytes: sent as the client reads (outbox.ts).
      if (snapshot === undefined) this.port.outbox.push(conn, frame);
      else this.port.outbox.pushBacklog(conn, [() => frame]);
      told.push(conn);
    }
    if (this.ahead?.size === 0) this.ahead = null;
    if (snapshot !== undefined && told.length > 0) {
      const seams = (this.seams ??= new Map());
      for (const conn of told) seams.set(conn, snapshot.seam());
      this.port.presence.trackSeams(this);
    }
    this.port.logger.info(
      { channel: this.name, epoch: position.epoch, offset: position.offset, subscribers: told.length },
      'channel position lost: subscribers told recovered:false',
    );
  }

  // ---- presence seams ----------------------------------------------------------------------------

  /** Drops the seams older than `generation`; whether any are left (presence-tracker.ts). */
  expireSeams(generation: number): boolean {
    if (this.seams !== null) {
      for (const [conn, seam] of this.seams) if (seam.generation < generation) this.seams.delete(conn);
      if (this.seams.size === 0) this.seams = null;
    }
    return this.seams !== null;
  }
}

/** A channel's passing state (`Channel.passing`): a subscribe in progress, presence seams, subscribers ahead, a catch-up. */
interface Passing {
  pending: Map<Connection, BusMessage[]> | null;
  seams: Map<Connection, Seam> | null;
  busSubscribed: Promise<void> | null;
  ahead: Map<Connection, StreamPosition> | null;
  catchUp: CatchUp | null;
  stale: boolean;
}

/** Whether a message goes to `conn`: not excluded, not behind its position, past its presence seam. */
function admits(
  conn: Connection,
  excludeSeq: number,
  seams: Map<Connection, Seam> | null,
  ahead: Map<Connection, StreamPosition> | null,
  msg: BusMessage,
): boolean {
  if (conn.seq === excludeSeq) return false;
  if (ahead !== null) {
    const pos = ahead.get(conn);
    if (pos !== undefined && (pos.epoch !== msg.epoch || msg.offset! <= pos.offset)) return false;
  }
  const seam = seams?.get(conn);
  return seam === undefined || seam.admit(msg.frame);
}
