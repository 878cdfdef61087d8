/**
 * Every frame the server sends a client, written in one place: as JSON text (typed against the
 * protocol package's `ServerFrame`, docs/protocol.md#2-frames), and as the WebSocket frame that
 * carries it. A frame's bytes are built by hand, in a fixed field order, because a message frame is
 * serialized once per publish and its pre-serialized parts (`data`, `members`, a presence `member`)
 * are spliced in as they are; `frames.test.ts` parses every writer's output back against the
 * protocol types. The pieces the Redis scripts splice (`messageParts`, `PRESENCE_*`) come from here
 * too, and so do the two readers of frames the server reads back (`readPresence`, `historyItem`).
 */
import type {
  ErrorFrame,
  Member,
  MessageFrame,
  PresenceFrame,
  PublishedFrame,
  ReadyFrame,
  RequestId,
  SubscribedFrame,
  UnsubscribedFrame,
} from '@river/protocol';

/** JSON text of a value, spliced into a frame as is. */
export type JsonText = string;

type Fields<F> = Omit<F, 'type'>;
const str = JSON.stringify;
const idField = (id: RequestId | undefined): string => (id === undefined ? '' : `,"id":${str(id)}`);

export function readyFrame(f: Fields<ReadyFrame>): string {
  return `{"type":"ready","connectionId":${str(f.connectionId)},"userId":${str(f.userId)},"heartbeatMs":${f.heartbeatMs}}`;
}

/** `members`: the members list as JSON text (presence channels). */
export function subscribedFrame(f: Omit<Fields<SubscribedFrame>, 'members'> & { members?: JsonText }): string {
  let text = `{"type":"subscribed","channel":${str(f.channel)},"epoch":${str(f.epoch)},"offset":${f.offset}`;
  if (f.recovered !== undefined) text += `,"recovered":${f.recovered}`;
  if (f.members !== undefined) text += `,"members":${f.members}`;
  return `${text}${idField(f.id)}}`;
}

export function unsubscribedFrame(f: Fields<UnsubscribedFrame>): string {
  return `{"type":"unsubscribed","channel":${str(f.channel)}${idField(f.id)}}`;
}

export function publishedFrame(f: Fields<PublishedFrame>): string {
  return `{"type":"published","channel":${str(f.channel)},"offset":${f.offset}${idField(f.id)}}`;
}

export function errorFrame(f: Fields<ErrorFrame>): string {
  const channel = f.channel === undefined ? '' : `,"channel":${str(f.channel)}`;
  return `{"type":"error","code":"${f.code}","message":${str(f.message)}${channel}${idField(f.id)}}`;
}

export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

// ---- message -----------------------------------------------------------------------------------

type MessageFields = Omit<Fields<MessageFrame>, 'data' | 'offset'> & { data: JsonText };

/** The message frame around its offset: `head + offset + tail` (the Redis publish script inserts it). */
export function messageParts(f: MessageFields): { head: string; tail: string } {
  return {
    head: `{"type":"message","channel":${str(f.channel)},"event":${str(f.event)},"data":${f.data},"offset":`,
    tail: `,"ts":${f.ts}}`,
  };
}

/** The `message` frame text. The only place a message is serialized: once per publish. */
export function messageFrame(f: MessageFields & { offset: number }): string {
  const { head, tail } = messageParts(f);
  return head + f.offset + tail;
}

const MESSAGE_PREFIX = '{"type":"message",';

/** A history item: the message frame without its `type` (`{"type":"message",…}` → `{…}`). */
export function historyItem(frame: string): string {
  if (frame.startsWith(MESSAGE_PREFIX)) return `{${frame.slice(MESSAGE_PREFIX.length)}`;
  const { type: _type, ...rest } = JSON.parse(frame) as Record<string, unknown>;
  return JSON.stringify(rest);
}

// ---- presence ----------------------------------------------------------------------------------

/** A member as the frames carry it: `{"userId":…,"info":…}`. */
export function memberJson(m: Member): JsonText {
  return str({ userId: m.userId, info: m.info });
}

/**
 * The presence frame in the pieces the Redis presence scripts splice:
 * `presenceHead(channel) + action + PRESENCE_AFTER_ACTION + <userId JSON> + PRESENCE_AFTER_USER + <info JSON> + PRESENCE_TAIL`.
 */
export function presenceHead(channel: string): string {
  return `{"type":"presence","channel":${str(channel)},"action":"`;
}
export const PRESENCE_AFTER_ACTION = '","member":{"userId":';
export const PRESENCE_AFTER_USER = ',"info":';
export const PRESENCE_TAIL = '}}';

/** A presence frame for a member given as its JSON text. */
export function presenceFrame(channel: string, action: PresenceFrame['action'], member: JsonText): string {
  return `${presenceHead(channel)}${action}","member":${member}}`;
}

/** What the server reads back from a presence frame. */
export interface PresenceEvent {
  action: PresenceFrame['action'] | undefined;
  userId: string | undefined;
  /** The frame's `member` JSON text (compares the info of a leave and a later join). */
  member: JsonText;
}

const presenceCache = new Map<string, PresenceEvent>();

/** The action and member of a presence frame, parsed once per frame text (fields undefined for any other frame). */
export function readPresence(frame: string): PresenceEvent {
  let ev = presenceCache.get(frame);
  if (ev === undefined) {
    ev = { action: undefined, userId: undefined, member: '' };
    try {
      const raw = JSON.parse(frame) as { action?: unknown; member?: { userId?: unknown } };
      if (raw.action === 'join' || raw.action === 'leave') ev.action = raw.action;
      if (typeof raw.member?.userId === 'string') ev.userId = raw.member.userId;
      ev.member = JSON.stringify(raw.member ?? null);
    } catch {
      // not a presence frame: admitted as is
    }
    // A tiny cache: presence frames of one storm repeat across every seam in the same tick.
    if (presenceCache.size > 1024) presenceCache.clear();
    presenceCache.set(frame, ev);
  }
  return ev;
}

// ---- WebSocket bytes ---------------------------------------------------------------------------

/**
 * One complete, unmasked, FIN WebSocket text frame (RFC 6455 section 5.2) holding `text` as UTF-8:
 * header and payload in a single Buffer, built once and written as-is to any number of sockets.
 * Server frames are never masked and permessage-deflate is off, so the bytes are the same for every
 * recipient. (What ws's `Sender.frame` builds, in one Buffer instead of a header and a payload;
 * everything else of the WebSocket layer is ws.)
 */
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
