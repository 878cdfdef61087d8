/**
 * The WebSocket opening handshake (RFC 6455 section 4.2), answered by the node itself: the request
 * is checked, the 101 response written, and nothing of the request is kept afterwards (no
 * WebSocket object, no headers, no closure over `req`). Like `ws` without extensions: a version 13
 * (or 8) client with a well-formed key is accepted, permessage-deflate is never negotiated, and the
 * first subprotocol the client offers, if any, is echoed (browsers fail a handshake that offered
 * subprotocols and got none back).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export type UpgradeAnswer = { ok: true; response: string } | { ok: false; status: 400 | 405; message: string };

/** The response to a WebSocket upgrade request, or why it is refused. */
export function answerUpgrade(req: IncomingMessage): UpgradeAnswer {
  if (req.method !== 'GET') return { ok: false, status: 405, message: 'Invalid HTTP method' };
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return { ok: false, status: 400, message: 'Invalid Upgrade header' };
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return { ok: false, status: 400, message: 'Missing or invalid Sec-WebSocket-Key header' };
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return { ok: false, status: 400, message: 'Missing or invalid Sec-WebSocket-Version header' };
  let protocolLine = '';
  const offered = req.headers['sec-websocket-protocol'];
  if (offered !== undefined) {
    const protocols = offered.split(',').map((p) => p.trim());
    if (!protocols.every((p) => TOKEN.test(p))) return { ok: false, status: 400, message: 'Invalid Sec-WebSocket-Protocol header' };
    protocolLine = `Sec-WebSocket-Protocol: ${protocols[0]}\r\n`;
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return {
    ok: true,
    response: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${protocolLine}\r\n`,
  };
}
