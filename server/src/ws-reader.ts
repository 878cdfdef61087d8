/**
 * Incoming WebSocket frames (RFC 6455 section 5), parsed straight from the socket's chunks into a
 * few plain fields of the connection: no stream, buffer list, listener or closure per socket (the
 * `ws` library's Receiver + Sender + WebSocket cost ~1.8 KB of heap per idle connection).
 *
 * What it enforces, like `ws` with permessage-deflate off: client frames are masked, RSV bits are
 * clear, opcodes are known, control frames are final and at most 125 bytes, continuation frames
 * follow a started message; a data message over `maxPayload` bytes (all its fragments together) is
 * refused with 1009 before it is buffered, one of more than 16,384 fragments with 1008 (as `ws`);
 * a text message or close reason that is not UTF-8 with 1007; close codes must be valid (1002
 * otherwise). After a close frame or an error, the rest of the input is ignored.
 */
import { isUtf8 } from 'node:buffer';

/** The parser's state (fields of the connection) and where complete frames go. */
export interface FrameReader {
  /**
   * Bytes of an incomplete frame from earlier chunks; null on a frame boundary. The buffer grows
   * geometrically as chunks arrive (linear copying however a frame is split) and never beyond
   * twice what was received (a header announcing 64 KB does not make us hold 64 KB).
   */
  rxPending: Buffer | null;
  /** Bytes of `rxPending` in use. */
  rxFill: number;
  /** A fragmented message in progress; null when none (allocated only while there is one). */
  rxFragments: Fragments | null;
  /** Reading is over (a close frame or an error was read). */
  rxDone: boolean;
  /** A complete data message. */
  onMessage(data: Buffer, isBinary: boolean): void;
  onPing(payload: Buffer): void;
  /** A close frame; `code` 1005 when it carried none. Reading stops. */
  onCloseFrame(code: number, reason: string): void;
  /** The client broke the protocol (1002), sent bad UTF-8 (1007), too many fragments (1008) or too much (1009). Reading stops. */
  onFrameError(code: FrameErrorCode, message: string): void;
}

export type FrameErrorCode = 1002 | 1007 | 1008 | 1009;

export interface Fragments {
  /** Copies of the payloads so far. */
  parts: Buffer[];
  bytes: number;
  binary: boolean;
}

const MAX_FRAGMENTS = 16 * 1024;

/** A copy in memory of its own (not a slice of a chunk or of the shared pool). */
function own(b: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  b.copy(copy);
  return copy;
}

function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function fail(r: FrameReader, code: FrameErrorCode, message: string): void {
  r.rxDone = true;
  r.rxPending = null;
  r.rxFragments = null;
  r.onFrameError(code, message);
}

/** Parses `chunk` (unmasking it in place) and hands every complete frame to `r`. */
export function readFrames(r: FrameReader, chunk: Buffer, maxPayload: number): void {
  if (r.rxDone) return;
  const pending = r.rxPending;
  if (pending === null) {
    parse(r, chunk, chunk.length, false, maxPayload);
    return;
  }
  const fill = r.rxFill;
  const end = fill + chunk.length;
  let buf = pending;
  if (end > buf.length) {
    buf = Buffer.allocUnsafeSlow(Math.max(end, 2 * pending.length));
    pending.copy(buf, 0, 0, fill);
  }
  chunk.copy(buf, fill);
  r.rxPending = null;
  parse(r, buf, end, true, maxPayload);
}

/** Parses `buf` up to `end`; `owned`: `buf` is the pending buffer and may be kept as is. */
function parse(r: FrameReader, buf: Buffer, end: number, owned: boolean, maxPayload: number): void {
  let pos = 0;
  while (!r.rxDone) {
    const avail = end - pos;
    if (avail < 2) break;
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x70) !== 0) return fail(r, 1002, 'RSV bits must be clear');
    if ((b1 & 0x80) === 0) return fail(r, 1002, 'client frames must be masked');
    let len = b1 & 0x7f;
    if (opcode >= 8) {
      if (opcode > 10) return fail(r, 1002, `invalid opcode ${opcode}`);
      if (!fin) return fail(r, 1002, 'control frames must not be fragmented');
      if (len > 125) return fail(r, 1002, 'control frames must be at most 125 bytes');
    } else if (opcode === 0) {
      if (r.rxFragments === null) return fail(r, 1002, 'continuation frame without a message to continue');
    } else if (opcode === 1 || opcode === 2) {
      if (r.rxFragments !== null) return fail(r, 1002, 'a new message inside a fragmented one');
    } else {
      return fail(r, 1002, `invalid opcode ${opcode}`);
    }
    let head = 2;
    if (len === 126) {
      if (avail < 4) break;
      len = buf.readUInt16BE(pos + 2);
      head = 4;
    } else if (len === 127) {
      if (avail < 10) break;
      const hi = buf.readUInt32BE(pos + 2);
      len = hi > 0 ? Number.POSITIVE_INFINITY : buf.readUInt32BE(pos + 6);
      head = 10;
    }
    if (opcode < 8 && len + (r.rxFragments?.bytes ?? 0) > maxPayload) return fail(r, 1009, 'message too large');
    const start = pos + head + 4;
    if (avail < head + 4 + len) break;
    const payload = buf.subarray(start, start + len);
    for (let i = 0; i < len; i++) payload[i]! ^= buf[pos + head + (i & 3)]!;
    pos = start + len;

    if (opcode === 8) {
      let code = 1005;
      let reason = '';
      if (len === 1) return fail(r, 1002, 'a close frame payload must be empty or hold a status code');
      if (len >= 2) {
        code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) return fail(r, 1002, `invalid close code ${code}`);
        const text = payload.subarray(2);
        if (!isUtf8(text)) return fail(r, 1007, 'the close reason is not UTF-8');
        reason = text.toString('utf8');
      }
      r.rxDone = true;
      r.rxFragments = null;
      r.onCloseFrame(code, reason);
      return;
    }
    if (opcode === 9) {
      r.onPing(payload);
      continue;
    }
    if (opcode === 10) continue;
    let data = payload;
    let binary = opcode === 2;
    const frags = r.rxFragments;
    if (frags !== null) {
      // A continuation frame (checked above).
      if (frags.parts.length >= MAX_FRAGMENTS) return fail(r, 1008, 'too many message fragments');
      if (!fin) {
        frags.parts.push(own(payload));
        frags.bytes += len;
        continue;
      }
      frags.parts.push(payload);
      data = Buffer.concat(frags.parts, frags.bytes + len);
      binary = frags.binary;
      r.rxFragments = null;
    } else if (!fin) {
      // Fragments are copied: holding a slice would keep the whole chunk alive.
      r.rxFragments = { parts: [own(payload)], bytes: len, binary };
      continue;
    }
    if (!binary && !isUtf8(data)) return fail(r, 1007, 'a text message is not UTF-8');
    r.onMessage(data, binary);
  }
  if (!r.rxDone && pos < end) {
    if (owned && pos === 0) {
      r.rxPending = buf;
      r.rxFill = end;
      return;
    }
    // Copied into memory of its own (not a slice of the chunk or of a pool), so an idle socket
    // holds only these bytes.
    const rest = Buffer.allocUnsafeSlow(end - pos);
    buf.copy(rest, 0, pos, end);
    r.rxPending = rest;
    r.rxFill = rest.length;
  }
}
