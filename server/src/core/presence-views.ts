/**
 * What the local subscribers of each presence channel were told, for the presence tracker
 * (`presence-tracker.ts`): per channel with local entries, the first members list read for its
 * subscribers, then every join and leave delivered to them. After a cut, `diff` reads the members
 * again and answers what changed since: the frames this node missed. A user a frame arrives for
 * while that list is read is left out of the answer (the frame tells that user's change).
 */
import type { Member } from '../engines/presence.js';
import { memberJson } from './frames.js';

/** One change to tell a channel's subscribers; `member` is the member's JSON text. */
export interface MemberChange {
  action: 'join' | 'leave';
  userId: string;
  member: string;
}

interface View {
  /** Local entries of the channel: the view goes with the last one. */
  entries: number;
  /** userId → member JSON (`{"userId":…,"info":…}`) as last told; null until a members list was read. */
  told: Map<string, string> | null;
  /** While the first members list is read: the changes delivered meanwhile (applied on top of it). */
  early: MemberChange[] | null;
  /** One set per `diff` read in flight: the users a presence frame arrived for meanwhile. */
  reading: Set<Set<string>> | null;
}

function toldOf(members: readonly Member[]): Map<string, string> {
  return new Map(members.map((m) => [m.userId, memberJson(m)]));
}

export class PresenceViews {
  private readonly views = new Map<string, View>();

  /** The channels with local entries. */
  channels(): string[] {
    return [...this.views.keys()];
  }

  has(channel: string): boolean {
    return this.views.has(channel);
  }

  entryAdded(channel: string): void {
    const view = this.views.get(channel);
    if (view === undefined) this.views.set(channel, { entries: 1, told: null, early: null, reading: null });
    else view.entries++;
  }

  entryRemoved(channel: string): void {
    const view = this.views.get(channel);
    if (view !== undefined && --view.entries === 0) this.views.delete(channel);
  }

  /** A presence frame for `userId` reached the channel's window. */
  arrived(channel: string, userId: string): void {
    const reading = this.views.get(channel)?.reading;
    if (reading != null) for (const users of reading) users.add(userId);
  }

  /** A join or leave went out to the channel's subscribers. */
  delivered(channel: string, change: MemberChange): void {
    const view = this.views.get(channel);
    if (view === undefined) return;
    if (view.told === null) view.early?.push(change);
    else if (change.action === 'join') view.told.set(change.userId, change.member);
    else view.told.delete(change.userId);
  }

  /**
   * A members list is about to be read for new subscribers of the channel. When nothing was told
   * yet, answers what to call with the list (undefined: the read failed), which becomes what was told.
   */
  firstList(channel: string): ((members: Member[] | undefined) => void) | undefined {
    const view = this.views.get(channel);
    if (view === undefined || view.told !== null || view.early !== null) return undefined;
    view.early = [];
    return (members) => {
      const early = view.early ?? [];
      view.early = null;
      if (members === undefined || this.views.get(channel) !== view) return;
      view.told = toldOf(members);
      for (const change of early) this.delivered(channel, change);
    };
  }

  /** The channel's subscribers were given this whole list (the unsolicited `subscribed`, catch-up.ts). */
  reset(channel: string, members: readonly Member[]): void {
    const view = this.views.get(channel);
    if (view?.told != null) view.told = toldOf(members);
  }

  /**
   * Reads the channel's members with `read` and answers the changes from what its subscribers were
   * told: a leave per member gone, a join per member added, a leave and a join for one whose info
   * changed. Nothing while its first list is still being read. Rejects when `read` does.
   */
  async diff(channel: string, read: () => Promise<Member[]>): Promise<MemberChange[]> {
    const view = this.views.get(channel);
    if (view === undefined || view.told === null) return [];
    const arrived = new Set<string>();
    const reading = (view.reading ??= new Set());
    reading.add(arrived);
    let members: Member[];
    try {
      members = await read();
    } finally {
      reading.delete(arrived);
      if (reading.size === 0 && view.reading === reading) view.reading = null;
    }
    const told = view.told;
    if (this.views.get(channel) !== view || told === null) return [];
    const current = toldOf(members);
    const changes: MemberChange[] = [];
    for (const [userId, member] of told) {
      if (!arrived.has(userId) && !current.has(userId)) changes.push({ action: 'leave', userId, member });
    }
    for (const [userId, member] of current) {
      const was = told.get(userId);
      if (arrived.has(userId) || was === member) continue;
      if (was !== undefined) changes.push({ action: 'leave', userId, member: was });
      changes.push({ action: 'join', userId, member });
    }
    return changes;
  }
}
