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
 *   yield exactly one `joined: true`.
 * - `members` lists each user once, with the `info` of one of its entries.
 * - Entries belong to a node. `touch` (called by the owning node every heartbeat) keeps them alive;
 *   entries not touched for `ttlMs` (2 × heartbeat) expire, and an expiry that removes a user's last
 *   entry is reported through `onExpired` (by whichever node notices) exactly once.
 */
import type { Member } from '@river/protocol';

export type { Member };

export interface PresenceEntry {
  channel: string;
  connectionId: string;
  member: Member;
}

export interface PresenceOptions {
  /** Entries not touched within this many ms expire (2 × heartbeatMs). */
  ttlMs: number;
  now?: () => number;
}

export interface Presence {
  start(handlers: { expired(channel: string, member: Member): void }): Promise<void>;
  close(): Promise<void>;
  add(entry: PresenceEntry): Promise<{ joined: boolean }>;
  remove(channel: string, connectionId: string, userId: string): Promise<{ left: boolean }>;
  members(channel: string): Promise<Member[]>;
  /** Refreshes the given entries' expiry (the owning node's heartbeat). */
  touch(entries: readonly PresenceEntry[]): Promise<void>;
}
