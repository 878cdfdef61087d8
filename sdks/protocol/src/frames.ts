/**
 * Wire frames of River protocol v1 (docs/protocol.md#2-frames). Every frame is one UTF-8 JSON object
 * with a string `type`. Unknown fields are ignored.
 */
import type { ErrorCode } from './codes.js';

export type RequestId = number | string;

export interface StreamPosition {
  /** Opaque; changes only when the channel's history is lost. */
  epoch: string;
  /** Offset of the latest message in the channel (0 when none was published in this epoch). */
  offset: number;
}

export interface Member {
  userId: string;
  info: Record<string, unknown>;
}

// ---- client → server -------------------------------------------------------------------------

export interface AuthFrame {
  type: 'auth';
  token: string;
  id?: RequestId;
}
export interface SubscribeFrame {
  type: 'subscribe';
  channel: string;
  since?: StreamPosition;
  id?: RequestId;
}
export interface UnsubscribeFrame {
  type: 'unsubscribe';
  channel: string;
  id?: RequestId;
}
export interface ClientPublishFrame {
  type: 'publish';
  channel: string;
  event: string;
  data: unknown;
  id?: RequestId;
}
export interface RefreshFrame {
  type: 'refresh';
  token: string;
  id?: RequestId;
}
export interface PingFrame {
  type: 'ping';
  id?: RequestId;
}
export interface PongFrame {
  type: 'pong';
  id?: RequestId;
}

export type ClientFrame = AuthFrame | SubscribeFrame | UnsubscribeFrame | ClientPublishFrame | RefreshFrame | PingFrame | PongFrame;

// ---- server → client -------------------------------------------------------------------------

export interface ReadyFrame {
  type: 'ready';
  connectionId: string;
  userId: string;
  heartbeatMs: number;
}
export interface SubscribedFrame {
  type: 'subscribed';
  channel: string;
  epoch: string;
  offset: number;
  recovered?: boolean;
  members?: Member[];
  id?: RequestId;
}
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  channel: string;
  id?: RequestId;
}
export interface MessageFrame {
  type: 'message';
  channel: string;
  event: string;
  data: unknown;
  offset: number;
  ts: number;
}
export interface PresenceFrame {
  type: 'presence';
  channel: string;
  action: 'join' | 'leave';
  member: Member;
}
export interface PublishedFrame {
  type: 'published';
  channel: string;
  offset: number;
  id?: RequestId;
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  channel?: string;
  id?: RequestId;
}
export interface ServerPingFrame {
  type: 'ping';
}
export interface ServerPongFrame {
  type: 'pong';
}

export type ServerFrame =
  | ReadyFrame
  | SubscribedFrame
  | UnsubscribedFrame
  | MessageFrame
  | PresenceFrame
  | PublishedFrame
  | ErrorFrame
  | ServerPingFrame
  | ServerPongFrame;

/** A history entry: a `message` frame without its `type`. */
export type HistoryMessage = Omit<MessageFrame, 'type'>;

// ---- parsing ---------------------------------------------------------------------------------

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  /** Not JSON, or JSON that is not an object: close 4502 protocol_error. */
  | { ok: false; fatal: true; message: string }
  /** A JSON object that is not a valid frame: reply with an `error` frame, keep the connection. */
  | { ok: false; fatal: false; code: 'bad_request'; message: string; id?: RequestId; channel?: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requestId(v: unknown): RequestId | undefined {
  return typeof v === 'number' || typeof v === 'string' ? v : undefined;
}

/** Parses one client text frame. Validation is structural; channel-name rules are checked by the caller. */
export function parseClientFrame(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, fatal: true, message: 'frame is not valid JSON' };
  }
  if (!isObject(raw)) return { ok: false, fatal: true, message: 'frame is not a JSON object' };
  const id = requestId(raw.id);
  const bad = (message: string) =>
    ({ ok: false, fatal: false, code: 'bad_request', message, ...(id !== undefined ? { id } : {}) }) as const;
  const withId = <T extends object>(f: T): T => (id !== undefined ? { ...f, id } : f);
  switch (raw.type) {
    case 'auth':
    case 'refresh':
      if (typeof raw.token !== 'string' || raw.token === '') return bad(`${raw.type} needs a string "token"`);
      return { ok: true, frame: withId({ type: raw.type, token: raw.token }) };
    case 'subscribe': {
      if (typeof raw.channel !== 'string') return bad('subscribe needs a string "channel"');
      let since: StreamPosition | undefined;
      if (raw.since !== undefined && raw.since !== null) {
        const s = raw.since;
        if (!isObject(s) || typeof s.epoch !== 'string' || !Number.isSafeInteger(s.offset) || (s.offset as number) < 0) {
          return bad('"since" must be {"offset": non-negative integer, "epoch": string}');
        }
        since = { epoch: s.epoch, offset: s.offset as number };
      }
      return { ok: true, frame: withId({ type: 'subscribe', channel: raw.channel, ...(since ? { since } : {}) }) };
    }
    case 'unsubscribe':
      if (typeof raw.channel !== 'string') return bad('unsubscribe needs a string "channel"');
      return { ok: true, frame: withId({ type: 'unsubscribe', channel: raw.channel }) };
    case 'publish':
      if (typeof raw.channel !== 'string') return bad('publish needs a string "channel"');
      if (typeof raw.event !== 'string' || raw.event === '' || raw.event.length > 200) {
        return bad('publish needs a string "event" of 1 to 200 characters');
      }
      return { ok: true, frame: withId({ type: 'publish', channel: raw.channel, event: raw.event, data: raw.data ?? null }) };
    case 'ping':
    case 'pong':
      return { ok: true, frame: withId({ type: raw.type }) };
    default:
      return bad(typeof raw.type === 'string' ? `unknown frame type "${raw.type}"` : 'frame needs a string "type"');
  }
}

/** Parses one server text frame (for clients). Returns undefined for anything that is not an object with a string type. */
export function parseServerFrame(text: string): ServerFrame | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw) || typeof raw.type !== 'string') return undefined;
  return raw as unknown as ServerFrame;
}
