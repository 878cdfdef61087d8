/**
 * Complete, unmasked WebSocket text frames (RFC 6455 section 5.2) built once and written as-is to
 * any number of sockets. Server frames are never masked and permessage-deflate is off, so the bytes
 * are the same for every recipient. (What ws's `Sender.frame` builds, in one Buffer instead of a
 * header and a payload; everything else of the WebSocket layer is ws.)
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
