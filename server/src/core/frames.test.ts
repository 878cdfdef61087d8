import { describe, expect, it } from 'vitest';
import {
  parseServerFrame,
  type ErrorFrame,
  type MessageFrame,
  type PresenceFrame,
  type PublishedFrame,
  type ReadyFrame,
  type ServerFrame,
  type SubscribedFrame,
  type UnsubscribedFrame,
} from '@river/protocol';
import {
  errorFrame,
  historyItem,
  memberJson,
  messageFrame,
  messageParts,
  PING_FRAME,
  PONG_FRAME,
  PRESENCE_AFTER_ACTION,
  PRESENCE_AFTER_USER,
  PRESENCE_TAIL,
  presenceFrame,
  presenceHead,
  publishedFrame,
  readPresence,
  readyFrame,
  subscribedFrame,
  textFrame,
  unsubscribedFrame,
} from './frames.js';

// Each expected value is typed as the protocol's frame: a field added to or renamed in
// @river/protocol fails to compile here until the writer in frames.ts follows.
const parse = (text: string): ServerFrame | undefined => parseServerFrame(text);
const awkward = 'a "quoted" \\ name ✓';

describe('server frames (frames.ts) parse back as the protocol types', () => {
  it('ready', () => {
    const f: ReadyFrame = { type: 'ready', connectionId: 'abc.1', userId: awkward, heartbeatMs: 25_000 };
    expect(parse(readyFrame(f))).toEqual(f);
  });

  it('subscribed, with and without the optional fields', () => {
    const full: SubscribedFrame = {
      type: 'subscribed',
      channel: 'presence-room',
      epoch: 'e1',
      offset: 7,
      recovered: false,
      members: [{ userId: 'u', info: { name: awkward } }],
      id: 3,
    };
    expect(parse(subscribedFrame({ ...full, members: JSON.stringify(full.members) }))).toEqual(full);
    const bare: SubscribedFrame = { type: 'subscribed', channel: 'c', epoch: 'e', offset: 0 };
    const text = subscribedFrame({ channel: 'c', epoch: 'e', offset: 0 });
    expect(text).toBe('{"type":"subscribed","channel":"c","epoch":"e","offset":0}');
    expect(parse(text)).toEqual(bare);
  });

  it('unsubscribed, published, error', () => {
    const u: UnsubscribedFrame = { type: 'unsubscribed', channel: 'c', id: 'x' };
    expect(parse(unsubscribedFrame(u))).toEqual(u);
    const p: PublishedFrame = { type: 'published', channel: 'c', offset: 9, id: 1 };
    expect(parse(publishedFrame(p))).toEqual(p);
    const e: ErrorFrame = { type: 'error', code: 'forbidden', message: awkward, channel: 'c' };
    expect(parse(errorFrame(e))).toEqual(e);
    expect(parse(PING_FRAME)).toEqual({ type: 'ping' });
    expect(parse(PONG_FRAME)).toEqual({ type: 'pong' });
  });

  it('message: the frame is head + offset + tail, and a history item is the frame without its type', () => {
    const m: MessageFrame = { type: 'message', channel: 'c', event: awkward, data: { n: [1, 'two'] }, offset: 12, ts: 1700 };
    const fields = { ...m, data: JSON.stringify(m.data) };
    const text = messageFrame(fields);
    expect(parse(text)).toEqual(m);
    const { head, tail } = messageParts(fields);
    expect(`${head}12${tail}`).toBe(text);
    const { type: _type, ...item } = m;
    expect(JSON.parse(historyItem(text))).toEqual(item);
    expect(historyItem(text).startsWith('{"channel":')).toBe(true);
  });

  it('presence: the pieces the Redis scripts splice make the same frame, and readPresence reads it back', () => {
    const f: PresenceFrame = { type: 'presence', channel: 'presence-r', action: 'leave', member: { userId: awkward, info: { a: 1 } } };
    const text = presenceFrame(f.channel, f.action, memberJson(f.member));
    expect(parse(text)).toEqual(f);
    const spliced = `${presenceHead(f.channel)}leave${PRESENCE_AFTER_ACTION}${JSON.stringify(awkward)}${PRESENCE_AFTER_USER}{"a":1}${PRESENCE_TAIL}`;
    expect(spliced).toBe(text);
    expect(readPresence(text)).toEqual({ action: 'leave', userId: awkward, member: memberJson(f.member) });
    expect(readPresence(PING_FRAME)).toEqual({ action: undefined, userId: undefined, member: 'null' });
  });
});

describe('textFrame', () => {
  it('writes one unmasked FIN text frame for each length encoding', () => {
    for (const len of [0, 125, 126, 65_535, 65_536]) {
      const text = 'x'.repeat(len);
      const buf = textFrame(text);
      expect(buf[0]).toBe(0x81);
      const head = len < 126 ? 2 : len < 65_536 ? 4 : 10;
      const declared = len < 126 ? buf[1] : len < 65_536 ? buf.readUInt16BE(2) : Number(buf.readBigUInt64BE(2));
      expect(declared).toBe(len);
      expect(buf.subarray(head).toString('utf8')).toBe(text);
    }
  });
});
