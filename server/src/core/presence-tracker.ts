/**
 * The node's side of presence (`presence-` channels): one entry per (connection, channel) in the
 * presence engine, join/leave frames (broadcast by the node, or by the engine itself when it
 * `announces`), entries touched once per heartbeat in one call (and added again when the engine
 * lost them), the subscribe seam that keeps a new member from seeing a `join` for someone already
 * in the `members` list it was just given, and the coalescing window that makes a storm of joins
 * cheap.
 *
 * Coalescing (per channel, per node). Presence frames from the bus and presence subscribes are
 * collected in a window that closes `quietMs` after the channel's last event, and at most `maxMs`
 * after it opened. When it closes:
 * - the collected frames are netted per user: a join then the same user's leave cancel out (and a
 *   leave then a join with the same info), repeated joins or leaves collapse into one; what is left
 *   goes to the channel's subscribers, still one `presence` frame per member change (docs/protocol.md#4-presence);
 * - the members list is read once for every subscriber that joined in the window, so subscribers
 *   joining together get each other in their `members` list instead of a `join` for each other.
 *   N joins landing in one window cost one `subscribed` per joiner and N frames per member that was
 *   already there, instead of N(N-1)/2 join frames.
 * The cost is latency: a presence subscribe and a presence event wait for the window (10 ms when
 * the channel is quiet, 250 ms at most during a storm).
 *
 * Re-reading after a cut (`resync`). Join/leave frames that other nodes published while this node
 * could not receive them (its Redis connections cut, a shard's subscriber connection replaced) are
 * gone: nothing replays them. So the tracker keeps what each local presence channel's subscribers
 * were told (`presence-views.ts`), and when the presence engine is connected again (once this
 * node's entries are re-added) or the bus resyncs the channel, it reads the members again and puts
 * the difference into the channel's window: a join per member added, a leave per member gone. A
 * frame reaching the window meanwhile nets with it as usual, so each change goes out once.
 */
import type { Logger } from 'pino';
import { isPresenceChannel } from '@river/protocol';
import type { Bus, BusMessage } from '../engines/bus.js';
import type { Member, Presence, PresenceEntry } from '../engines/presence.js';
import { memberJson, presenceFrame, readPresence } from './frames.js';
import { PresenceViews } from './presence-views.js';

/** What the tracker needs of a connection. */
export interface PresenceConn {
  readonly id: string;
  readonly identity: { userId: string; info: Member['info'] } | undefined;
}

/**
 * The members a new subscriber was told about, kept for one to two heartbeats after `subscribed`
 * (as long as a join/leave that raced the snapshot can still be in flight). A `join` for a known
 * member and a `leave` for an unknown one are skipped; everything else updates the set.
 */
export class Seam {
  private readonly known: Set<string>;
  constructor(
    members: readonly Member[],
    readonly generation: number,
  ) {
    this.known = new Set(members.map((m) => m.userId));
  }

  admit(frame: string): boolean {
    const { action, userId } = readPresence(frame);
    if (action === undefined || userId === undefined) return true;
    if (action === 'join') {
      if (this.known.has(userId)) return false;
      this.known.add(userId);
      return true;
    }
    return this.known.delete(userId);
  }
}

/** A channel holding seams, which the tracker expires. */
export interface SeamHolder {
  /** Drops the seams older than `generation`; whether any are left. */
  expireSeams(generation: number): boolean;
}

export interface PresenceTrackerOptions {
  /** The window closes this long after the channel's last presence event. Default 10. */
  quietMs?: number;
  /** … and at most this long after it opened. Default 250. */
  maxMs?: number;
  now?: () => number;
}

/** One user's presence frames in a window: the first and the last. */
interface Change {
  first: string;
  last: string;
  ts: number;
}

interface Window {
  openedAt: number;
  lastAt: number;
  /** Per user, in order of first appearance. */
  changes: Map<string, Change>;
  /** join() calls waiting for the window's members list. */
  readers: { resolve(members: Member[]): void; reject(err: unknown): void }[];
}

export class PresenceTracker {
  /** Local entries, key: connectionId + '\n' + channel. */
  private readonly entries = new Map<string, PresenceEntry>();
  private readonly seamHolders = new Set<SeamHolder>();
  private readonly windows = new Map<string, Window>();
  private readonly views = new PresenceViews();
  private readonly quietMs: number;
  private readonly maxMs: number;
  private readonly now: () => number;
  private generation = 0;
  private flushing = false;
  private repairing = false;
  private repairAgain = false;
  /** The engine reconnected: read the members again once the entries are repaired. */
  private resyncDue = false;

  /** `deliver` fans a (coalesced) presence frame out to the channel's local subscribers (the channel registry's `message`). */
  constructor(
    readonly engine: Presence,
    private readonly bus: Bus,
    private readonly logger: Logger,
    private readonly deliver: (msg: BusMessage) => void,
    opts: PresenceTrackerOptions = {},
  ) {
    this.quietMs = opts.quietMs ?? 10;
    this.maxMs = Math.max(this.quietMs, opts.maxMs ?? 250);
    this.now = opts.now ?? Date.now;
  }

  start(): Promise<void> {
    return this.engine.start({
      expired: (channel, member) => {
        this.changed(channel, 'leave', member);
      },
      restored: () => {
        this.resyncDue = true;
        this.repair();
      },
    });
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Adds the connection's entry, announces `join` if it is the user's first, and reads the member
   * list when the channel's window closes. Resolves undefined (having undone its work) when the
   * subscription was abandoned meanwhile.
   */
  async join(channel: string, conn: PresenceConn, stillWanted: () => boolean): Promise<{ json: string; seam: Seam } | undefined> {
    const member: Member = { userId: conn.identity!.userId, info: conn.identity!.info };
    const entry: PresenceEntry = { channel, connectionId: conn.id, member };
    const { joined } = await this.engine.add(entry);
    if (!stillWanted()) {
      await this.remove(entry);
      return undefined;
    }
    this.entries.set(`${conn.id}\n${channel}`, entry);
    this.views.entryAdded(channel);
    if (joined) this.changed(channel, 'join', member);
    const members = await new Promise<Member[]>((resolve, reject) => this.window(channel).readers.push({ resolve, reject }));
    if (!stillWanted()) return undefined; // leave() already removed the entry
    return { json: JSON.stringify(members), seam: new Seam(members, this.generation) };
  }

  /**
   * The channel's members now, and a seam maker for each subscriber told about them (the hub's
   * unsolicited `subscribed` after a channel's position was lost, see catch-up.ts).
   */
  async snapshot(channel: string): Promise<{ json: string; seam: () => Seam }> {
    const members = await this.engine.members(channel);
    this.views.reset(channel, members);
    const generation = this.generation;
    return { json: JSON.stringify(members), seam: () => new Seam(members, generation) };
  }

  /** Removes the connection's entry of `channel` (if any) and announces `leave` if it was the user's last. */
  leave(channel: string, conn: PresenceConn): Promise<void> {
    const key = `${conn.id}\n${channel}`;
    const entry = this.entries.get(key);
    if (entry === undefined) return Promise.resolve();
    this.entries.delete(key);
    this.views.entryRemoved(channel);
    return this.remove(entry);
  }

  /**
   * A presence frame from the bus: held in the channel's window (true), or to be delivered now
   * (false: not a presence frame, or the window itself delivering).
   */
  coalesce(msg: BusMessage): boolean {
    if (this.flushing || msg.offset !== undefined || !isPresenceChannel(msg.channel)) return false;
    const { action, userId } = readPresence(msg.frame);
    if (action === undefined || userId === undefined) return false;
    this.views.arrived(msg.channel, userId);
    this.collect(msg.channel, userId, msg.frame, msg.ts);
    return true;
  }

  /**
   * Reads the members of this node's presence channels (those named, or all) again and puts into
   * each one's window what changed since its local subscribers were told (see the header). Never
   * rejects: a failed read is logged (the next reconnect or resync reads again).
   */
  async resync(channels?: readonly string[]): Promise<void> {
    const names = channels === undefined ? this.views.channels() : channels.filter((c) => this.views.has(c));
    const now = this.now();
    const failed: unknown[] = [];
    await Promise.all(
      names.map(async (channel) => {
        try {
          const changes = await this.views.diff(channel, () => this.engine.members(channel));
          for (const c of changes) this.collect(channel, c.userId, presenceFrame(channel, c.action, c.member), now);
        } catch (err) {
          failed.push(err);
        }
      }),
    );
    if (failed.length > 0) this.logger.warn({ err: failed[0], channels: failed.length }, 'presence members re-read failed');
  }

  /** A channel now holds seams: expire them on later heartbeats. */
  trackSeams(holder: SeamHolder): void {
    this.seamHolders.add(holder);
  }

  /** Once per heartbeat: touch every local entry in one call (re-adding lost ones) and expire old seams. */
  heartbeat(): void {
    this.generation++;
    this.repair();
    for (const holder of this.seamHolders) if (!holder.expireSeams(this.generation - 1)) this.seamHolders.delete(holder);
  }

  members(channel: string): Promise<Member[]> {
    return this.engine.members(channel);
  }

  /**
   * Touches every local entry; those the engine no longer has (expired during an outage longer
   * than the TTL, lost in a restart) are added again, announcing a join if the user was gone.
   * Runs on every heartbeat and when the engine reconnects, one at a time; after a reconnect it
   * then reads the members again (`resync`: the list read has this node's entries back).
   */
  private repair(): void {
    if (this.repairing) {
      this.repairAgain = true;
      return;
    }
    if (this.entries.size === 0) {
      this.resyncDue = false; // no local entry: no local presence channel to read again
      return;
    }
    this.repairing = true;
    this.repairAgain = false;
    this.engine
      .touch([...this.entries.values()])
      .then((missing) => Promise.all(missing.map((e) => this.readd(e))))
      .catch((err: unknown) => this.logger.warn({ err }, 'presence touch failed'))
      .finally(() => {
        this.repairing = false;
        if (this.repairAgain) this.repair();
        else if (this.resyncDue) {
          this.resyncDue = false;
          void this.resync();
        }
      });
  }

  private async readd(entry: PresenceEntry): Promise<void> {
    const key = `${entry.connectionId}\n${entry.channel}`;
    if (this.entries.get(key) !== entry) return; // left meanwhile
    const { joined } = await this.engine.add(entry);
    if (this.entries.get(key) !== entry) {
      // It left while the add was in flight, and its remove may have run first: remove again.
      await this.remove(entry);
      return;
    }
    if (joined) this.changed(entry.channel, 'join', entry.member);
    this.logger.debug({ channel: entry.channel }, 'presence entry added again');
  }

  /** Adds one user's presence frame to the channel's window. */
  private collect(channel: string, userId: string, frame: string, ts: number): void {
    const w = this.window(channel);
    const change = w.changes.get(userId);
    if (change === undefined) w.changes.set(userId, { first: frame, last: frame, ts });
    else {
      change.last = frame;
      change.ts = ts;
    }
  }

  private window(channel: string): Window {
    const now = this.now();
    let w = this.windows.get(channel);
    if (w === undefined) {
      w = { openedAt: now, lastAt: now, changes: new Map(), readers: [] };
      this.windows.set(channel, w);
      this.arm(channel, w, this.quietMs);
    } else {
      w.lastAt = now;
    }
    return w;
  }

  private arm(channel: string, w: Window, ms: number): void {
    setTimeout(() => {
      const now = this.now();
      const due = Math.min(w.lastAt + this.quietMs, w.openedAt + this.maxMs);
      if (now < due) this.arm(channel, w, due - now);
      else void this.flush(channel, w);
    }, ms).unref();
  }

  private async flush(channel: string, w: Window): Promise<void> {
    this.windows.delete(channel);
    this.flushing = true;
    try {
      for (const change of w.changes.values()) {
        for (const frame of netFrames(change)) {
          const { action, userId, member } = readPresence(frame);
          if (action !== undefined && userId !== undefined) this.views.delivered(channel, { action, userId, member });
          this.deliver({ channel, frame, ts: change.ts });
        }
      }
    } finally {
      this.flushing = false;
    }
    if (w.readers.length === 0) return;
    const first = this.views.firstList(channel); // what the channel's first subscribers are told
    try {
      const members = await this.engine.members(channel);
      first?.(members);
      for (const r of w.readers) r.resolve(members);
    } catch (err) {
      first?.(undefined);
      for (const r of w.readers) r.reject(err);
    }
  }

  private async remove(entry: PresenceEntry): Promise<void> {
    try {
      const { left } = await this.engine.remove(entry.channel, entry.connectionId, entry.member.userId);
      if (left) this.changed(entry.channel, 'leave', entry.member);
    } catch (err) {
      this.logger.warn({ err, channel: entry.channel }, 'presence remove failed');
    }
  }

  /**
   * A member was added to or removed from a presence channel, cluster-wide: the engine decided it,
   * exactly once in the cluster, on this node (the first entry added, the last removed, or an
   * expiry). The one place every such change passes on the deciding node, so it is where webhooks
   * (member added / removed) attach. An engine that announces (Redis) has already published the
   * frame in the same atomic step; for the others (the embedded one) the node broadcasts it here:
   * delivery is in-process and synchronous, so it cannot fail or reorder while the node runs.
   */
  private changed(channel: string, action: 'join' | 'leave', member: Member): void {
    if (this.engine.announces === true) return;
    this.bus
      .broadcast(channel, presenceFrame(channel, action, memberJson(member)))
      .catch((err: unknown) => this.logger.warn({ err, channel }, `presence ${action} broadcast failed`));
  }
}

/** What one user's frames in a window amount to: nothing, one frame, or (leave, join) when the info changed. */
function netFrames({ first, last }: Change): string[] {
  const a = readPresence(first);
  const b = readPresence(last);
  if (a.action === 'join') return b.action === 'join' ? [last] : []; // was absent: present now, or not
  if (b.action === 'leave') return [last]; // was present, gone now
  return a.member === b.member ? [] : [first, last]; // was present and still is: did the info change?
}
