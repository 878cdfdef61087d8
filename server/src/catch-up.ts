/**
 * Catch-up: filling a gap in a channel's live stream on this node, or telling its subscribers that
 * the gap cannot be filled. Used by the hub (`hub.ts`) when
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
import { CLOSE_CODES } from '@river/protocol';
import type { BusMessage, StreamPosition } from './bus.js';
import type { Connection } from './connection.js';
import { fewList } from './few.js';
import type { Channel, Hub } from './hub.js';
import type { Seam } from './presence-tracker.js';
import { textFrame } from './ws-frame.js';

/** Frames held for one channel beyond which its subscribers are closed (4000) to recover by resubscribing. */
export const MAX_HELD = 10_000;

/** The state of one channel's catch-up (`Channel.catchUp`). */
export interface CatchUp {
  /** Frames that arrived live meanwhile, in arrival order. */
  held: BusMessage[];
  /** Read again once the current read is done (another resync, or the channel's position moved). */
  again: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Starts a catch-up of the channel (or makes the running one read again), holding `held` first. */
export function startCatchUp(hub: Hub, ch: Channel, held: BusMessage[] = []): void {
  if (ch.catchUp !== null) {
    ch.catchUp.held.push(...held);
    ch.catchUp.again = true;
    return;
  }
  const cu: CatchUp = { held, again: false };
  ch.catchUp = cu;
  void run(hub, ch, cu);
}

/** Holds a frame that arrived live during the channel's catch-up. */
export function hold(hub: Hub, ch: Channel, msg: BusMessage): void {
  const cu = ch.catchUp!;
  cu.held.push(msg);
  if (cu.held.length > MAX_HELD) {
    // The read cannot keep up: let the clients recover on their own, from history, by resubscribing.
    hub.logger.warn({ channel: ch.name, held: cu.held.length }, 'catch-up overflow: closing the channel\'s subscribers');
    cu.held = [];
    for (const conn of fewList(ch.live)) conn.close(CLOSE_CODES.server_restarting, 'server_restarting');
  }
}

async function run(hub: Hub, ch: Channel, cu: CatchUp): Promise<void> {
  for (let attempt = 0; hub.hasChannel(ch); ) {
    cu.again = false;
    const epoch = ch.epoch;
    const since = ch.lastOffset;
    try {
      const h = await hub.bus.history(ch.name, { since, limit: Math.max(1, hub.config.historySize) });
      if (!hub.hasChannel(ch)) return;
      if (ch.epoch !== epoch || ch.lastOffset !== since) continue; // a first subscriber reset the position meanwhile
      const filled = h.position.epoch === epoch && h.complete && h.messages.length === h.position.offset - since;
      if (filled) {
        for (const m of h.messages) hub.fanout(ch, m);
      } else {
        let snapshot: { json: string; seam: () => Seam } | undefined;
        if (ch.presence) {
          snapshot = await hub.presence.snapshot(ch.name);
          if (!hub.hasChannel(ch)) return;
        }
        announceLost(hub, ch, h.position, snapshot);
      }
      if (!cu.again) break;
      attempt = 0;
    } catch (err) {
      hub.logger.warn({ err, channel: ch.name }, 'catch-up read failed; retrying');
      await sleep(Math.min(5000, 250 * 2 ** attempt++));
    }
  }
  if (ch.catchUp === cu) ch.catchUp = null;
  if (!hub.hasChannel(ch)) return;
  // Through the normal path: the duplicate guard drops what was delivered; a new gap catches up again.
  for (const m of cu.held) hub.message(m);
}

/**
 * The channel's position is lost for its live subscribers: each one (except those already given a
 * position at least as new, in this epoch) gets the unsolicited `subscribed` with `recovered:false`.
 */
function announceLost(hub: Hub, ch: Channel, position: StreamPosition, snapshot: { json: string; seam: () => Seam } | undefined): void {
  ch.epoch = position.epoch;
  ch.lastOffset = position.offset;
  let text = `{"type":"subscribed","channel":${JSON.stringify(ch.name)},"epoch":${JSON.stringify(position.epoch)},"offset":${position.offset},"recovered":false`;
  if (snapshot !== undefined) text += `,"members":${snapshot.json}`;
  const frame = textFrame(`${text}}`);
  const told: Connection[] = [];
  for (const conn of fewList(ch.live)) {
    const ahead = ch.ahead?.get(conn);
    if (ahead !== undefined && ahead.epoch === position.epoch && ahead.offset >= position.offset) continue;
    ch.ahead?.delete(conn);
    hub.outbox.push(conn, frame);
    told.push(conn);
  }
  if (ch.ahead?.size === 0) ch.ahead = null;
  if (snapshot !== undefined && told.length > 0) {
    const seams = (ch.seams ??= new Map());
    for (const conn of told) seams.set(conn, snapshot.seam());
    hub.presence.trackSeams(ch);
  }
  hub.logger.info({ channel: ch.name, epoch: position.epoch, offset: position.offset, subscribers: told.length }, 'channel position lost: subscribers told recovered:false');
}
