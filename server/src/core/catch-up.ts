/**
 * Catch-up: filling a gap in a channel's live stream on this node, or telling its subscribers that
 * the gap cannot be filled. A channel (`channel.ts`) starts one when
 * - the bus says it may have missed messages of the channel (`resync`: a Redis reconnect, or one
 *   Redis Cluster shard's subscriber connection dropped);
 * - a live message skips offsets (a message was lost on the way);
 * - a live message carries another epoch than the channel's (its state was lost in the bus: Redis
 *   restarted without persistence, keys evicted).
 *
 * While a channel catches up, every frame that arrives for it live is held, in arrival order. The
 * catch-up reads history after the last offset the channel delivered, then:
 * - if the epoch is the same and history holds every message of the gap: it delivers them, in
 *   order, then the held frames (those already delivered are dropped by the channel's duplicate
 *   guard), so subscribers see every offset once, in order, with no close and no `recovered:false`;
 * - otherwise (another epoch, or the gap no longer in history): it sends each live subscriber an
 *   unsolicited `subscribed` frame `{type, channel, epoch, offset, recovered: false}` (with
 *   `members` on presence channels) carrying the position just read, then the held frames newer
 *   than it. The client treats it like the answer to a resubscribe: its position is now
 *   `{epoch, offset}`, and it should refetch its state. (On a presence channel whose engine lost
 *   its entries too, the nodes add them again on their next touch; the joins that follow pass the
 *   new seams, see presence-tracker.ts.)
 * A failed read (the bus went away again) is retried with backoff while frames stay held; another
 * `resync` during a catch-up makes it read again from where it got to.
 */
import type { Logger } from 'pino';
import type { BusMessage, HistoryResult, StreamPosition } from '../engines/bus.js';
import type { Seam } from './presence-tracker.js';

/** Frames held for one channel beyond which its subscribers are closed (4000) to recover by resubscribing. */
export const MAX_HELD = 10_000;

/** A presence channel's members, read for the `recovered:false` frame. */
export interface Snapshot {
  json: string;
  seam: () => Seam;
}

/** What a catch-up needs of its channel. */
export interface CatchUpTarget {
  /** Whether the channel still has local subscribers. */
  open(): boolean;
  /** The position the channel's live subscribers have been given. */
  position(): { epoch: string | undefined; offset: number };
  history(since: number): Promise<HistoryResult>;
  /** Reads the members of a presence channel; undefined for any other. */
  snapshot(): Promise<Snapshot> | undefined;
  /** Delivers the messages that fill the gap, in order. */
  fill(messages: BusMessage[]): void;
  /** The gap cannot be filled: the channel's position is now `position`. */
  lost(position: StreamPosition, snapshot: Snapshot | undefined): void;
  /** Too many frames held: the subscribers are to recover on their own. */
  overflow(): void;
  /** The catch-up is over: the frames held meanwhile, in arrival order. */
  done(held: BusMessage[]): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** One channel's catch-up. */
export class CatchUp {
  /** Read again once the current read is done (another resync, or the channel's position moved). */
  again = false;

  /** `held`: frames that arrived live meanwhile, in arrival order. */
  constructor(
    private readonly channel: string,
    private readonly logger: Logger,
    public held: BusMessage[],
    private readonly target: CatchUpTarget,
  ) {}

  start(): void {
    void this.run();
  }

  /** Holds a frame that arrived live during the catch-up. */
  hold(msg: BusMessage): void {
    this.held.push(msg);
    if (this.held.length > MAX_HELD) {
      // The read cannot keep up: let the clients recover on their own, from history, by resubscribing.
      this.logger.warn({ channel: this.channel, held: this.held.length }, "catch-up overflow: closing the channel's subscribers");
      this.held = [];
      this.target.overflow();
    }
  }

  private async run(): Promise<void> {
    const { target } = this;
    for (let attempt = 0; target.open(); ) {
      this.again = false;
      const { epoch, offset: since } = target.position();
      try {
        const h = await target.history(since);
        if (!target.open()) return;
        const now = target.position();
        if (now.epoch !== epoch || now.offset !== since) continue; // a first subscriber reset the position meanwhile
        const filled = h.position.epoch === epoch && h.complete && h.messages.length === h.position.offset - since;
        if (filled) {
          target.fill(h.messages);
        } else {
          const reading = target.snapshot();
          let snapshot: Snapshot | undefined;
          if (reading !== undefined) {
            snapshot = await reading;
            if (!target.open()) return;
          }
          target.lost(h.position, snapshot);
        }
        if (!this.again) break;
        attempt = 0;
      } catch (err) {
        this.logger.warn({ err, channel: this.channel }, 'catch-up read failed; retrying');
        await sleep(Math.min(5000, 250 * 2 ** attempt++));
      }
    }
    this.target.done(this.held);
  }
}
