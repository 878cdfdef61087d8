/** The subscribe requests of the current connection. */
import type { AnyChannel as Channel, StreamPosition } from './channel.js';
import type { Clock } from './options.js';

/** Refusals of a passing trouble on the server (its bus reconnecting): retried on the same connection. */
const TEMPORARY_REFUSALS = new Set(['unavailable', 'internal']);

export type SubscribeFrame = { type: 'subscribe'; channel: string; id: number; since?: StreamPosition };

/**
 * The subscribes sent on the current connection: each channel's is sent once per connection (from
 * its last delivered position), each unanswered request is known by its `id`, and a subscribe
 * refused with a temporary code (`unavailable`, `internal`) is sent again after `delay(attempt)`
 * (full-jitter backoff, attempt 0 first, growing until the channel is `subscribed`). A retry ends
 * when the channel is answered, unsubscribed, or the connection is gone (`reset`: the next
 * connection subscribes every channel anyway).
 */
export class Subscriptions {
  #ids = new Map<unknown, Channel>();
  /** Channels whose subscribe went out on this connection and was not refused. */
  #sent = new Set<Channel>();
  #timers = new Map<Channel, unknown>();
  #attempts = new Map<Channel, number>();

  constructor(
    private readonly clock: Clock,
    private readonly delay: (attempt: number) => number,
    private readonly nextId: () => number,
    private readonly send: (frame: SubscribeFrame) => void,
  ) {}

  /** Sends `ch`'s subscribe (call it only while connected) unless already sent on this connection,
   *  unsubscribed, or refused for good. `again`: the app subscribed again after a final refusal. */
  subscribe(ch: Channel, again = false): void {
    if (again) this.#sent.delete(ch);
    if (this.#sent.has(ch) || !ch.active || ch.error) return;
    this.#cancel(ch);
    this.#sent.add(ch);
    const id = this.nextId();
    const since = ch.position;
    this.#ids.set(id, ch);
    this.send(since ? { type: 'subscribe', channel: ch.name, id, since } : { type: 'subscribe', channel: ch.name, id });
  }

  /** The channel whose subscribe `id` answers, once (then the request is answered). */
  answered(id: unknown): Channel | undefined {
    const ch = this.#ids.get(id);
    this.#ids.delete(id);
    return ch;
  }

  /** `ch` got a `subscribed`: a later temporary refusal backs off from the first delay again. */
  subscribed(ch: Channel): void {
    this.#attempts.delete(ch);
  }

  /** `ch`'s subscribe was refused with `code`: the server holds no subscription; a temporary
   *  refusal is tried again after a backoff. */
  refused(ch: Channel, code: string): void {
    this.#sent.delete(ch);
    if (!TEMPORARY_REFUSALS.has(code) || !ch.active) return;
    const attempt = this.#attempts.get(ch) ?? 0;
    this.#attempts.set(ch, attempt + 1);
    this.#cancel(ch);
    this.#timers.set(
      ch,
      this.clock.setTimeout(() => {
        this.#timers.delete(ch);
        this.subscribe(ch);
      }, this.delay(attempt)),
    );
  }

  /** The app unsubscribed `ch`: no more retries. Returns whether the server may hold its
   *  subscription (an `unsubscribe` is due). */
  unsubscribe(ch: Channel): boolean {
    this.#cancel(ch);
    this.#attempts.delete(ch);
    return this.#sent.delete(ch);
  }

  /** The connection is gone: its requests and retries with it. */
  reset(): void {
    for (const t of this.#timers.values()) this.clock.clearTimeout(t);
    this.#timers.clear();
    this.#attempts.clear();
    this.#ids.clear();
    this.#sent.clear();
  }

  #cancel(ch: Channel): void {
    const t = this.#timers.get(ch);
    if (t === undefined) return;
    this.clock.clearTimeout(t);
    this.#timers.delete(ch);
  }
}
