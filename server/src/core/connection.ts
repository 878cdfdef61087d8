/**
 * One client WebSocket: the per-socket protocol state machine of docs/protocol.md#1-connecting and docs/protocol.md#2-frames.
 *
 *   AUTHENTICATING --auth frame--> VERIFYING --valid token--> OPEN --close()/socket gone--> CLOSING --> CLOSED
 *                                           \--bad token-----------------------------> CLOSING (4500)
 *
 * Frames of one connection are handled one at a time, in order (a frame that needs the bus holds
 * the ones after it in a small inbox), so replies come back in request order. Timers are not kept
 * here: the hub's single node-wide tick checks auth deadlines, token expiry and heartbeats.
 *
 * The WebSocket layer is `ws` (handshake, frame parsing, UTF-8 validation, control frames, the
 * closing handshake). Every outgoing data frame is a prebuilt Buffer written to the connection's
 * socket through the node's `Outbox` (the same bytes for every subscriber of a message); ws's own
 * sender only writes pongs to the client's WebSocket pings and the close frame, each a whole
 * frame, so the two never interleave inside a frame. ws's events reach the connection through
 * `RiverWebSocket.emit`: no listener, no closure per socket.
 */
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import {
  BAD_CHANNEL_MESSAGE,
  CLOSE_CODES,
  isValidChannel,
  matchAny,
  parseClientFrame,
  type ClientFrame,
  type ClientPublishFrame,
  type ErrorCode,
  type RequestId,
  type SubscribeFrame,
} from '@river/protocol';
import type { Bus } from '../engines/bus.js';
import type { Config } from '../config.js';
import type { Identity, TokenVerifier } from '../auth.js';
import type { Logger } from 'pino';
import type { CloseReason, Metrics } from '../metrics.js';
import type { BacklogEntry, Outbox, OutboxPeer } from './outbox.js';
import type { Few } from './few.js';
import { TokenError } from '../errors.js';
import { errorFrame, PONG_FRAME, publishedFrame, readyFrame, textFrame } from './frames.js';

export const AUTHENTICATING = 0;
export const VERIFYING = 1;
export const OPEN = 2;
export const CLOSING = 3;
export const CLOSED = 4;
export type ConnectionState = typeof AUTHENTICATING | typeof VERIFYING | typeof OPEN | typeof CLOSING | typeof CLOSED;

/**
 * How long a connection the server closed may keep its socket before it is destroyed (ws's
 * `closeTimeout`). Long enough for a slow consumer that reads again to get through the backlog
 * still in its socket buffer to the 4003 close frame behind it.
 */
export const CLOSE_GRACE_MS = 10_000;
/** Frames waiting behind a slow (bus-bound) frame; past this the client is flooding us. */
const MAX_INBOX = 256;

/** What a connection needs from its node (the hub implements it). */
export interface ConnectionHost {
  readonly config: Config;
  readonly outbox: Outbox;
  readonly verifier: TokenVerifier;
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Prefix of this node's connection ids. */
  readonly idPrefix: string;
  /** When the node started (ms, on `now()`'s clock): connections keep their times relative to it (small integers, no box). */
  readonly startedAt: number;
  now(): number;
  authenticated(conn: Connection): void;
  /** Where a subscribe frame goes (the node's `Channels`, channel.ts). */
  readonly channels: { subscribe(conn: Connection, frame: SubscribeFrame): Promise<void> };
  unsubscribe(conn: Connection, channel: string, id: RequestId | undefined): Promise<void>;
  /** Called once, when the connection starts closing or its socket is gone, whichever comes first. */
  release(conn: Connection): void;
  /** Called once, when the socket is closed. */
  closed(conn: Connection): void;
}

/**
 * The WebSocket class of the node's server (ws's `WebSocket` option, node.ts): ws's events for a
 * hub connection go straight to its `Connection`, with no listener registered per socket. (Five
 * listeners on a WebSocket cost ~280 bytes per connection: ws's event table turns into a dictionary.)
 * A socket the hub does not own (the admin tap's, tap.ts) keeps ws's ordinary events.
 */
export class RiverWebSocket extends WebSocket {
  /** Its connection; undefined for a socket the hub does not own, null once the connection is gone. */
  conn: Connection | null | undefined = undefined;

  /** Hands this socket's events to `conn` (once, from the connection's constructor). */
  own(conn: Connection): void {
    this.conn = conn;
    // Its events no longer go through EventEmitter: drop the listener table while it is empty (V8
    // keeps it as a dictionary, ~180 bytes per socket). EventEmitter makes a new one if a listener
    // is ever added (it treats an undefined table as empty everywhere).
    if (this.eventNames().length === 0) (this as unknown as { _events: unknown })._events = undefined;
  }

  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own signature
  override emit(event: string | symbol, ...args: any[]): boolean {
    const conn = this.conn;
    if (conn === undefined) return super.emit(event, ...args);
    if (conn === null) return false;
    switch (event) {
      case 'message':
        conn.receive(args[0] as RawData, args[1] as boolean);
        return true;
      case 'ping':
        // A WebSocket-level ping from the client: a sign of life, and a frame like any other against
        // `maxFramesPerSecond` (ws's own autoPong is off, node.ts): answered with a pong while within
        // the limit, closed 4008 past it. A flood of pings costs no more than a flood of messages.
        if (conn.controlFrame()) this.pong(args[0] as Buffer);
        return true;
      case 'pong':
        // An unsolicited WebSocket-level pong counts too.
        conn.controlFrame();
        return true;
      case 'close':
        conn.gone(args[0] as number, args[1] as Buffer);
        return true;
      case 'error': {
        // ws reports framing errors (1002, 1007, 1009) here and closes the socket itself; 'close' follows.
        const err = args[0] as Error & { code?: string };
        conn.host.logger.debug({ code: err.code, reason: err.message }, 'websocket error');
        return true;
      }
      default:
        return false;
    }
  }
}

export class Connection implements OutboxPeer {
  state: ConnectionState = AUTHENTICATING;
  identity: Identity | undefined = undefined;
  /**
   * Token expiry: the JWT's `exp`, seconds since the epoch; 0 = never. (Seconds, not ms: a small
   * integer is stored in the object, a ms timestamp in a separate 16-byte box per connection.)
   */
  exp = 0;
  /** A frame arrived since the last ping. */
  alive = true;
  /** When the socket was accepted: seconds after the hub started (a small integer, no box). */
  since = 0;
  /** Channels subscribed or being subscribed (the name itself while there is one). */
  subs: Few<string> = null;
  /** Token bucket, in thousandths of a frame (an integer: no box per connection). */
  private milliTokens: number;
  /** Last refill: ms after `host.startedAt` (a small integer kept in the object, where a timestamp takes a 16-byte box). */
  private refilledAt: number;
  private inbox: string[] | null = null;
  private busy = false;
  // OutboxPeer
  out: Buffer | Buffer[] | null = null;
  outBytes = 0;
  dirty = false;
  held = false;
  writable = true;
  backlog: BacklogEntry[] | null = null;

  /** Takes over `ws`, just upgraded on `socket` (the request is not kept). */
  constructor(
    /** Unique on this node; the connection id is `host.idPrefix` + this in base 36. */
    readonly seq: number,
    readonly ws: RiverWebSocket,
    readonly socket: Socket,
    readonly host: ConnectionHost,
  ) {
    this.milliTokens = host.config.maxFramesPerSecond * 2000;
    this.refilledAt = host.now() - host.startedAt;
    ws.own(this);
  }

  /** The opaque connection id of the `ready` frame (built on demand: not kept per connection). */
  get id(): string {
    return this.host.idPrefix + this.seq.toString(36);
  }

  get userId(): string | undefined {
    return this.identity?.userId;
  }

  /** Queues one JSON frame text. */
  send(json: string): void {
    this.host.outbox.push(this, textFrame(json));
  }

  sendError(code: ErrorCode, message: string, id?: RequestId, channel?: string): void {
    this.send(errorFrame({ code, message, channel, id }));
  }

  /**
   * Closes with a River close code. Frames already queued go out first, except for a slow
   * consumer whose queue was dropped. ws destroys the socket `CLOSE_GRACE_MS` later if the client
   * has not completed the closing handshake, so the cut is real.
   */
  close(code: number, reason: CloseReason | 'going_away'): void {
    if (this.state >= CLOSING) return;
    this.host.logger.debug({ connectionId: this.id, userId: this.userId, code, reason, by: 'server' }, 'close');
    if (reason !== 'slow_consumer') this.host.outbox.flushPeer(this);
    this.state = CLOSING;
    this.writable = false;
    this.inbox = null;
    if (reason !== 'going_away') this.host.metrics.closes.inc({ reason });
    this.host.release(this);
    try {
      this.ws.close(code, reason);
    } catch {
      this.ws.terminate();
    }
  }

  /** Drops the socket at once (node shutdown). */
  terminate(): void {
    this.writable = false;
    this.ws.terminate();
  }

  /** OutboxPeer: the outgoing buffer is over maxBufferedBytes. */
  slow(): void {
    this.close(CLOSE_CODES.slow_consumer, 'slow_consumer');
  }

  /** @internal The socket is closed (by either side); `code`/`reason`: what the client's close frame said, when it closed first. */
  gone(code?: number, reason?: Buffer): void {
    const wasClosing = this.state >= CLOSING;
    if (!wasClosing) {
      const text = reason !== undefined && reason.length > 0 ? reason.toString('utf8', 0, 123) : undefined;
      this.host.logger.debug({ connectionId: this.id, userId: this.userId, code, reason: text, by: 'client' }, 'close');
    }
    this.state = CLOSED;
    this.writable = false;
    this.inbox = null;
    this.host.outbox.drop(this);
    this.ws.conn = null;
    if (!wasClosing) this.host.release(this);
    this.host.closed(this);
  }

  /** @internal One data message from ws. */
  receive(data: RawData, isBinary: boolean): void {
    if (this.state >= CLOSING) return;
    this.alive = true;
    if (!this.allowFrame()) {
      this.close(CLOSE_CODES.rate_limited, 'rate_limited');
      return;
    }
    if (isBinary) {
      this.close(CLOSE_CODES.protocol_error, 'protocol_error');
      return;
    }
    // binaryType is ws's default 'nodebuffer': a Buffer, or a list of them for a fragmented message.
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : (data as Buffer).toString('utf8');
    if (this.busy || this.state === VERIFYING) {
      const inbox = (this.inbox ??= []);
      if (inbox.length >= MAX_INBOX) {
        this.close(CLOSE_CODES.rate_limited, 'rate_limited');
        return;
      }
      inbox.push(text);
      return;
    }
    this.handle(text);
  }

  /** @internal A WebSocket ping or pong: counted; false (and closed 4008) past the limit. */
  controlFrame(): boolean {
    if (this.state >= CLOSING) return false;
    this.alive = true;
    if (this.allowFrame()) return true;
    this.close(CLOSE_CODES.rate_limited, 'rate_limited');
    return false;
  }

  /** Token bucket: `maxFramesPerSecond` per second, burst 2×. */
  private allowFrame(): boolean {
    const rate = this.host.config.maxFramesPerSecond;
    const now = this.host.now() - this.host.startedAt;
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.milliTokens = Math.min(rate * 2000, this.milliTokens + Math.floor(elapsed * rate));
      this.refilledAt = now;
    }
    if (this.milliTokens < 1000) return false;
    this.milliTokens -= 1000;
    return true;
  }

  private handle(text: string): void {
    const parsed = parseClientFrame(text);
    if (!parsed.ok && parsed.fatal) {
      this.close(CLOSE_CODES.protocol_error, 'protocol_error');
      return;
    }
    if (this.state === AUTHENTICATING) {
      if (!parsed.ok || parsed.frame.type !== 'auth') {
        this.close(CLOSE_CODES.token_invalid, 'token_invalid');
        return;
      }
      this.run(this.authenticate(parsed.frame.token));
      return;
    }
    if (!parsed.ok) {
      this.sendError(parsed.code, parsed.message, parsed.id, parsed.channel);
      return;
    }
    const work = this.dispatch(parsed.frame);
    if (work !== undefined) this.run(work);
  }

  /** Holds later frames until `work` settles, then handles them in order. */
  private run(work: Promise<void>): void {
    this.busy = true;
    work
      .catch((err: unknown) => {
        this.host.logger.error({ err, connectionId: this.id }, 'frame handler failed');
        if (this.state === OPEN) this.sendError('internal', 'internal error');
      })
      .finally(() => {
        this.busy = false;
        this.drainInbox();
      });
  }

  private drainInbox(): void {
    while (!this.busy && this.state < CLOSING && this.state !== VERIFYING && this.inbox !== null && this.inbox.length > 0) {
      this.handle(this.inbox.shift()!);
    }
    if (this.inbox !== null && this.inbox.length === 0) this.inbox = null;
  }

  private dispatch(frame: ClientFrame): Promise<void> | undefined {
    switch (frame.type) {
      case 'ping':
        this.send(PONG_FRAME);
        return undefined;
      case 'pong':
        return undefined;
      case 'auth':
        this.sendError('bad_request', 'already authenticated', frame.id);
        return undefined;
      case 'refresh':
        return this.refresh(frame.token, frame.id);
      case 'subscribe':
        return this.host.channels.subscribe(this, frame);
      case 'unsubscribe':
        return this.host.unsubscribe(this, frame.channel, frame.id);
      case 'publish':
        return this.publish(frame);
    }
  }

  private async authenticate(token: string): Promise<void> {
    this.state = VERIFYING;
    let identity: Identity;
    try {
      identity = await this.host.verifier.verify(token);
    } catch (err) {
      this.host.logger.debug({ connectionId: this.id, result: 'refused', reason: (err as Error).message }, 'connect');
      // An expired token is the one refusal a fresh token fixes: 4002, so the client reconnects with one.
      if (err instanceof TokenError && err.expired) this.close(CLOSE_CODES.token_expired, 'token_expired');
      else this.close(CLOSE_CODES.token_invalid, 'token_invalid');
      return;
    }
    if (this.state !== VERIFYING) return; // closed meanwhile (auth timeout, socket gone)
    this.identity = identity;
    this.exp = identity.exp ?? 0;
    this.state = OPEN;
    this.host.authenticated(this);
    this.host.logger.debug({ connectionId: this.id, userId: identity.userId, result: 'ok' }, 'connect');
    this.send(readyFrame({ connectionId: this.id, userId: identity.userId, heartbeatMs: this.host.config.heartbeatMs }));
  }

  private async refresh(token: string, id: RequestId | undefined): Promise<void> {
    let identity: Identity;
    try {
      identity = await this.host.verifier.verify(token);
    } catch (err) {
      this.sendError('token_invalid', (err as Error).message, id);
      return;
    }
    if (this.state !== OPEN) return;
    if (identity.userId !== this.identity!.userId) {
      this.sendError('token_invalid', 'a refresh token must be for the same "sub"', id);
      return;
    }
    // New claims apply to later frames; existing subscriptions stay.
    this.identity = identity;
    this.exp = identity.exp ?? 0;
    this.host.authenticated(this);
  }

  private async publish(frame: ClientPublishFrame): Promise<void> {
    const { channel, id } = frame;
    if (!isValidChannel(channel)) {
      this.sendError('bad_channel', BAD_CHANNEL_MESSAGE, id, channel);
      return;
    }
    if (!matchAny(this.identity!.publish, channel)) {
      this.sendError('forbidden', 'the token\'s "publish" claim does not allow this channel', id, channel);
      return;
    }
    let dataJson: string;
    try {
      dataJson = JSON.stringify(frame.data);
    } catch {
      this.sendError('bad_request', '"data" is nested too deeply', id, channel);
      return;
    }
    if (Buffer.byteLength(dataJson) > this.host.config.maxMessageBytes) {
      this.sendError('too_large', `"data" is over ${this.host.config.maxMessageBytes} bytes`, id, channel);
      return;
    }
    try {
      const result = await this.host.bus.publish({ channel, event: frame.event, data: frame.data });
      this.host.metrics.published.inc({ source: 'client' });
      this.host.logger.debug(
        { connectionId: this.id, channel, event: frame.event, bytes: Buffer.byteLength(dataJson), offset: result.offset, source: 'client' },
        'publish',
      );
      this.send(publishedFrame({ channel, offset: result.offset, id }));
    } catch (err) {
      this.host.logger.warn({ err, channel }, 'client publish failed');
      this.sendError('unavailable', 'the bus is unavailable; nothing was published', id, channel);
    }
  }
}
