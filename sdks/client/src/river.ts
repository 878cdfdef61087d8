import { isValidChannel } from '@river/protocol';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { Channel, type AnyChannel, type ChannelFrame, type EventMap, type StreamPosition } from './channel.js';
import { Emitter } from './emitter.js';
import { RiverError } from './errors.js';
import { refreshPlan } from './jwt.js';
import { Publishes, type PublishAck } from './publishes.js';
import { Subscriptions } from './subscriptions.js';
import { asTokenError, fetchToken } from './token.js';
import {
  realClock,
  validateOptions,
  type Clock,
  type NetworkEvents,
  type RiverOptions,
  type Socket,
  type StateChange,
  type WebSocketConstructor,
} from './options.js';
import { afterClose, nextState, type ConnectionEvent, type ConnectionState } from './state.js';

/** A connection that stayed `connected` this long was healthy: the next drop starts the backoff over. */
const STABLE_MS = 30_000;

/** The longest delay setTimeout honours (2^31-1 ms): browsers and Node fire a longer one after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A River connection: subscribes channels, delivers each message once and in order across reconnects,
 * tracks presence, publishes with acknowledgements. Events: `state` (StateChange) and `error`.
 */
export class River {
  #state: ConnectionState = 'disconnected';
  #opts: RiverOptions;
  #clock: Clock;
  #WS: WebSocketConstructor;
  #events = new Emitter((e) => this.#report(e, true));
  #channels = new Map<string, AnyChannel>();
  #pubs: Publishes;
  #subs: Subscriptions;
  #nextId = 1;
  #ws: Socket | undefined;
  #gen = 0;
  #ready = false;
  /** Reconnect attempts since the last healthy connection (see STABLE_MS): the backoff grows with it. */
  #attempt = 0;
  #readyAt = 0;
  #retriedToken = false;
  #retriedExpired = false;
  #heartbeatMs = 25_000;
  #token: string | undefined;
  #plan: { refreshAt: number; expiresAt: number } | undefined;
  #retryTimer: unknown;
  #liveTimer: unknown;
  #refreshTimer: unknown;
  #net: NetworkEvents | undefined;
  /** `offline` seen and no `online` (or `ready`) since: a repeated `offline` changes nothing. */
  #offline = false;
  /** The next attempt must fetch a fresh token (after 4002, or 4500 once). */
  #needFresh = false;
  #auto = false;
  /** The server's id for the current connection (for `excludeConnectionId`). */
  connectionId: string | undefined;
  /** The `sub` of the current token, as the server read it. */
  userId: string | undefined;

  constructor(options: RiverOptions) {
    validateOptions(options);
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS)
      throw new TypeError('River: no WebSocket available; pass one, e.g. new River({ url, token, WebSocket }) with WebSocket from "ws"');
    this.#opts = options;
    this.#WS = WS;
    this.#clock = options.clock ?? realClock;
    this.#pubs = new Publishes(this.#clock, options.publishTimeoutMs ?? 10_000);
    this.#subs = new Subscriptions(
      this.#clock,
      (attempt) => this.#backoff(attempt),
      () => this.#nextId++,
      (f) => this.#send(f),
    );
    const g = globalThis as Partial<NetworkEvents>;
    this.#net =
      options.network === null
        ? undefined
        : (options.network ?? (typeof g.addEventListener === 'function' ? (g as NetworkEvents) : undefined));
    // Connect on the next microtask, so listeners attached right after `new River()` see every state.
    if (options.autoConnect !== false) {
      this.#auto = true;
      queueMicrotask(() => this.#auto && this.connect());
    }
  }

  get state(): ConnectionState {
    return this.#state;
  }

  on(event: 'state', fn: (change: StateChange) => void): () => void;
  on(event: 'error', fn: (error: Error) => void): () => void;
  /** Adds a listener; returns a function that removes it. */
  on(event: string, fn: (arg: never) => void): () => void {
    return this.#events.on(event, fn);
  }

  off(event?: string, fn?: (arg: never) => void): void {
    this.#events.off(event, fn);
  }

  /** Opens the connection (done by the constructor unless `autoConnect: false`; again after `disconnected`). */
  connect(): void {
    this.#auto = false;
    if (!this.#move('connect', 'connect')) return;
    this.#net?.addEventListener('offline', this.#onOffline);
    this.#net?.addEventListener('online', this.#onOnline);
    this.#retriedToken = this.#retriedExpired = false;
    this.#attempt = 0;
    void this.#open();
  }

  /** Closes the connection for good (until `connect()`); pending publishes (sent or still queued) reject with `closed`. */
  close(): void {
    this.#auto = false;
    this.#stop('closed');
  }

  /**
   * Subscribes to `name` (or returns the existing subscription). The channel (re)subscribes whenever
   * the connection is (re)established, resuming from its last delivered position. `since` starts from
   * a known position, e.g. the one a server-rendered page was built at. On a channel whose subscribe
   * was refused (`channel.error`), subscribing again retries it.
   */
  subscribe<Events extends EventMap<Events> = Record<string, unknown>, Info = Record<string, unknown>>(
    name: string,
    options?: { since?: StreamPosition },
  ): Channel<Events, Info> {
    if (!isValidChannel(name)) throw new RiverError('bad_channel', `invalid channel name "${String(name)}"`);
    let ch = this.#channels.get(name) as Channel<Events, Info> | undefined;
    if (!ch) {
      ch = new Channel<Events, Info>(name, { unsubscribe: (c) => this.#unsubscribe(c), report: (e) => this.#report(e) }, options?.since);
      this.#channels.set(name, ch);
      this.#sub(ch);
    } else if (ch._retry()) {
      this.#sub(ch, true);
    }
    return ch;
  }

  /** The channel `name` if subscribed. */
  channel<Events extends EventMap<Events> = Record<string, unknown>, Info = Record<string, unknown>>(
    name: string,
  ): Channel<Events, Info> | undefined {
    return this.#channels.get(name);
  }

  /**
   * Publishes from the client (the token's `publish` claim must allow the channel). Resolves with the
   * offset on `published`; rejects with a RiverError carrying the server's code, `disconnected` when
   * the connection dropped before the answer (the publish may or may not have happened), `closed` on
   * close(), or `timeout` when no answer came within `publishTimeoutMs` (default 10 s) of the call.
   * Publishes made while not connected are sent once connected; at most 100 wait at a time, more are
   * refused at once with `queue_full`.
   */
  publish(channel: string, event: string, data?: unknown): Promise<PublishAck> {
    if (!isValidChannel(channel))
      return Promise.reject(new RiverError('bad_channel', `invalid channel name "${String(channel)}"`, { channel }));
    if (this.#state === 'disconnected' && !this.#auto)
      return Promise.reject(new RiverError('disconnected', 'not connected; call connect() first', { channel }));
    const frame = { type: 'publish' as const, id: this.#nextId++, channel, event, data: data ?? null };
    return this.#pubs.add(frame, this.#ready ? (f) => this.#send(f) : undefined);
  }

  // ---- connection --------------------------------------------------------------------------------

  #move(event: ConnectionEvent, reason: string, code?: number): boolean {
    const from = this.#state;
    const to = nextState(from, event);
    if (!to) return false;
    this.#state = to;
    if (to !== from) this.#events.emit('state', code === undefined ? { from, to, reason } : { from, to, reason, code });
    return true;
  }

  async #open(): Promise<void> {
    const gen = ++this.#gen;
    let token: string;
    try {
      token = await this.#getToken(this.#needFresh);
      if (gen === this.#gen) this.#needFresh = false;
    } catch (error) {
      if (gen !== this.#gen) return;
      this.#report(asTokenError(error));
      return this.#lost('token_error', 'backoff');
    }
    if (gen !== this.#gen || this.#state === 'disconnected') return;
    let ws: Socket;
    try {
      ws = new this.#WS(this.#opts.url) as Socket;
    } catch (error) {
      this.#report(error);
      return this.#lost('network', 'backoff');
    }
    this.#ws = ws;
    this.#arm(this.#opts.timeoutMs ?? 15_000, 'timeout');
    ws.onopen = () => ws === this.#ws && this.#send({ type: 'auth', token });
    ws.onmessage = (ev) => ws === this.#ws && this.#frame(ev.data);
    ws.onclose = (ev) => ws === this.#ws && this.#closed(ev.code);
    ws.onerror = () => {}; // a close event follows
  }

  async #getToken(fresh: boolean): Promise<string> {
    const src = this.#opts.token;
    if (typeof src === 'string') return src;
    const plan = this.#plan;
    // The cached token is reused until it is due for refresh (it may be near its end by then).
    if (!fresh && this.#token && (!plan || this.#clock.now() < plan.refreshAt)) return this.#token;
    const token = await fetchToken(src);
    this.#token = token;
    this.#plan = refreshPlan(token, this.#clock.now());
    return token;
  }

  #frame(raw: unknown): void {
    let f: ChannelFrame & { type: string; id?: number; connectionId?: string; userId?: string; heartbeatMs?: number };
    try {
      f = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (!f || typeof f.type !== 'string') return;
    if (this.#ready) this.#arm(this.#heartbeatMs * 2, 'heartbeat_timeout');
    switch (f.type) {
      case 'ping':
        return this.#send({ type: 'pong' });
      case 'ready':
        return this.#onReady(f.connectionId!, f.userId!, f.heartbeatMs!);
      case 'published':
        return this.#pubs.settle(f.id, undefined, { channel: f.channel, offset: f.offset! });
      case 'error': {
        const pub = this.#pubs.channelOf(f.id);
        if (pub !== undefined)
          return this.#pubs.settle(f.id, new RiverError(f.code ?? 'internal', f.message ?? 'publish refused', { channel: pub }));
        const sub = f.id !== undefined ? this.#subs.answered(f.id) : undefined;
        const ch = sub ?? this.#channels.get(f.channel ?? '');
        if (!ch) return this.#report(new RiverError(f.code ?? 'internal', f.message ?? 'server error'));
        ch._frame({ ...f, channel: ch.name });
        if (sub) this.#subs.refused(sub, f.code ?? 'internal');
        return;
      }
      case 'subscribed':
      case 'message':
      case 'presence': {
        if (f.type === 'subscribed' && f.id !== undefined) this.#subs.answered(f.id);
        const ch = this.#channels.get(f.channel);
        if (ch && f.type === 'subscribed') this.#subs.subscribed(ch);
        ch?._frame(f);
      }
    }
  }

  #onReady(connectionId: string, userId: string, heartbeatMs: number): void {
    this.connectionId = connectionId;
    this.userId = userId;
    this.#heartbeatMs = heartbeatMs > 0 ? heartbeatMs : 25_000;
    this.#ready = true;
    this.#offline = false;
    this.#readyAt = this.#clock.now();
    this.#retriedToken = this.#retriedExpired = false;
    this.#arm(this.#heartbeatMs * 2, 'heartbeat_timeout');
    this.#scheduleRefresh();
    for (const ch of this.#channels.values()) this.#sub(ch);
    this.#pubs.flush((f) => this.#send(f));
    this.#move('ready', 'ready');
  }

  #closed(code: number): void {
    const wasReady = this.#ready;
    this.#drop();
    const next = afterClose(code, {
      wasReady,
      canRefresh: typeof this.#opts.token === 'function',
      retriedToken: this.#retriedToken,
      retriedExpired: this.#retriedExpired,
    });
    if (next.action === 'stop') return this.#stop(next.reason, code);
    if (code === 4500) this.#retriedToken = true;
    if (code === 4002) this.#retriedExpired = true;
    this.#lost(next.reason, next.delay, next.fresh, code);
  }

  /** Forget the current socket: later events from it are ignored. In-flight publishes reject. */
  #drop(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    // Not at `ready`: a server that accepts and then cuts at once (4003, 4008 …) must meet a growing backoff.
    if (this.#ready && this.#clock.now() - this.#readyAt >= STABLE_MS) this.#attempt = 0;
    this.#ready = false;
    this.#subs.reset();
    for (const t of [this.#liveTimer, this.#refreshTimer, this.#retryTimer]) if (t !== undefined) this.#clock.clearTimeout(t);
    this.#liveTimer = this.#refreshTimer = this.#retryTimer = undefined;
    this.#pubs.dropSent();
    if (ws) {
      // Stop listening (late frames of a dead socket must not count) and close it with 1000, a code
      // browsers allow. onerror stays a no-op: `ws` in Node throws on an 'error' without a listener.
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
    }
  }

  #lost(reason: string, delay: 'now' | 'backoff', fresh = false, code?: number): void {
    this.#drop();
    this.#gen++; // discard a token fetch in progress
    if (!this.#move('lost', reason, code)) return;
    if (fresh) this.#needFresh = true;
    const ms = delay === 'now' ? 0 : this.#backoff(this.#attempt++);
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#open();
    }, ms);
  }

  #stop(reason: string, code?: number): void {
    this.#drop();
    this.#gen++;
    this.#move('stop', reason, code);
    this.#net?.removeEventListener('offline', this.#onOffline);
    this.#net?.removeEventListener('online', this.#onOnline);
    // Also when already disconnected: publishes queued before the first connect must settle too.
    this.#pubs.rejectAll(reason);
  }

  /** The delay before retry number `attempt` (reconnects, and subscribes refused for a while). */
  #backoff(attempt: number): number {
    return backoffDelay(attempt, this.#opts.random, {
      minMs: this.#opts.minReconnectDelayMs ?? DEFAULT_BACKOFF.minMs,
      maxMs: this.#opts.maxReconnectDelayMs ?? DEFAULT_BACKOFF.maxMs,
    });
  }

  /** Liveness: without any frame for `ms`, the connection is dead. */
  #arm(ms: number, reason: string): void {
    if (this.#liveTimer !== undefined) this.#clock.clearTimeout(this.#liveTimer);
    this.#liveTimer = this.#clock.setTimeout(
      () => {
        this.#liveTimer = undefined;
        this.#lost(reason, 'backoff');
      },
      Math.min(ms, MAX_TIMER_MS),
    );
  }

  /** Arms the refresh timer; `again`: right after a refresh, so wait at least 1 s (a token
   *  function handing back the same nearly expired token must not cause a tight loop). */
  #scheduleRefresh(again = false): void {
    const plan = this.#plan;
    if (!plan || typeof this.#opts.token !== 'function') return;
    const gen = this.#gen;
    const wait = Math.max(again ? 1000 : 0, plan.refreshAt - this.#clock.now());
    // Timers take at most 2^31-1 ms (~24.8 days); a longer delay fires at once. Wake at the cap and look again.
    if (wait > MAX_TIMER_MS) {
      this.#refreshTimer = this.#clock.setTimeout(() => {
        this.#refreshTimer = undefined;
        if (gen === this.#gen && this.#ready) this.#scheduleRefresh();
      }, MAX_TIMER_MS);
      return;
    }
    this.#refreshTimer = this.#clock.setTimeout(async () => {
      this.#refreshTimer = undefined;
      try {
        const token = await this.#getToken(true);
        if (gen !== this.#gen || !this.#ready) return;
        this.#send({ type: 'refresh', token, id: this.#nextId++ });
        this.#scheduleRefresh(true);
      } catch (error) {
        // The server closes with 4002 at exp; the reconnect fetches a token again.
        this.#report(asTokenError(error));
      }
    }, wait);
  }

  /** The browser lost the network: drop the connection and retry with backoff (once per outage). */
  #onOffline = (): void => {
    if (this.#state === 'disconnected' || this.#offline) return;
    this.#offline = true;
    this.#lost('offline', 'backoff');
  };

  /** The network is back: abandon the backoff wait or a connection attempt in progress (it may hang
   *  until timeoutMs) and connect at once, reported as `state` with reason `online`. */
  #onOnline = (): void => {
    this.#offline = false;
    const s = this.#state;
    if (s !== 'connecting' && s !== 'reconnecting') return;
    this.#drop();
    this.#attempt = 0;
    this.#events.emit('state', { from: s, to: s, reason: 'online' });
    void this.#open();
  };

  // ---- channels and frames -----------------------------------------------------------------------

  #sub(ch: AnyChannel, again = false): void {
    if (this.#ready) this.#subs.subscribe(ch, again);
  }

  #unsubscribe(ch: AnyChannel): void {
    if (this.#channels.get(ch.name) !== ch) return;
    this.#channels.delete(ch.name);
    if (this.#subs.unsubscribe(ch)) this.#send({ type: 'unsubscribe', channel: ch.name });
  }

  #send(frame: object): void {
    try {
      this.#ws?.send(JSON.stringify(frame));
    } catch (error) {
      this.#report(error);
    }
  }

  #reporting = false;
  #report(error: unknown, fromListener = false): void {
    if (fromListener && this.#reporting) return console.error(error);
    if (!this.#events.has('error')) return console.error(error);
    this.#reporting = true;
    try {
      this.#events.emit('error', error instanceof Error ? error : new RiverError('handler_error', String(error), { cause: error }));
    } finally {
      this.#reporting = false;
    }
  }
}
