/**
 * The embedded presence engine. Passes `presence.contract.ts`.
 *
 * State lives in a `MemoryPresenceBackend`; each `MemoryPresence` is one node on it (a node created
 * without a backend gets its own), so the contract suite can test several nodes in one process.
 *
 * - Per channel: connectionId → entry, and userId → (connectionId → member), which makes `joined`
 *   (the user's first entry) and `left` (its last) O(1) and `members` O(users).
 * - Expiry without a timer per entry: every entry sits in one backend-wide `Set` in touch order
 *   (`touch` deletes and re-adds, moving it to the end); expired entries are swept from the front
 *   by one unref'd interval timer and at the start of every operation, so expiry is exact even
 *   between timer runs. An expiry that removes a user's last entry in a channel is reported once,
 *   to the owning node's `expired` handler if that node is still started, else to another started
 *   node's.
 * - `touch` refreshes entries that still exist and resolves the others; an entry that already
 *   expired is not revived (its expiry was reported; the owner adds it again).
 * - All operations are synchronous inside, hence atomic per (channel, userId).
 */
import type { Member, Presence, PresenceEntry, PresenceHandlers, PresenceOptions } from '../presence.js';

export interface MemoryPresenceStats {
  channels: number;
  entries: number;
}

export interface MemoryPresenceBackendOptions extends PresenceOptions {
  /** How often the sweep timer runs. Default: a quarter of ttlMs, between 10 ms and 1 s. */
  sweepIntervalMs?: number;
}

interface Entry {
  channel: string;
  connectionId: string;
  member: Member;
  node: MemoryPresence;
  touchedAt: number;
}

interface ChannelPresence {
  byConnection: Map<string, Entry>;
  byUser: Map<string, Map<string, Member>>;
}

export class MemoryPresenceBackend {
  readonly ttlMs: number;
  readonly now: () => number;
  readonly sweepIntervalMs: number;
  private readonly channels = new Map<string, ChannelPresence>();
  /** Every entry, in touch order: the front expires first. */
  private readonly order = new Set<Entry>();
  private readonly nodes = new Set<MemoryPresence>();
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: MemoryPresenceBackendOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${opts.ttlMs}`);
    this.ttlMs = opts.ttlMs;
    this.now = opts.now ?? (() => Date.now());
    this.sweepIntervalMs = opts.sweepIntervalMs ?? Math.min(1000, Math.max(10, opts.ttlMs / 4));
  }

  stats(): MemoryPresenceStats {
    return { channels: this.channels.size, entries: this.order.size };
  }

  /** Expires entries not touched within ttlMs, reporting users whose last entry went. */
  sweep(): void {
    const deadline = this.now() - this.ttlMs;
    for (const entry of this.order) {
      if (entry.touchedAt > deadline) break;
      if (this.delete(entry)) this.reportExpired(entry);
    }
  }

  attach(node: MemoryPresence): void {
    this.nodes.add(node);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.sweepIntervalMs);
      this.timer.unref();
    }
  }

  detach(node: MemoryPresence): void {
    this.nodes.delete(node);
    if (this.nodes.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  add(node: MemoryPresence, e: PresenceEntry): boolean {
    this.sweep();
    let ch = this.channels.get(e.channel);
    if (ch === undefined) this.channels.set(e.channel, (ch = { byConnection: new Map(), byUser: new Map() }));
    const existing = ch.byConnection.get(e.connectionId);
    if (existing !== undefined) {
      // The same connection again: a refresh, or (odd) another user on the same connection id.
      if (existing.member.userId === e.member.userId) {
        existing.member = e.member;
        existing.node = node;
        ch.byUser.get(e.member.userId)?.set(e.connectionId, e.member);
        this.refresh(existing);
        return false;
      }
      this.delete(existing);
      ch = this.channels.get(e.channel) ?? { byConnection: new Map(), byUser: new Map() };
      this.channels.set(e.channel, ch);
    }
    const entry: Entry = { channel: e.channel, connectionId: e.connectionId, member: e.member, node, touchedAt: this.now() };
    ch.byConnection.set(e.connectionId, entry);
    this.order.add(entry);
    let conns = ch.byUser.get(e.member.userId);
    const joined = conns === undefined;
    if (conns === undefined) ch.byUser.set(e.member.userId, (conns = new Map()));
    conns.set(e.connectionId, e.member);
    return joined;
  }

  remove(channel: string, connectionId: string, userId: string): boolean {
    this.sweep();
    const entry = this.channels.get(channel)?.byConnection.get(connectionId);
    // Connection ids are unique and a connection's user never changes; `userId` is for engines
    // that key entries by user.
    void userId;
    if (entry === undefined) return false;
    return this.delete(entry);
  }

  members(channel: string): Member[] {
    this.sweep();
    const ch = this.channels.get(channel);
    if (ch === undefined) return [];
    const out: Member[] = [];
    for (const conns of ch.byUser.values()) {
      const first = conns.values().next();
      if (!first.done) out.push(first.value);
    }
    return out;
  }

  /** Refreshes the entries that exist; returns the others. */
  touch(entries: readonly PresenceEntry[]): PresenceEntry[] {
    this.sweep();
    const missing: PresenceEntry[] = [];
    for (const e of entries) {
      const entry = this.channels.get(e.channel)?.byConnection.get(e.connectionId);
      if (entry !== undefined) this.refresh(entry);
      else missing.push(e);
    }
    return missing;
  }

  private refresh(entry: Entry): void {
    entry.touchedAt = this.now();
    this.order.delete(entry);
    this.order.add(entry);
  }

  /** Removes the entry; true when it was its user's last in the channel. */
  private delete(entry: Entry): boolean {
    this.order.delete(entry);
    const ch = this.channels.get(entry.channel);
    if (ch === undefined || ch.byConnection.get(entry.connectionId) !== entry) return false;
    ch.byConnection.delete(entry.connectionId);
    const conns = ch.byUser.get(entry.member.userId);
    conns?.delete(entry.connectionId);
    const last = conns !== undefined && conns.size === 0;
    if (last) ch.byUser.delete(entry.member.userId);
    if (ch.byConnection.size === 0) this.channels.delete(entry.channel);
    return last;
  }

  private reportExpired(entry: Entry): void {
    let node: MemoryPresence | undefined = entry.node.started ? entry.node : undefined;
    if (node === undefined)
      for (const n of this.nodes)
        if (n.started) {
          node = n;
          break;
        }
    node?.reportExpired(entry.channel, entry.member);
  }
}

export class MemoryPresence implements Presence {
  readonly backend: MemoryPresenceBackend;
  readonly announces = false;
  private handlers: PresenceHandlers | undefined;
  private closed = false;

  /** With `backend`, this is one more node on that shared state; its own `opts` are then unused. */
  constructor(opts: MemoryPresenceBackendOptions, backend?: MemoryPresenceBackend) {
    this.backend = backend ?? new MemoryPresenceBackend(opts);
  }

  /** @internal */
  get started(): boolean {
    return this.handlers !== undefined && !this.closed;
  }

  async start(handlers: PresenceHandlers): Promise<void> {
    if (this.closed) throw new Error('the presence engine was closed');
    this.handlers = handlers;
    this.backend.attach(this);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.backend.detach(this);
  }

  stats(): MemoryPresenceStats {
    return this.backend.stats();
  }

  sweep(): void {
    this.backend.sweep();
  }

  async add(entry: PresenceEntry): Promise<{ joined: boolean }> {
    return { joined: this.backend.add(this, entry) };
  }

  async remove(channel: string, connectionId: string, userId: string): Promise<{ left: boolean }> {
    return { left: this.backend.remove(channel, connectionId, userId) };
  }

  async members(channel: string): Promise<Member[]> {
    return this.backend.members(channel);
  }

  async touch(entries: readonly PresenceEntry[]): Promise<PresenceEntry[]> {
    return this.backend.touch(entries);
  }

  /** @internal */
  reportExpired(channel: string, member: Member): void {
    try {
      this.handlers?.expired(channel, member);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
