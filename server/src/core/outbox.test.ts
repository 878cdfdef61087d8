import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Outbox, type OutboxPeer } from './outbox.js';

/** A socket that records every write (by reference) and whose own buffer the test sets. */
class FakeSocket extends EventEmitter {
  writes: Buffer[] = [];
  writableLength = 0;
  writable = true;
  corked = 0;
  write(b: Buffer): boolean {
    this.writes.push(b);
    return this.writableLength < 64 * 1024;
  }
  cork(): void {
    this.corked++;
  }
  uncork(): void {}
}

function peer(): OutboxPeer & { socket: FakeSocket; cut: number } {
  const p = {
    socket: new FakeSocket(),
    out: null,
    outBytes: 0,
    dirty: false,
    held: false,
    backlog: null,
    writable: true,
    cut: 0,
    slow() {
      p.cut++;
    },
  };
  return p as unknown as OutboxPeer & { socket: FakeSocket; cut: number };
}

const turn = () => new Promise((r) => setImmediate(r));
const frame = (s: string) => Buffer.from(s);

describe('Outbox', () => {
  it('hands the very same Buffer to every subscriber, once, after the current turn', async () => {
    const outbox = new Outbox(1 << 20);
    const peers = Array.from({ length: 1000 }, peer);
    const f = frame('{"type":"message"}');
    for (const p of peers) expect(outbox.push(p, f)).toBe(true);
    expect(peers.every((p) => p.socket.writes.length === 0)).toBe(true); // not written synchronously
    await turn();
    for (const p of peers) {
      expect(p.socket.writes).toHaveLength(1);
      expect(p.socket.writes[0]).toBe(f); // the same object: no copy per subscriber
    }
  });

  it('writes a batch queued in one turn as one write, joined once for all subscribers', async () => {
    const outbox = new Outbox(1 << 20);
    const peers = Array.from({ length: 50 }, peer);
    const frames = Array.from({ length: 10 }, (_, i) => frame(`m${i};`));
    for (const f of frames) for (const p of peers) outbox.push(p, f);
    await turn();
    const first = peers[0]!.socket.writes[0]!;
    expect(first.toString()).toBe(frames.map(String).join(''));
    for (const p of peers) {
      expect(p.socket.writes).toHaveLength(1);
      expect(p.socket.writes[0]).toBe(first);
    }
  });

  it('keeps each socket its own frames when queues differ', async () => {
    const outbox = new Outbox(1 << 20);
    const [a, b] = [peer(), peer()];
    const [x, y, z] = [frame('x'), frame('y'), frame('z')];
    outbox.push(a, x);
    outbox.push(a, y);
    outbox.push(b, x);
    outbox.push(b, z);
    await turn();
    expect(Buffer.concat(a.socket.writes).toString()).toBe('xy');
    expect(Buffer.concat(b.socket.writes).toString()).toBe('xz');
  });

  it('cuts a slow consumer once its buffered bytes would pass the limit, and nobody else waits', async () => {
    const outbox = new Outbox(1000);
    const [slow, fast] = [peer(), peer()];
    slow.socket.writableLength = 990;
    const f = frame('0123456789abcdef');
    expect(outbox.push(slow, f)).toBe(false);
    expect(slow.cut).toBe(1);
    expect(slow.out).toBeNull();
    expect(outbox.push(fast, f)).toBe(true);
    await turn();
    expect(slow.socket.writes).toHaveLength(0);
    expect(fast.socket.writes).toEqual([f]);
  });

  it('holds frames while the socket is backed up and writes them, in order, on drain', async () => {
    const outbox = new Outbox(1 << 20);
    const p = peer();
    p.socket.writableLength = 64 * 1024;
    outbox.push(p, frame('a'));
    await turn();
    expect(p.socket.writes).toHaveLength(0);
    expect(p.held).toBe(true);
    outbox.push(p, frame('b'));
    await turn();
    expect(p.socket.writes).toHaveLength(0);
    p.socket.writableLength = 0;
    p.socket.emit('drain');
    await turn();
    expect(Buffer.concat(p.socket.writes).toString()).toBe('ab');
  });

  it('drops pushes to a peer that is closing', () => {
    const outbox = new Outbox(1 << 20);
    const p = peer();
    p.writable = false;
    expect(outbox.push(p, frame('a'))).toBe(false);
    expect(p.out).toBeNull();
  });

  it('sends a backlog as the socket drains, never counting it, with live frames behind it in order', async () => {
    const outbox = new Outbox(1000);
    const p = peer();
    const big = Array.from({ length: 5 }, (_, i) => () => frame(`${i}`.repeat(40_000)));
    expect(outbox.pushBacklog(p, big)).toBe(true); // 200 KB, far over the 1000-byte limit
    expect(outbox.push(p, frame('live'))).toBe(true);
    let rounds = 0;
    while (p.backlog !== null && rounds++ < 20) {
      await turn();
      // the client reads everything written so far
      p.socket.writableLength = 0;
      p.socket.emit('drain');
    }
    await turn();
    expect(p.cut).toBe(0);
    const text = Buffer.concat(p.socket.writes).toString();
    expect(text.endsWith('live')).toBe(true);
    expect(text.length).toBe(200_000 + 4);
    expect(text.slice(0, 3)).toBe('000');
  });

  it('writes a backlog only while the socket has room, and cuts on live frames past the limit', async () => {
    const outbox = new Outbox(1000);
    const p = peer();
    let built = 0;
    const make = () => {
      built++;
      return frame('b'.repeat(50_000));
    };
    outbox.pushBacklog(p, [make, make, make]);
    p.socket.write = function (b: Buffer) {
      this.writes.push(b);
      this.writableLength += b.length;
      return this.writableLength < 64 * 1024;
    };
    await turn();
    expect(built).toBe(2); // 100 KB in the socket: the third waits for 'drain' (and is not built yet)
    expect(outbox.push(p, frame('x'.repeat(600)))).toBe(true);
    expect(p.cut).toBe(0);
    expect(outbox.push(p, frame('y'.repeat(600)))).toBe(false); // 1200 live bytes behind the backlog
    expect(p.cut).toBe(1);
  });
});
