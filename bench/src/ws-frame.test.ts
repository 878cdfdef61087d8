import { describe, expect, it } from 'vitest';
import { FrameReader, OP_CLOSE, OP_TEXT, encodeClientFrame, encodeClientText, findStamp, readNumber } from './ws-frame.js';

function serverFrame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x80 | op, n])
      : n < 65_536
        ? Buffer.from([0x80 | op, 126, n >> 8, n & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | op, 127]),
            (() => {
              const b = Buffer.alloc(8);
              b.writeUInt32BE(n, 4);
              return b;
            })(),
          ]);
  return Buffer.concat([head, payload]);
}

function collect(chunks: Buffer[]): [number, string][] {
  const out: [number, string][] = [];
  const r = new FrameReader((op, buf, s, e) => out.push([op, buf.toString('utf8', s, e)]));
  for (const c of chunks) r.push(c);
  return out;
}

describe('FrameReader', () => {
  const small = serverFrame(OP_TEXT, Buffer.from('{"type":"ping"}'));
  const medium = serverFrame(OP_TEXT, Buffer.from('m'.repeat(300)));
  const large = serverFrame(OP_TEXT, Buffer.from('L'.repeat(70_000)));
  const close = serverFrame(OP_CLOSE, Buffer.from([0x0f, 0xa3, 0x73]));

  it('reads several frames from one chunk, with 7-bit, 16-bit and 64-bit lengths', () => {
    const got = collect([Buffer.concat([small, medium, large, close])]);
    expect(got.map(([op, s]) => [op, s.length])).toEqual([
      [OP_TEXT, 15],
      [OP_TEXT, 300],
      [OP_TEXT, 70_000],
      [OP_CLOSE, 3],
    ]);
    expect(got[0]![1]).toBe('{"type":"ping"}');
  });

  it('reassembles frames split at every byte boundary', () => {
    const all = Buffer.concat([small, medium, close]);
    for (let cut = 1; cut < all.length; cut++) {
      const got = collect([all.subarray(0, cut), all.subarray(cut)]);
      expect(got.map(([op, s]) => [op, s.length])).toEqual([
        [OP_TEXT, 15],
        [OP_TEXT, 300],
        [OP_CLOSE, 3],
      ]);
    }
  });

  it('holds back only the partial tail', () => {
    const r = new FrameReader(() => {});
    r.push(Buffer.concat([small, medium.subarray(0, 10)]));
    expect(r.pendingBytes).toBe(10);
  });
});

describe('client frames', () => {
  it('are masked with a zero key so the payload bytes are unchanged', () => {
    const f = encodeClientText('{"type":"pong"}');
    expect([...f.subarray(0, 6)]).toEqual([0x81, 0x80 | 15, 0, 0, 0, 0]);
    expect(f.subarray(6).toString()).toBe('{"type":"pong"}');
    const big = encodeClientFrame(OP_TEXT, Buffer.alloc(200, 0x61));
    expect([big[1], big.readUInt16BE(2), big.length]).toEqual([0x80 | 126, 200, 8 + 200]);
  });
});

describe('stamps', () => {
  it('reads the publish time out of a payload without parsing JSON', () => {
    const p = Buffer.from('{"type":"message","data":{"t":1764300000123.456,"p":"x"},"ts":1}');
    expect(findStamp(p, 0, p.length)).toBeCloseTo(1764300000123.456, 3);
    expect(readNumber(Buffer.from('-12.5,'), 0, 6)).toBe(-12.5);
    expect(Number.isNaN(findStamp(Buffer.from('{"ts":1}'), 0, 8))).toBe(true);
  });
});
