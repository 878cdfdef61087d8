/**
 * Reads of the Redis bus (`position`, `history`: one `riverHistory` script, so a channel's history
 * and its position are read in one atomic step) that resolve only after live delivery has caught up.
 *
 * On a channel this node is subscribed to, a read resolves only after every message it includes has
 * been handed to the bus's `onMessage` (as on the memory bus, whose delivery is synchronous). Live
 * messages and script replies use different connections, so the script publishes a marker
 * (`s<nodeId>.<seq>`) on the channel's live pub/sub channel after reading, and the read waits until
 * the marker arrives (`onMarker`), at most SYNC_TIMEOUT_MS. Without this, a recovering subscriber
 * could get a message in its replay and again live, just after. When the bound is hit (a lost
 * marker, a slow subscriber connection), the per-subscriber guard of a channel (`ahead`, channel.ts)
 * still drops what it already gave.
 */
import type { BusMessage, HistoryResult } from '../bus.js';
import { asUnavailable } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { newEpoch, type ScriptClient } from './redis-scripts.js';

/** Longest a read waits for live delivery to catch up (a lost marker: the connection dropped). */
const SYNC_TIMEOUT_MS = 1000;

export class RedisReads {
  private readonly syncs = new Map<string, () => void>();
  private syncSeq = 0;

  /** `isSubscribed`: whether Redis has confirmed this node's subscription to the channel. */
  constructor(
    private readonly scripts: ScriptClient,
    private readonly keys: RedisKeys,
    private readonly nodeId: string,
    private readonly cluster: boolean,
    private readonly historyTtlSeconds: number,
    private readonly isSubscribed: (channel: string) => boolean,
  ) {}

  /** History after `since` (at most `limit` messages) and the position, read atomically. */
  async read(channel: string, since: number, limit: number): Promise<HistoryResult> {
    let reply: Awaited<ReturnType<ScriptClient['riverHistory']>>;
    // On a subscribed channel, resolve only once live delivery has caught up with what was read
    // (as on the memory bus), so a recovering subscriber never gets a message twice at the seam.
    const marker = this.isSubscribed(channel) ? `s${this.nodeId}.${(this.syncSeq = (this.syncSeq + 1) % 1e9)}` : '';
    const synced = marker === '' ? undefined : this.awaitMarker(marker);
    try {
      reply = await this.scripts.riverHistory(
        this.keys.meta(channel),
        this.keys.stream(channel),
        since,
        limit,
        newEpoch(),
        this.historyTtlSeconds,
        this.cluster ? 'SPUBLISH' : 'PUBLISH',
        this.keys.live(channel),
        marker,
      );
    } catch (err) {
      if (marker !== '') this.syncs.get(marker)?.();
      throw asUnavailable(err);
    }
    await synced;
    const [epoch, rawOffset, rawOldest, entries] = reply;
    const offset = Number(rawOffset);
    const oldest = Number(rawOldest);
    const messages: BusMessage[] = [];
    for (const [id, fields] of entries) {
      const msg: BusMessage = { channel, offset: Number(id.slice(0, id.indexOf('-'))), epoch, frame: '', ts: 0 };
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'f') msg.frame = fields[i + 1]!;
        else if (fields[i] === 't') msg.ts = Number(fields[i + 1]);
        else if (fields[i] === 'x') msg.excludeConnectionId = fields[i + 1]!;
      }
      messages.push(msg);
    }
    const complete = since >= oldest - 1 && since <= offset;
    return { position: { epoch, offset }, messages, complete };
  }

  /** A read's sync marker arrived on a live channel (a pub/sub payload starting with `s`). */
  onMarker(payload: string): void {
    this.syncs.get(payload)?.();
  }

  /** Resolves every read waiting for its marker (the bus is closing). */
  settleAll(): void {
    for (const done of [...this.syncs.values()]) done();
  }

  /** Resolves when this node receives `marker` on a live channel, or after the sync timeout. */
  private awaitMarker(marker: string): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.syncs.delete(marker);
        resolve();
      };
      const timer = setTimeout(done, SYNC_TIMEOUT_MS);
      this.syncs.set(marker, done);
    });
  }
}
