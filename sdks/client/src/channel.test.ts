// A channel's position and members as a user sees them, driven through an in-memory WebSocket: the
// server resetting a channel with an unsolicited `subscribed` (docs/protocol.md#told-while-subscribed-an-unsolicited-subscribed; server catch-up.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import { River } from './river.js';
import { FakeClock, FakeSocket, flush } from './test-fakes.js';

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
  FakeSocket.all = [];
});

async function connected() {
  const river = new River({ url: 'ws://river.test/v1/ws', token: 'tok', WebSocket: FakeSocket, clock, random: () => 0.5, network: null });
  await flush();
  const ws = FakeSocket.last();
  ws.accept();
  return { river, ws };
}

const msg = (channel: string, offset: number) => ({ type: 'message', channel, event: 'x', data: offset, offset, ts: 1 });

describe('an unsolicited subscribed (the server reset the channel)', () => {
  it("adopts the new epoch and offset: the new epoch's offsets 1, 2, 3 are delivered, recovered is false, a resubscribe resumes from there", async () => {
    const { river, ws } = await connected();
    const dogs = river.subscribe('dogs');
    const got: string[] = [];
    const recovered: boolean[] = [];
    dogs.on('*', (_d, m) => got.push(`${dogs.position!.epoch}:${m.offset}`));
    dogs.on('recovered', (r) => recovered.push(r.recovered));
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 3, id: ws.ofType('subscribe')[0]!.id });
    for (const o of [4, 5, 6]) ws.receive(msg('dogs', o));
    // Redis restarted without persistence: the channel's stream starts over in a new epoch.
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e2', offset: 0, recovered: false });
    for (const o of [1, 2, 3]) ws.receive(msg('dogs', o));
    expect(got).toEqual(['e1:4', 'e1:5', 'e1:6', 'e2:1', 'e2:2', 'e2:3']);
    expect(recovered).toEqual([false, false]);
    expect(dogs.position).toEqual({ epoch: 'e2', offset: 3 });
    ws.drop(1006);
    await clock.advance(750);
    FakeSocket.last().accept();
    expect(FakeSocket.last().ofType('subscribe')[0]).toMatchObject({ channel: 'dogs', since: { epoch: 'e2', offset: 3 } });
  });

  it('after a gap history could not fill (same epoch), it moves on to the latest offset and drops what is older', async () => {
    const { river, ws } = await connected();
    const dogs = river.subscribe('dogs');
    const got: number[] = [];
    const recovered: boolean[] = [];
    dogs.on('*', (_d, m) => got.push(m.offset));
    dogs.on('recovered', (r) => recovered.push(r.recovered));
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 0, id: ws.ofType('subscribe')[0]!.id });
    ws.receive(msg('dogs', 1));
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 250, recovered: false });
    for (const o of [200, 250, 251]) ws.receive(msg('dogs', o));
    expect(got).toEqual([1, 251]);
    expect(recovered).toEqual([false, false]);
    expect(dogs.position).toEqual({ epoch: 'e1', offset: 251 });
  });

  it('on a presence channel, reports only the members that changed', async () => {
    const { river, ws } = await connected();
    const room = river.subscribe('presence-room');
    const log: string[] = [];
    room.on('member-added', (m) => log.push(`+${m.userId}`));
    room.on('member-removed', (m) => log.push(`-${m.userId}`));
    room.on('recovered', (r) => log.push(`recovered:${r.recovered}`));
    const [a, b, c] = ['a', 'b', 'c'].map((userId) => ({ userId, info: {} }));
    ws.receive({
      type: 'subscribed',
      channel: 'presence-room',
      epoch: 'e1',
      offset: 0,
      members: [a, b],
      id: ws.ofType('subscribe')[0]!.id,
    });
    ws.receive({ type: 'subscribed', channel: 'presence-room', epoch: 'e2', offset: 0, recovered: false, members: [b, c] });
    expect(room.members).toEqual([b, c]);
    expect(log).toEqual(['recovered:false', '-a', '+c', 'recovered:false']);
  });

  it('reaches only its channel, and not a channel the app unsubscribed', async () => {
    const { river, ws } = await connected();
    const dogs = river.subscribe('dogs');
    const cats = river.subscribe('cats');
    const [d, c] = ws.ofType('subscribe');
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 5, id: d!.id });
    ws.receive({ type: 'subscribed', channel: 'cats', epoch: 'e1', offset: 5, id: c!.id });
    const heard: string[] = [];
    cats.on('recovered', () => heard.push('cats'));
    dogs.on('recovered', () => heard.push('dogs'));
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e2', offset: 0, recovered: false });
    expect(cats.position).toEqual({ epoch: 'e1', offset: 5 });
    dogs.unsubscribe();
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e3', offset: 0, recovered: false });
    expect(heard).toEqual(['dogs']);
  });
});
