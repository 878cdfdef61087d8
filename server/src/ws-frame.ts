/**
 * The complete, unmasked WebSocket frames (RFC 6455 section 5.2) a River node writes: text frames
 * built once and written as-is to any number of sockets (server frames are never masked and no
 * extension is negotiated, so the bytes are the same for every recipient), and the close and pong
 * control frames. Incoming frames are parsed in `ws-reader.ts`.
 */

/** One FIN text frame holding `text` as UTF-8: header and payload in a single Buffer. */
export function textFrame(text: string): Buffer {
  const len = Buffer.byteLength(text, 'utf8');
  const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(head + len);
  buf[0] = 0x81; // FIN + opcode 1 (text)
  if (len < 126) {
    buf[1] = len;
  } else if (len < 65_536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  buf.write(text, head, len, 'utf8');
  return buf;
}

/** A close frame (opcode 8): the status code and UTF-8 reason, or an empty payload when `code` is undefined. */
export function closeFrame(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return Buffer.from([0x88, 0]);
  const len = 2 + Buffer.byteLength(reason, 'utf8');
  if (len > 125) throw new RangeError('a close reason must be at most 123 bytes');
  const buf = Buffer.allocUnsafe(2 + len);
  buf[0] = 0x88;
  buf[1] = len;
  buf.writeUInt16BE(code, 2);
  buf.write(reason, 4, 'utf8');
  return buf;
}

/** A pong frame (opcode 10) echoing a ping's payload (at most 125 bytes, as every control frame). */
export function pongFrame(payload: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(2 + payload.length);
  buf[0] = 0x8a;
  buf[1] = payload.length;
  payload.copy(buf, 2);
  return buf;
}
