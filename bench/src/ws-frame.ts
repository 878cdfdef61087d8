/**
 * The lean WebSocket framing the load generator needs: read server frames (unmasked) from a byte
 * stream without copying whole frames, and build client frames (masked with an all-zero key, which
 * RFC 6455 allows and which leaves the payload bytes unchanged, so no per-byte work).
 */
export const OP_CONTINUATION = 0;
export const OP_TEXT = 1;
export const OP_BINARY = 2;
export const OP_CLOSE = 8;
export const OP_PING = 9;
export const OP_PONG = 10;

/** Called once per complete frame; the payload is `buf[start, end)` and is only valid during the call. */
export type FrameHandler = (opcode: number, buf: Buffer, start: number, end: number) => void;

export class FrameReader {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: FrameHandler) {}

  /** Feeds bytes read from the socket; complete frames are handed to the handler in order. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const len = buf.length;
    let pos = 0;
    while (len - pos >= 2) {
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let plen = b1 & 0x7f;
      let hdr = 2;
      if (plen === 126) {
        if (len - pos < 4) break;
        plen = buf.readUInt16BE(pos + 2);
        hdr = 4;
      } else if (plen === 127) {
        if (len - pos < 10) break;
        plen = buf.readUInt32BE(pos + 2) * 0x1_0000_0000 + buf.readUInt32BE(pos + 6);
        hdr = 10;
      }
      if ((b1 & 0x80) !== 0) hdr += 4; // a masked frame (never from a server): payload left masked
      if (len - pos < hdr + plen) break;
      this.onFrame(b0 & 0x0f, buf, pos + hdr, pos + hdr + plen);
      pos += hdr + plen;
    }
    // Copy the tail so a partial frame never pins a large read buffer per socket.
    if (pos < len) this.pending = Buffer.from(buf.subarray(pos));
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.pending === null ? 0 : this.pending.length;
  }
}

/** A final client frame with the given opcode, masked with a zero key. */
export function encodeClientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const hdr = n < 126 ? 6 : n < 65_536 ? 8 : 14;
  const out = Buffer.alloc(hdr + n);
  out[0] = 0x80 | opcode;
  if (n < 126) {
    out[1] = 0x80 | n;
  } else if (n < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(n / 0x1_0000_0000), 2);
    out.writeUInt32BE(n >>> 0, 6);
  }
  // bytes hdr-4 … hdr-1 are the (zero) mask key, already zero from Buffer.alloc
  payload.copy(out, hdr);
  return out;
}

export function encodeClientText(text: string): Buffer {
  return encodeClientFrame(OP_TEXT, Buffer.from(text, 'utf8'));
}

const ZERO = 48;
const NINE = 57;
const DOT = 46;
const MINUS = 45;

/**
 * Reads a plain decimal number (digits, optional sign and fraction, no exponent) starting at `pos`.
 * Returns NaN when no digit is there. Used to pick the publish timestamp out of a payload without
 * parsing the JSON.
 */
export function readNumber(buf: Buffer, pos: number, end: number): number {
  let i = pos;
  let neg = false;
  if (i < end && buf[i] === MINUS) {
    neg = true;
    i++;
  }
  let v = 0;
  let digits = 0;
  while (i < end) {
    const c = buf[i]!;
    if (c < ZERO || c > NINE) break;
    v = v * 10 + (c - ZERO);
    digits++;
    i++;
  }
  if (i < end && buf[i] === DOT) {
    i++;
    let scale = 0.1;
    while (i < end) {
      const c = buf[i]!;
      if (c < ZERO || c > NINE) break;
      v += (c - ZERO) * scale;
      scale /= 10;
      digits++;
      i++;
    }
  }
  if (digits === 0) return NaN;
  return neg ? -v : v;
}

const T_KEY = Buffer.from('"t":');

/** The value of the first `"t":<number>` in `buf[start, end)`, or NaN. */
export function findStamp(buf: Buffer, start: number, end: number): number {
  const at = buf.indexOf(T_KEY, start);
  if (at < 0 || at + 4 >= end) return NaN;
  return readNumber(buf, at + 4, end);
}
