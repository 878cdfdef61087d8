/**
 * Presence: who is in each `presence-` channel, cluster-wide. Engines: `memory-presence.ts`,
 * `redis-presence.ts`; every engine passes `presence.contract.ts`.
 *
 * Contract:
 * - Entries are per connection: (channel, connectionId) → member. A user with several
 *   connections (tabs, nodes) is one member.
 * - `add` resolves `joined: true` exactly when the user had no entry in the channel before it
 *   (cluster-wide); `remove` resolves `left: true` exactly when it removed the user's last entry.
 *   Both are atomic per (channel, userId): two concurrent adds of one user's first two connections
 *   yield exactly one `joined: true`, and a user's last remove racing a new add yields either
 *   (left, joined) or neither, never one without the other.
 * - `members` lists each user once, with the `info` of one of its entries.
 * - Entries belong to a node. `touch` (called by the owning node every heartbeat) keeps them alive;
 *   an entry not touched for `ttlMs` expires, and an expiry that removes a user's last entry is
 *   reported through `expired` exactly once, by whichever started node notices (the owning node may
 *   be gone), no sooner than `ttlMs` and (for a TTL of 300 ms or more) within `ttlMs × 4/3` after
 *   the entry's last touch.
 * - `touch` never revives an entry that expired (its leave is reported, or about to be): it
 *   resolves the entries it did not find, and the owning node adds those again with `add` (a
 *   `joined: true` then announces the user again). This is how a connection that is still open gets
 *   its entry back after the backend lost it (an outage longer than the TTL, a restart).
 * - `restored` is called when the engine reconnects to its backend after losing it: entries may be
 *   gone, and the node should touch (and so re-add) its entries at once.
 * - Events. An engine with `announces: true` publishes the `presence` join/leave frame itself, on
 *   the bus's live channel of the presence channel, atomically with the state change that decides it
 *   (add, remove, expiry), so no event is lost between the change and its broadcast and events of
 *   one channel reach every node in the order of the changes. Otherwise (the embedded engine: one
 *   process, synchronous state) the node broadcasts them.
 */
import type { Member } from '@river/protocol';

export type { Member };

export interface PresenceEntry {
  channel: string;
  connectionId: string;
  member: Member;
}

export interface PresenceOptions {
  /** Entries not touched within this many ms expire (`presenceTtlMs(heartbeatMs)`). */
  ttlMs: number;
  now?: () => number;
}

export interface PresenceHandlers {
  /** An expiry removed the user's last entry in the channel (reported once, cluster-wide). */
  expired(channel: string, member: Member): void;
  /** The engine is connected to its backend again after losing it; entries may be gone. */
  restored?(): void;
}

export interface Presence {
  /** True when the engine publishes join/leave frames itself (see the contract above). */
  readonly announces?: boolean;
  /**
   * False while an engine with its own backend connection cannot reach it (`/readyz` answers 503
   * then). Absent: always ready (the embedded engine).
   */
  readonly ready?: boolean;
  start(handlers: PresenceHandlers): Promise<void>;
  close(): Promise<void>;
  add(entry: PresenceEntry): Promise<{ joined: boolean }>;
  remove(channel: string, connectionId: string, userId: string): Promise<{ left: boolean }>;
  members(channel: string): Promise<Member[]>;
  /**
   * Refreshes the given entries' expiry (the owning node's heartbeat). Resolves the entries that no
   * longer exist (expired, or lost by the backend): they are not revived; `add` them again.
   */
  touch(entries: readonly PresenceEntry[]): Promise<PresenceEntry[]>;
}

/**
 * The entry TTL for a heartbeat: 1.5 × heartbeatMs. The owning node touches its entries once per
 * heartbeat round (every heartbeatMs, give or take one hub tick ≤ heartbeatMs / 4), so a live
 * node's entries never expire, and a dead node's last touch expires within 1.5 × heartbeatMs plus
 * one sweep period (≤ ttl / 10 on Redis, ≤ ttl / 4 in memory, capped at 1 s): within the promised
 * 2 × heartbeatMs with room to spare, instead of exactly at it.
 */
export function presenceTtlMs(heartbeatMs: number): number {
  return Math.round(heartbeatMs * 1.5);
}
