/**
 * The recovery seam: how a subscriber joins a channel of the hub (`hub.ts`) without losing or
 * duplicating a message while publishes race its (re)subscribe.
 *
 * The subscriber is first *pending*: messages for it are buffered while the bus subscription is
 * made (shared by the channel's local subscribers), its presence entry added (`presence-` channels,
 * see presence-tracker.ts) and then the channel's position, or its history after `since`, read. It
 * then gets `subscribed`, the recovered messages, and the buffered messages newer than the position
 * read, and becomes live. The channel's own position (`epoch`, `lastOffset`: what its live
 * subscribers have been given) starts at its first live subscriber's; a subscriber given a newer
 * position than the channel's (a read that ran ahead of live delivery) is kept in `ahead` until the
 * channel catches up, and the hub skips messages up to its position for it. A buffered message of
 * another epoch than the one read, or a resync asked for while nobody was live yet, starts a
 * catch-up (catch-up.ts) once the subscriber is live.
 */
import type { SubscribeFrame } from '@river/protocol';
import type { BusMessage, StreamPosition } from './bus.js';
import type { Connection } from './connection.js';
import { startCatchUp } from './catch-up.js';
import { fewAdd, fewDelete } from './few.js';
import type { Channel, Hub } from './hub.js';
import type { Seam } from './presence-tracker.js';
import { textFrame } from './ws-frame.js';

/** Subscribes `conn` (whose request the hub has checked) to the channel, through the seam above. */
export async function attach(hub: Hub, conn: Connection, frame: SubscribeFrame): Promise<void> {
  const { channel: name, since, id } = frame;
  const ch = hub.channel(name);
  const buffer: BusMessage[] = [];
  (ch.pending ??= new Map()).set(conn, buffer);
  conn.subs = fewAdd(conn.subs, name);
  hub.report(ch);
  const stillPending = () => ch.pending?.get(conn) === buffer;
  try {
    if (ch.busSubscribed !== null) await ch.busSubscribed;
    let members: string | undefined;
    let seam: Seam | undefined;
    if (ch.presence) {
      const joined = await hub.presence.join(name, conn, stillPending);
      if (joined === undefined) return; // gone meanwhile; the tracker cleaned up
      ({ json: members, seam } = joined);
    }
    let position: StreamPosition;
    let recovered: boolean | undefined;
    let replay: BusMessage[] = [];
    if (since !== undefined) {
      const h = await hub.bus.history(name, { since: since.offset, limit: Math.max(1, hub.config.historySize) });
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
      position = await hub.bus.position(name);
    }
    if (!stillPending()) return;

    const parts = [`{"type":"subscribed","channel":${JSON.stringify(name)},"epoch":${JSON.stringify(position.epoch)},"offset":${position.offset}`];
    if (recovered !== undefined) parts.push(`,"recovered":${recovered}`);
    if (members !== undefined) parts.push(`,"members":${members}`);
    if (id !== undefined) parts.push(`,"id":${JSON.stringify(id)}`);
    parts.push('}');
    conn.send(parts.join(''));
    const connId = conn.id;
    for (const m of replay) if (m.excludeConnectionId !== connId) hub.outbox.push(conn, textFrame(m.frame));
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
      if (m.excludeConnectionId !== connId) hub.outbox.push(conn, textFrame(m.frame));
    }
    ch.pending!.delete(conn);
    if (ch.pending!.size === 0) ch.pending = null;
    goLive(ch, conn, given);
    if (seam !== undefined) {
      (ch.seams ??= new Map()).set(conn, seam);
      hub.presence.trackSeams(ch);
    }
    hub.metrics.subscriptions.inc();
    if (inconsistent || ch.stale) {
      ch.stale = false;
      startCatchUp(hub, ch);
    }
  } catch (err) {
    hub.logger.warn({ err, channel: name }, 'subscribe failed');
    if (stillPending()) {
      conn.subs = fewDelete(conn.subs, name);
      await hub.detach(conn, name);
      conn.sendError('unavailable', 'the bus is unavailable; try again', id, name);
    }
  }
}

/** A pending subscriber that was given `given` becomes live. */
function goLive(ch: Channel, conn: Connection, given: StreamPosition): void {
  if (ch.live === null) {
    // The first live subscriber: the channel's position is the one it was given.
    if (given.epoch !== ch.epoch || given.offset > ch.lastOffset) {
      ch.epoch = given.epoch;
      ch.lastOffset = given.offset;
      if (ch.catchUp !== null) ch.catchUp.again = true;
    }
  } else if (given.epoch !== ch.epoch || given.offset > ch.lastOffset) {
    (ch.ahead ??= new Map()).set(conn, given);
  }
  ch.live = fewAdd(ch.live, conn);
}
