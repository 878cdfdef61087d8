import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { MemoryBus } from '../engines/memory/memory-bus.js';
import { startTestNode, TestClient, token, waitFor } from '../test-support.js';

const KEY = randomBytes(32).toString('base64url');

async function openTap(t: { node: { urls: { ws: string } } }, first: Record<string, unknown>): Promise<TestClient> {
  const c = await TestClient.connect(t.node.urls.ws.replace('/v1/ws', '/v1/tap'));
  c.send(first);
  return c;
}

describe('the tap (docs/protocol.md#11-the-tap-watching-without-subscribing)', () => {
  it.each([
    ['not JSON', 'tap me'],
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
  ])('a first frame that is %s closes 4502, and the node keeps serving', async (_what, raw) => {
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      const bad = await TestClient.connect(t.node.urls.ws.replace('/v1/ws', '/v1/tap'));
      bad.sendRaw(raw);
      expect((await bad.waitClose()).code).toBe(4502);
      const tap = await openTap(t, { type: 'tap', key: KEY, channels: 'dogs' });
      expect(await tap.next('error')).toMatchObject({ code: 'bad_channel' });
      expect((await tap.waitClose()).code).toBe(4502);
      const good = await openTap(t, { type: 'tap', key: KEY });
      expect(await good.next('tapping')).toMatchObject({ channels: ['*'] });
    } finally {
      await t.close();
    }
  });
  it("a tap on '*' sees every publish on 3 channels, subscribed or not, with nothing subscribed for it", async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      const tap = await openTap(t, { type: 'tap', key: KEY, channels: ['*'] });
      expect(await tap.next('tapping')).toMatchObject({ channels: ['*'] });
      const sub = await t.client();
      await sub.subscribe('dogs');
      const headers = { authorization: `Bearer ${KEY}` };
      for (const channel of ['dogs', 'cats', 'birds']) {
        expect((await t.http('POST', '/v1/publish', { channel, event: 'e', data: { channel } }, headers)).status).toBe(200);
      }
      const seen = await Promise.all(
        [0, 1, 2].map((i) => tap.next((f) => f.type === 'message' && f.data.channel === ['dogs', 'cats', 'birds'][i])),
      );
      expect(seen.map((f) => [f.channel, f.event, f.offset])).toEqual([
        ['dogs', 'e', 1],
        ['cats', 'e', 1],
        ['birds', 'e', 1],
      ]);
      // The tap is no subscriber: the channels it saw have no subscriber count from it.
      expect((await t.http('GET', '/v1/channels/cats', undefined, headers)).body.subscribers).toBe(0);
      expect((await t.http('GET', '/v1/channels/dogs', undefined, headers)).body.subscribers).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('a pattern tap sees only matching channels', async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      const tap = await openTap(t, { type: 'tap', key: KEY, channels: ['chat-*'] });
      await tap.next('tapping');
      const headers = { authorization: `Bearer ${KEY}` };
      await t.http('POST', '/v1/publish', { channel: 'other', event: 'no', data: 1 }, headers);
      await t.http('POST', '/v1/publish', { channel: 'chat-1', event: 'yes', data: 2 }, headers);
      // 'other' was published first: the first message the tap gets is chat-1's.
      expect(await tap.next('message')).toMatchObject({ channel: 'chat-1', event: 'yes', data: 2 });
    } finally {
      await t.close();
    }
  });

  it('watches a presence channel without becoming a member', async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      const tap = await openTap(t, { type: 'tap', key: KEY, channels: ['presence-room'] });
      await tap.next('tapping');
      const alice = await t.client({ sub: 'alice' });
      expect((await alice.subscribe('presence-room')).members).toEqual([{ userId: 'alice', info: {} }]);
      const bob = await t.client({ sub: 'bob' });
      expect((await bob.subscribe('presence-room')).members.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob']);
      expect(await tap.next((f) => f.type === 'presence' && f.member.userId === 'bob')).toMatchObject({ action: 'join' });
      const members = await t.http('GET', '/v1/channels/presence-room/presence', undefined, { authorization: `Bearer ${KEY}` });
      expect(members.body.members.map((m: { userId: string }) => m.userId).sort()).toEqual(['alice', 'bob']);
    } finally {
      await t.close();
    }
  });

  it('refuses a missing or wrong key (4500), and is open without one only when the console is open (river dev)', async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY, RIVER_CONSOLE: 'on' });
    try {
      const wrong = await openTap(t, { type: 'tap', key: 'nope', channels: ['*'] });
      expect(await wrong.next('error')).toMatchObject({ code: 'token_invalid' });
      expect((await wrong.waitClose()).code).toBe(4500);
      const none = await openTap(t, { type: 'tap' });
      expect((await none.waitClose()).code).toBe(4500);
      const notTap = await openTap(t, { type: 'auth', token: await token({ sub: 'x' }) });
      expect((await notTap.waitClose()).code).toBe(4500);
    } finally {
      await t.close();
    }
  });

  it('costs nothing when nobody taps: the bus tap is set only while a tap is open', async () => {
    const setTap = vi.spyOn(MemoryBus.prototype, 'setTap');
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      await t.http('POST', '/v1/publish', { channel: 'x', event: 'e' }, { authorization: `Bearer ${KEY}` });
      expect(setTap).not.toHaveBeenCalled();
      const taps = await Promise.all([openTap(t, { type: 'tap', key: KEY }), openTap(t, { type: 'tap', key: KEY })]);
      await Promise.all(taps.map((c) => c.next('tapping')));
      expect(setTap.mock.calls.map((c) => c[0] === null)).toEqual([false]);
      taps[0]!.close();
      await taps[0]!.waitClose();
      expect(setTap).toHaveBeenCalledTimes(1);
      taps[1]!.close();
      await taps[1]!.waitClose();
      await waitFor(() => setTap.mock.calls.length === 2, 'the bus tap cleared');
      expect(setTap.mock.calls[1]![0]).toBeNull();
    } finally {
      setTap.mockRestore();
      await t.close();
    }
  });
});
