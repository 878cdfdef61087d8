import { describe, expect, it } from 'vitest';
import { readFrames, type FrameReader } from './ws-reader.js';

/** A masked client frame, as browsers send them. */
function frame(opcode: number, payload: Buffer | string, fin = true, mask = true): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const len = data.length;
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const out = Buffer.alloc(head + (mask ? 4 : 0) + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65_536 ? 126 : 127);
  if (len >= 126 && len < 65_536) out.writeUInt16BE(len, 2);
  if (len >= 65_536) out.writeUInt32BE(len, 6);
  if (mask) key.copy(out, head);
  for (let i = 0; i < len; i++) out[head + (mask ? 4 : 0) + i] = data[i]! ^ (mask ? key[i & 3]! : 0);
  return out;
}

function reader() {
  const events: unknown[] = [];
  const r: FrameReader = {
    rxPending: null,
    rxFill: 0,
    rxFragments: null,
    rxDone: false,
    onMessage: (data, isBinary) => events.push(isBinary ? ['binary', data.length] : ['text', data.toString('utf8')]),
    onPing: (p) => events.push(['ping', p.toString()]),
    onCloseFrame: (code, reason) => events.push(['close', code, reason]),
    onFrameError: (code, message) => events.push(['error', code, message]),
  };
  return { r, events };
}

describe('readFrames', () => {
  it('unmasks text and binary messages, whole or split at any byte', () => {
    const input = Buffer.concat([frame(1, '{"type":"ping"}'), frame(2, Buffer.alloc(300)), frame(1, 'é'.repeat(40_000))]);
    for (const step of [input.length, 1, 2, 7, 1000]) {
      const { r, events } = reader();
      for (let i = 0; i < input.length; i += step) readFrames(r, Buffer.from(input.subarray(i, i + step)), 100_000);
      expect(events).toEqual([['text', '{"type":"ping"}'], ['binary', 300], ['text', 'é'.repeat(40_000)]]);
      expect(r.rxPending).toBeNull();
    }
  });

  it('holds only what arrived of a frame, not the size its header announces', () => {
    const { r, events } = reader();
    const big = frame(1, 'x'.repeat(60_000));
    readFrames(r, big.subarray(0, 20), 100_000);
    expect(r.rxPending!.length).toBeLessThan(100);
    for (let i = 20; i < big.length; i += 1000) readFrames(r, Buffer.from(big.subarray(i, i + 1000)), 100_000);
    expect(r.rxPending).toBeNull();
    expect(events).toEqual([['text', 'x'.repeat(60_000)]]);
  });

  it('joins fragments, with a ping between them', () => {
    const { r, events } = reader();
    readFrames(r, Buffer.concat([frame(1, '{"a":', false), frame(9, 'p'), frame(0, '1', false), frame(0, '}')]), 1000);
    expect(events).toEqual([['ping', 'p'], ['text', '{"a":1}']]);
    expect(r.rxFragments).toBeNull();
  });

  it('closes 1008 past 16,384 fragments of one message, however small', () => {
    const { r, events } = reader();
    const empty = frame(0, '', false);
    readFrames(r, Buffer.concat([frame(1, '', false), ...Array.from({ length: 16_384 }, () => empty)]), 1000);
    expect(events).toEqual([['error', 1008, 'too many message fragments']]);
  });

  it('reports close frames with their code and reason (1005 without one) and stops reading', () => {
    const a = reader();
    const code = Buffer.alloc(2);
    code.writeUInt16BE(4000);
    readFrames(a.r, Buffer.concat([frame(8, Buffer.concat([code, Buffer.from('bye')])), frame(1, 'late')]), 1000);
    expect(a.events).toEqual([['close', 4000, 'bye']]);
    expect(a.r.rxDone).toBe(true);
    const b = reader();
    readFrames(b.r, frame(8, ''), 1000);
    expect(b.events).toEqual([['close', 1005, '']]);
  });

  it('refuses a message over maxPayload with 1009 as soon as its header says so', () => {
    const { r, events } = reader();
    readFrames(r, frame(1, 'x'.repeat(2000)).subarray(0, 8), 1000);
    expect(events).toEqual([['error', 1009, 'message too large']]);
    const f = reader();
    readFrames(f.r, Buffer.concat([frame(1, 'x'.repeat(600), false), frame(0, 'x'.repeat(600))]), 1000);
    expect(f.events).toEqual([['error', 1009, 'message too large']]);
  });

  it('closes 1007 for text that is not UTF-8 and 1002 for broken framing', () => {
    const cases: [Buffer, number][] = [
      [frame(1, Buffer.from([0xff, 0xfe])), 1007],
      [frame(1, 'x', true, false), 1002], // unmasked
      [Buffer.from([0xc1, 0x80, 0, 0, 0, 0]), 1002], // RSV1
      [frame(3, 'x'), 1002], // unknown opcode
      [frame(0, 'x'), 1002], // continuation without a message
      [Buffer.concat([frame(1, 'a', false), frame(1, 'b')]), 1002],
      [frame(9, 'p', false), 1002], // fragmented control frame
      [frame(8, Buffer.from([3])), 1002], // one-byte close payload
      [frame(8, Buffer.from([0x03, 0xed])), 1002], // close code 1005 on the wire
    ];
    for (const [input, code] of cases) {
      const { r, events } = reader();
      readFrames(r, input, 1000);
      expect(events, input.toString('hex')).toEqual([['error', code, expect.any(String)]]);
      readFrames(r, frame(1, 'after'), 1000);
      expect(events).toHaveLength(1);
    }
  });
});
