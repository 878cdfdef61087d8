/** Client publishes waiting for their answer. */
import { RiverError } from './errors.js';
import type { Clock } from './options.js';

export interface PublishAck {
  channel: string;
  offset: number;
}

export interface PublishFrame {
  type: 'publish';
  id: number;
  channel: string;
  event: string;
  data: unknown;
}

interface Pending {
  resolve(ack: PublishAck): void;
  reject(error: RiverError): void;
  frame: PublishFrame;
  sent: boolean;
  timer: unknown;
}

/** Publishes waiting for a connection beyond this many are refused at once (`queue_full`). */
export const MAX_QUEUED_PUBLISHES = 100;

/**
 * The publishes made and not yet answered: queued (not sent: no connection was ready) or sent. Each
 * settles exactly once: on its answer, when its connection drops (sent ones), on close, or after
 * `timeoutMs` from the call, whichever comes first. A queued one that timed out is never sent.
 */
export class Publishes {
  #pending = new Map<number, Pending>();
  constructor(
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  /** Adds a publish; sends it at once with `send` when given (a connection is ready), else queues it.
   *  Refuses with `queue_full` when MAX_QUEUED_PUBLISHES are already queued. */
  add(frame: PublishFrame, send: ((f: PublishFrame) => void) | undefined): Promise<PublishAck> {
    const { id, channel } = frame;
    let queued = 0;
    if (!send) for (const p of this.#pending.values()) if (!p.sent) queued++;
    if (queued >= MAX_QUEUED_PUBLISHES) {
      return Promise.reject(
        new RiverError('queue_full', `${MAX_QUEUED_PUBLISHES} publishes are already waiting for the connection`, { channel }),
      );
    }
    return new Promise((resolve, reject) => {
      const ms = this.timeoutMs;
      const timer = this.clock.setTimeout(() => {
        const sent = this.#pending.get(id)?.sent;
        this.settle(
          id,
          new RiverError(
            'timeout',
            sent
              ? `no answer to the publish within ${ms} ms (it may or may not have been published)`
              : `not connected within ${ms} ms; nothing was published`,
            { channel },
          ),
        );
      }, ms);
      const p: Pending = { resolve, reject, frame, sent: false, timer };
      this.#pending.set(id, p);
      if (send) this.#send(p, send);
    });
  }

  /** The channel of pending publish `id`, or undefined when `id` is not one. */
  channelOf(id: unknown): string | undefined {
    return this.#pending.get(id as number)?.frame.channel;
  }

  /** Resolves (with `ack`) or rejects (with `error`) publish `id` and forgets it. */
  settle(id: unknown, error: RiverError | undefined, ack?: PublishAck): void {
    const p = this.#pending.get(id as number);
    if (!p) return;
    this.#pending.delete(id as number);
    this.clock.clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(ack!);
  }

  /** A connection is ready: sends the queued publishes, in the order they were made. */
  flush(send: (f: PublishFrame) => void): void {
    for (const p of this.#pending.values()) if (!p.sent) this.#send(p, send);
  }

  /** The connection dropped: the sent publishes reject with `disconnected`; queued ones wait on. */
  dropSent(): void {
    for (const [id, p] of this.#pending) {
      if (p.sent)
        this.settle(
          id,
          new RiverError('disconnected', 'the connection dropped before the publish was acknowledged', { channel: p.frame.channel }),
        );
    }
  }

  /** Rejects every pending publish with `code`. */
  rejectAll(code: string): void {
    for (const [id, p] of this.#pending) this.settle(id, new RiverError(code, `disconnected: ${code}`, { channel: p.frame.channel }));
  }

  #send(p: Pending, send: (f: PublishFrame) => void): void {
    p.sent = true;
    send(p.frame);
  }
}
