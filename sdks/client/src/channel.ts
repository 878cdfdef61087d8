import { Emitter } from './emitter.js';
import { RiverError } from './errors.js';

/** A member of a presence channel: the token's `sub` and `info` (typed by `subscribe<Events, Info>`). */
export interface Member<Info = Record<string, unknown>> {
  userId: string;
  info: Info;
}

/** A channel's stream position (docs/protocol.md#3-recovery-no-message-lost-across-reconnects). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** What a message listener receives besides `data`. */
export interface MessageMeta {
  channel: string;
  event: string;
  offset: number;
  ts: number;
}

export interface SubscribedInfo extends StreamPosition {
  recovered: boolean;
}

/** The events River itself emits on a channel, and their listeners. An app's event map may not use
 *  these names (nor `*`): `subscribe<{ error: … }>()` does not compile. */
export interface ReservedEvents<Info = Record<string, unknown>> {
  subscribed: (info: SubscribedInfo) => void;
  recovered: (info: { recovered: boolean }) => void;
  'member-added': (member: Member<Info>) => void;
  'member-removed': (member: Member<Info>) => void;
  error: (error: RiverError) => void;
}
export type ReservedEventName = keyof ReservedEvents | '*';

/** The constraint on an app's event map `E` (event name → the type of its `data`, e.g.
 *  `{ message: { text: string } }`): any names but the reserved ones. Without a map, any event name
 *  is accepted and `data` is `unknown` (or what the listener declares). */
export type EventMap<E> = { [K in keyof E]: K extends ReservedEventName ? never : E[K] };

/** A channel whatever its type parameters (the client's own bookkeeping). */
// biome-ignore lint/suspicious/noExplicitAny: any event map and any info type, by design
export type AnyChannel = Channel<any, any>;

/** The server frames a channel consumes (validated loosely: the server is trusted past the socket). */
export interface ChannelFrame {
  type: string;
  channel: string;
  epoch?: string;
  offset?: number;
  recovered?: boolean;
  members?: Member[];
  event?: string;
  data?: unknown;
  ts?: number;
  action?: string;
  member?: Member;
  code?: string;
  message?: string;
}

/** Refusals that a resubscribe would only repeat: the channel waits until the app subscribes again. */
const FINAL_REFUSALS = new Set(['forbidden', 'bad_channel', 'too_many_subscriptions']);

/** What a channel needs from its River. */
export interface ChannelHost {
  unsubscribe(channel: AnyChannel): void;
  report(error: unknown): void;
}

/**
 * One subscribed channel. Events: every published event name, `*` (every event), `subscribed`,
 * `recovered` `{ recovered }` (after each (re)subscribe, and when the server resets the channel with
 * an unsolicited `subscribed`: new epoch, or a gap it could not fill; false: the app should refetch),
 * `member-added` / `member-removed` (presence channels) and `error` (a RiverError: the subscription
 * was refused). A refusal with `forbidden`, `bad_channel` or `too_many_subscriptions` is final: the
 * channel keeps it in `error` and is not resubscribed on reconnects until the app calls
 * `river.subscribe(name)` again (which returns this same Channel and retries). A temporary refusal
 * (`unavailable`, `internal`) is retried on the same connection with backoff (subscriptions.ts).
 * An app event named like a reserved one reaches the same listeners.
 */
export class Channel<Events extends EventMap<Events> = Record<string, unknown>, Info = Record<string, unknown>> {
  /** Current members of a presence channel (empty for other channels). */
  members: Member<Info>[] = [];
  #pos: StreamPosition | undefined;
  #events: Emitter;
  #active = true;
  #error: RiverError | undefined;
  /** A members list arrived since the app subscribed: later lists are diffed against it. */
  #hasMembers = false;

  constructor(
    readonly name: string,
    private readonly host: ChannelHost,
    since?: StreamPosition,
  ) {
    this.#pos = since ? { epoch: since.epoch, offset: since.offset } : undefined;
    this.#events = new Emitter((error) => host.report(error));
  }

  /** Whether this channel is still wanted (not unsubscribed). */
  get active(): boolean {
    return this.#active;
  }

  /** The last delivered stream position (what a resubscribe asks to resume from). */
  get position(): StreamPosition | undefined {
    return this.#pos ? { ...this.#pos } : undefined;
  }

  /** The final refusal of the last subscribe (`forbidden`, `bad_channel`, `too_many_subscriptions`),
   *  until the app subscribes again; undefined otherwise. */
  get error(): RiverError | undefined {
    return this.#error;
  }

  on<E extends keyof ReservedEvents>(event: E, fn: ReservedEvents<Info>[E]): () => void;
  on(event: '*', fn: (data: Events[keyof Events], meta: MessageMeta) => void): () => void;
  on<E extends keyof Events & string>(event: E, fn: (data: Events[E], meta: MessageMeta) => void): () => void;
  /** Without an event map: any event, `data` typed by the listener (`(post: Post) => …`), unchecked. */
  on<T = unknown>(event: string extends keyof Events ? string : never, fn: (data: T, meta: MessageMeta) => void): () => void;
  /** Adds a listener; returns a function that removes it. */
  on(event: string, fn: (...args: never[]) => void): () => void {
    return this.#events.on(event, fn);
  }

  /** Removes one listener, every listener of `event`, or every listener. */
  off(event?: string, fn?: (...args: never[]) => void): void {
    this.#events.off(event, fn);
  }

  /** Stops receiving this channel and drops its listeners. */
  unsubscribe(): void {
    if (!this.#active) return;
    this.#active = false;
    this.host.unsubscribe(this);
    this.#events.off();
    this.members = [];
  }

  /** @internal the app subscribed again: forget a final refusal. Returns whether there was one. */
  _retry(): boolean {
    const had = this.#error !== undefined;
    this.#error = undefined;
    return had;
  }

  /** @internal a server frame for this channel */
  _frame(f: ChannelFrame): void {
    if (!this.#active) return;
    const ev = this.#events;
    switch (f.type) {
      case 'subscribed': {
        // The answer to a (re)subscribe, or unsolicited (no id): the server reset the channel. Either
        // way a position that was not recovered is replaced, so a new epoch's low offsets get through.
        const recovered = f.recovered === true && this.#pos?.epoch === f.epoch;
        if (!recovered) this.#pos = { epoch: f.epoch!, offset: f.offset! };
        if (f.members) this.#setMembers(f.members as Member<Info>[]);
        ev.emit('subscribed', { epoch: f.epoch, offset: f.offset, recovered });
        ev.emit('recovered', { recovered });
        return;
      }
      case 'message': {
        const pos = this.#pos;
        // Never deliver an offset at or below the last one delivered in this epoch.
        if (pos) {
          if (f.offset! <= pos.offset) return;
          pos.offset = f.offset!;
        }
        const meta: MessageMeta = { channel: this.name, event: f.event!, offset: f.offset!, ts: f.ts! };
        ev.emit(f.event!, f.data, meta);
        ev.emit('*', f.data, meta);
        return;
      }
      case 'presence': {
        const m = f.member as Member<Info>;
        const i = this.members.findIndex((x) => x.userId === m.userId);
        if (f.action === 'join') {
          if (i >= 0) this.members[i] = m;
          else {
            this.members = [...this.members, m];
            ev.emit('member-added', m);
          }
        } else if (i >= 0) {
          this.members = this.members.filter((x) => x.userId !== m.userId);
          ev.emit('member-removed', m);
        }
        return;
      }
      case 'error': {
        const error = new RiverError(f.code ?? 'internal', f.message ?? 'subscription refused', { channel: this.name });
        if (FINAL_REFUSALS.has(error.code)) this.#error = error;
        if (ev.has('error')) ev.emit('error', error);
        else this.host.report(error);
      }
    }
  }

  /**
   * The members list of a `subscribed`. The first one is the initial list (no member-added for each,
   * as in pusher-js: read `members` on `subscribed`); after a resubscribe, listeners hear what changed
   * while away.
   */
  #setMembers(next: Member<Info>[]): void {
    const before = new Map(this.members.map((m) => [m.userId, m]));
    const after = new Set(next.map((m) => m.userId));
    const diff = this.#hasMembers;
    this.#hasMembers = true;
    this.members = next;
    if (!diff) return;
    for (const m of before.values()) if (!after.has(m.userId)) this.#events.emit('member-removed', m);
    for (const m of next) if (!before.has(m.userId)) this.#events.emit('member-added', m);
  }
}
