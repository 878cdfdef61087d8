/**
 * A presence channel whose `members` list is larger than maxBufferedBytes (issue 14, item 1):
 * 1,500 members with 900-byte `info` (about 1.4 MB of members) join; every subscriber gets its
 * `subscribed` with the members list (sent as it reads, never counted as slowness) and none is cut
 * 4003; subscribers arriving last get all 1,500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestNode, token, type TestNode } from '../test-support.js';

const MEMBERS = 1500;
const CHANNEL = 'presence-big';
const PAD = 'i'.repeat(900 - 12);
const SUBSCRIBED = Buffer.from('{"type":"subscribed"');
const USER = Buffer.from('"userId":');

/** A lean member: authenticates, subscribes, and counts the members of its `subscribed` frame without parsing the rest. */
interface Lean {
  ws: WebSocket;
  members: number;
  closed: number | undefined;
  subscribed: Promise<void>;
}

function countOf(buf: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + needle.length)) n++;
  return n;
}

async function lean(url: string, i: number): Promise<Lean> {
  const jwt = await token({ sub: `member-${i}`, info: { pad: PAD } });
  const ws = new WebSocket(url);
  const l: Lean = { ws, members: -1, closed: undefined, subscribed: Promise.resolve() };
  l.subscribed = new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code) => {
      l.closed = code;
      reject(new Error(`member ${i} closed ${code}`));
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: jwt })));
    ws.on('message', (data: Buffer) => {
      if (data.subarray(0, 20).toString().includes('"ready"')) ws.send(JSON.stringify({ type: 'subscribe', channel: CHANNEL }));
      else if (data.subarray(0, SUBSCRIBED.length).equals(SUBSCRIBED)) {
        l.members = countOf(data, USER);
        resolve();
      }
    });
  });
  return l;
}

describe('a presence members list larger than maxBufferedBytes', () => {
  let t: TestNode;
  const members: Lean[] = [];
  beforeAll(async () => {
    t = await startTestNode();
  });
  afterAll(async () => {
    for (const m of members) m.ws.terminate();
    await t?.close();
  });

  it('1,500 members with 900-byte info: every subscriber gets its list, the last ones all 1,500, none cut', async () => {
    for (let i = 0; i < MEMBERS; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, (_, k) => lean(t.node.urls.ws, i + k)));
      members.push(...batch);
      await Promise.all(batch.map((m) => m.subscribed));
    }
    expect(members.every((m) => m.members >= 1)).toBe(true);
    expect(Math.max(...members.map((m) => m.members))).toBe(MEMBERS);
    // Two full clients arriving now get the whole list, parsed.
    for (const sub of ['watcher-a', 'watcher-b']) {
      const c = await t.client({ sub });
      const frame = await c.subscribe(CHANNEL);
      expect(frame.type).toBe('subscribed');
      const ids = new Set((frame.members as { userId: string }[]).map((m) => m.userId));
      for (let i = 0; i < MEMBERS; i++) expect(ids.has(`member-${i}`)).toBe(true);
      expect(JSON.stringify(frame.members).length).toBeGreaterThan(MEMBERS * 900);
    }
    expect(members.filter((m) => m.closed !== undefined)).toEqual([]);
  }, 120_000);
});
