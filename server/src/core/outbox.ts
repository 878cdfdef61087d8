/**
 * The node's outgoing write path. Every data frame for a client goes through here (ws's own sender
 * only writes pongs to WebSocket pings and the close frame, each a whole frame), so order is kept
 * and writes are coalesced:
 *
 * - `push` queues a prebuilt frame Buffer (the same Buffer for every subscriber of a message) on the
 *   peer and marks the peer dirty in ONE node-wide list; a single `setImmediate` flushes the list,
 *   writing everything queued for a socket during this loop turn in one corked write (one writev
 *   system call), so a batch of 10 messages costs one syscall per subscriber and a lone message is
 *   not delayed past the current turn. Frames queued alike on many sockets (a channel's
 *   subscribers) are joined into one Buffer once per flush and that Buffer is written to each.
 * - Backpressure: while a socket's own buffer is over `HOLD_BYTES`, frames stay in the peer's queue
 *   until the socket drains. A peer whose socket buffer plus queue would exceed `maxBufferedBytes`
 *   is a slow consumer: its queue is dropped and `slow()` closes it (4003). Nobody else waits.
 * - Backlog (a subscribe's answer: `subscribed`, maybe with a large presence `members` list, and the
 *   replay of missed messages): `pushBacklog` queues frames that are built and handed to the socket
 *   only as it drains, and are never counted as slowness: a client that missed more than
 *   `maxBufferedBytes` recovers at its own reading speed. While a peer has a backlog, every frame
 *   pushed for it goes behind it (order is kept); only those frames (the live ones) count against
 *   `maxBufferedBytes`, so a client that reads slower than its live traffic is still cut.
 */
import type { Socket } from 'node:net';

/** The fields the outbox keeps on each connection (plain fields: no per-connection closures). */
export interface OutboxPeer {
  readonly socket: Socket;
  /** Frames queued and not yet handed to the socket. */
  out: Buffer | Buffer[] | null;
  outBytes: number;
  /** In the dirty list. */
  dirty: boolean;
  /** Waiting for the socket's 'drain'. */
  held: boolean;
  /** False once the peer is closing: pushes are dropped. */
  writable: boolean;
  /**
   * Frames waiting behind a backlog, in order: a Buffer is a live frame (counted in `outBytes`), a
   * function builds a backlog frame when the socket has room. Null when there is no backlog.
   */
  backlog: BacklogEntry[] | null;
  /** Called (once) when the peer exceeds `maxBufferedBytes`. */
  slow(): void;
}

/** A live frame, or a backlog frame built when written. */
export type BacklogEntry = Buffer | (() => Buffer);

/** Keep handing bytes to a socket until its own buffer holds this much, then wait for 'drain'. */
const HOLD_BYTES = 64 * 1024;
const PEER = Symbol('river.outboxPeer');
type TaggedSocket = Socket & { [PEER]?: OutboxPeer; [OUTBOX]?: Outbox };
const OUTBOX = Symbol('river.outbox');

function onDrain(this: TaggedSocket): void {
  const peer = this[PEER];
  const outbox = this[OUTBOX];
  if (peer === undefined || outbox === undefined) return;
  peer.held = false;
  if (peer.out !== null || peer.backlog !== null) outbox.markDirty(peer);
}

/** Same Buffers (by reference) in the same order. */
function sameFrames(a: Buffer[], b: Buffer[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Outbox {
  private dirty: OutboxPeer[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(private readonly maxBufferedBytes: number) {}

  /** Queues `frame` for `peer`. False when the peer is not writable or was just cut as a slow consumer. */
  push(peer: OutboxPeer, frame: Buffer): boolean {
    if (!peer.writable) return false;
    const queued = peer.outBytes + frame.length;
    // Behind a backlog the socket's own buffer holds backlog bytes: only the live frames count.
    if ((peer.backlog === null ? peer.socket.writableLength : 0) + queued > this.maxBufferedBytes) {
      this.drop(peer);
      peer.slow();
      return false;
    }
    if (peer.backlog !== null) {
      peer.backlog.push(frame);
      peer.outBytes = queued;
      return true;
    }
    const out = peer.out;
    if (out === null) peer.out = frame;
    else if (Array.isArray(out)) out.push(frame);
    else peer.out = [out, frame];
    peer.outBytes = queued;
    if (!peer.held) this.markDirty(peer);
    return true;
  }

  /**
   * Queues backlog frames for `peer` (built by `make` only when written): they go out after what is
   * queued, as the socket drains, and never count against `maxBufferedBytes`. False when the peer
   * is not writable.
   */
  pushBacklog(peer: OutboxPeer, make: (() => Buffer)[]): boolean {
    if (!peer.writable) return false;
    let backlog = peer.backlog;
    if (backlog === null) {
      // What is queued already goes first, as live frames.
      const out = peer.out;
      backlog = out === null ? [] : Array.isArray(out) ? out.slice() : [out];
      peer.out = null;
      peer.backlog = backlog;
    }
    for (const m of make) backlog.push(m);
    if (!peer.held) this.markDirty(peer);
    return true;
  }

  /** Forgets what is queued for `peer` (slow consumer, closed socket). */
  drop(peer: OutboxPeer): void {
    peer.out = null;
    peer.outBytes = 0;
    peer.backlog = null;
  }

  /** Writes what is queued for `peer` now, ignoring backpressure (used right before a close frame). */
  flushPeer(peer: OutboxPeer): void {
    if (peer.backlog !== null) this.feed(peer, true);
    if (peer.out !== null) this.write(peer, true);
  }

  /** @internal */
  markDirty(peer: OutboxPeer): void {
    if (peer.dirty) return;
    peer.dirty = true;
    this.dirty.push(peer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const list = this.dirty;
    this.dirty = [];
    // Subscribers of a channel have the same frames queued in the same order: join them once per
    // flush and hand that one Buffer to each socket (one plain write instead of a corked writev of
    // n chunks per socket, which costs a write request per chunk).
    let joined: Map<Buffer, { parts: Buffer[]; joined: Buffer }> | null = null;
    for (let i = 0; i < list.length; i++) {
      const peer = list[i]!;
      peer.dirty = false;
      if (peer.held) continue;
      if (peer.backlog !== null) {
        this.feed(peer, false);
        continue;
      }
      const out = peer.out;
      if (out === null) continue;
      if (Array.isArray(out)) {
        joined ??= new Map();
        let memo = joined.get(out[0]!);
        if (memo === undefined || !sameFrames(memo.parts, out)) {
          memo = { parts: out, joined: Buffer.concat(out, peer.outBytes) };
          joined.set(out[0]!, memo);
        }
        peer.out = memo.joined;
      }
      this.write(peer, false);
    }
  }

  private write(peer: OutboxPeer, force: boolean): void {
    const socket = peer.socket;
    const out = peer.out;
    peer.out = null;
    peer.outBytes = 0;
    if (out === null || !socket.writable) return;
    if (!force && socket.writableLength >= HOLD_BYTES) {
      // Still backed up from an earlier flush: keep the frames and wait for 'drain'.
      peer.out = out;
      peer.outBytes = Array.isArray(out) ? out.reduce((n, b) => n + b.length, 0) : out.length;
      this.hold(peer);
      return;
    }
    let ok: boolean;
    if (Array.isArray(out)) {
      socket.cork();
      for (let i = 0; i < out.length - 1; i++) socket.write(out[i]!);
      ok = socket.write(out[out.length - 1]!);
      socket.uncork();
    } else {
      ok = socket.write(out);
    }
    if (!ok && socket.writableLength >= HOLD_BYTES) this.hold(peer);
  }

  /** Hands backlog entries to the socket until its buffer holds `HOLD_BYTES`; ends the backlog once all went out. */
  private feed(peer: OutboxPeer, force: boolean): void {
    const socket = peer.socket;
    const backlog = peer.backlog!;
    if (!socket.writable) {
      this.drop(peer);
      return;
    }
    let i = 0;
    if (backlog.length > 1) socket.cork();
    for (; i < backlog.length && (force || socket.writableLength < HOLD_BYTES); i++) {
      const entry = backlog[i]!;
      if (typeof entry === 'function') {
        socket.write(entry());
      } else {
        peer.outBytes -= entry.length;
        socket.write(entry);
      }
    }
    if (backlog.length > 1) socket.uncork();
    if (i < backlog.length) {
      backlog.splice(0, i);
      this.hold(peer);
      return;
    }
    // All written: back to the plain path once the socket is below HOLD_BYTES (the backlog's bytes
    // in it would otherwise count as the next live frame's).
    backlog.length = 0;
    if (socket.writableLength >= HOLD_BYTES && !force) {
      this.hold(peer);
      return;
    }
    peer.backlog = null;
    peer.outBytes = 0;
  }

  private hold(peer: OutboxPeer): void {
    if (peer.held) return;
    peer.held = true;
    const socket = peer.socket as TaggedSocket;
    socket[PEER] = peer;
    socket[OUTBOX] = this;
    socket.once('drain', onDrain);
  }
}
