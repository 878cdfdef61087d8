// The client driven through an in-memory WebSocket and a manual clock: the state machine, backoff,
// close codes, refresh, liveness, dedupe, presence, publish acks and error containment.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { RiverOptions } from './options.js';
import { River } from './river.js';
import { FakeClock, FakeSocket, fakeRiver, fakeJwt, flush } from './test-fakes.js';

let clock: FakeClock;
const make = (extra: Partial<RiverOptions> = {}) => fakeRiver(clock, extra);

/** A network-status source whose `online`/`offline` listeners the test calls. */
function fakeNetwork() {
  const listeners = new Map<string, () => void>();
  const network = {
    addEventListener: (t: string, f: () => void) => listeners.set(t, f),
    removeEventListener: (t: string) => listeners.delete(t),
  };
  return { listeners, network };
}

beforeEach(() => {
  clock = new FakeClock();
  FakeSocket.all = [];
});

describe('River client state machine', () => {
  it('connects, authenticates, subscribes and delivers messages once, in order', async () => {
    const { river, states } = make();
    const dogs = river.subscribe('dogs');
    const got: unknown[] = [];
    dogs.on('new-post', (data, meta) => got.push([data, meta.offset]));
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    expect(ws.sent[0]).toEqual({ type: 'auth', token: 'tok' });
    expect(ws.ofType('subscribe')).toEqual([{ type: 'subscribe', channel: 'dogs', id: expect.anything() }]);
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 4, id: ws.ofType('subscribe')[0]!.id });
    for (const offset of [5, 5, 4, 6])
      ws.receive({ type: 'message', channel: 'dogs', event: 'new-post', data: { n: offset }, offset, ts: 1 });
    expect(got).toEqual([
      [{ n: 5 }, 5],
      [{ n: 6 }, 6],
    ]);
    expect(states.map((s) => `${s.from}>${s.to}:${s.reason}`)).toEqual(['disconnected>connecting:connect', 'connecting>connected:ready']);
    expect(river.connectionId).toBe('c1');
  });

  it('reconnects with full-jitter backoff after a network drop and resubscribes from the last offset', async () => {
    const { river, states } = make();
    const dogs = river.subscribe('dogs');
    const recovered: boolean[] = [];
    const got: number[] = [];
    dogs.on('recovered', (r) => recovered.push(r.recovered));
    dogs.on('*', (_d, m) => got.push(m.offset));
    await flush();
    const ws1 = FakeSocket.last();
    ws1.accept();
    ws1.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 0 });
    ws1.receive({ type: 'message', channel: 'dogs', event: 'x', data: 1, offset: 1, ts: 1 });
    ws1.drop(1006);
    expect(states.at(-1)).toMatchObject({ from: 'connected', to: 'reconnecting', reason: 'network', code: 1006 });
    expect(clock.pending()).toEqual([750]); // 500 ms + random 0.5 × 500 ms
    // First retry fails too: the jitter range doubles.
    await clock.advance(750);
    FakeSocket.last().drop(1006);
    expect(clock.pending()).toEqual([1000]);
    await clock.advance(1000);
    const ws3 = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(3);
    ws3.accept();
    expect(ws3.ofType('subscribe')[0]).toMatchObject({ channel: 'dogs', since: { epoch: 'e1', offset: 1 } });
    ws3.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 3, recovered: true });
    for (const o of [1, 2, 3]) ws3.receive({ type: 'message', channel: 'dogs', event: 'x', data: o, offset: o, ts: 1 });
    expect(got).toEqual([1, 2, 3]);
    expect(recovered).toEqual([false, true]);
    // After a connection that stayed up 30 s the backoff starts over.
    await clock.advance(30_000);
    ws3.drop(1006);
    expect(clock.pending()).toEqual([750]);
  });

  it('a new epoch means not recovered: the position restarts from the server', async () => {
    const { river } = make();
    const ch = river.subscribe('dogs', { since: { epoch: 'old', offset: 9 } });
    const recovered: boolean[] = [];
    ch.on('recovered', (r) => recovered.push(r.recovered));
    const got: number[] = [];
    ch.on('*', (_d, m) => got.push(m.offset));
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    expect(ws.ofType('subscribe')[0]).toMatchObject({ since: { epoch: 'old', offset: 9 } });
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'new', offset: 2, recovered: false });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: 3, offset: 3, ts: 1 });
    expect(recovered).toEqual([false]);
    expect(got).toEqual([3]);
    expect(ch.position).toEqual({ epoch: 'new', offset: 3 });
  });

  it('reconnects at once on 4000 and with a fresh token on 4002', async () => {
    let n = 0;
    const { states } = make({ token: async () => `h.t${++n}.s` });
    await flush();
    FakeSocket.last().accept();
    FakeSocket.last().drop(4000);
    expect(states.at(-1)).toMatchObject({ to: 'reconnecting', reason: 'server_restarting' });
    expect(clock.pending()).toEqual([0]);
    await clock.advance(0);
    FakeSocket.last().accept();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'h.t1.s' }); // cached token reused
    FakeSocket.last().drop(4002);
    await clock.advance(0);
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'h.t2.s' });
  });

  it('a 4002 before ready (token already expired at auth) reconnects at once with a fresh token once, then backs off until a ready', async () => {
    let n = 0;
    const { states } = make({ token: async () => `h.t${++n}.s` });
    await flush();
    // The token endpoint keeps handing out expired tokens: the server closes 4002 at auth each time.
    FakeSocket.last().open();
    FakeSocket.last().drop(4002);
    expect(clock.pending()).toEqual([0]); // the first one: at once (docs/protocol.md#7-codes)
    await clock.advance(0);
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'h.t2.s' });
    FakeSocket.last().drop(4002);
    expect(clock.pending()).toEqual([750]); // again before ready: backoff, as for other 4xxx
    await clock.advance(750);
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'h.t3.s' }); // still a fresh token
    FakeSocket.last().drop(4002);
    expect(clock.pending()).toEqual([1000]);
    await clock.advance(1000);
    expect(FakeSocket.all).toHaveLength(4);
    expect(states.at(-1)).toMatchObject({ from: 'connecting', to: 'reconnecting', reason: 'token_expired', code: 4002 });
    // A good token: after ready, the next 4002 reconnects at once again, and so does the first one
    // before ready; a connection that lasted less than 30 s does not start the backoff over.
    FakeSocket.last().accept();
    FakeSocket.last().drop(4002);
    expect(clock.pending()).toEqual([0]);
    await clock.advance(0);
    FakeSocket.last().open();
    FakeSocket.last().drop(4002);
    expect(clock.pending()).toEqual([1500]);
  });

  it('on 4500 retries once with a fresh token, then stops with the reason and rejects pending publishes', async () => {
    const token = vi.fn(async () => 'h.bad.s');
    const { river, states } = make({ token });
    await flush();
    FakeSocket.last().open();
    const pub = river.publish('dogs', 'e', 1);
    FakeSocket.last().drop(4500);
    await clock.advance(0);
    expect(token).toHaveBeenCalledTimes(2);
    FakeSocket.last().open();
    FakeSocket.last().drop(4500);
    expect(states.at(-1)).toEqual({ from: 'reconnecting', to: 'disconnected', reason: 'token_invalid', code: 4500 });
    await expect(pub).rejects.toMatchObject({ code: 'token_invalid' });
    await clock.advance(60_000);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('stops at once on 4503 (the app disconnected the user) and connect() starts again', async () => {
    const { river, states } = make({ token: async () => 'h.t.s' });
    await flush();
    FakeSocket.last().accept();
    FakeSocket.last().drop(4503);
    expect(states.at(-1)).toMatchObject({ to: 'disconnected', reason: 'user_disconnected' });
    river.connect();
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('answers pings and reconnects after 2 × heartbeatMs of silence', async () => {
    const { states } = make();
    await flush();
    const ws = FakeSocket.last();
    ws.accept(1000);
    await clock.advance(1500);
    ws.receive({ type: 'ping' });
    expect(ws.ofType('pong')).toHaveLength(1);
    await clock.advance(1999);
    expect(states.at(-1)?.to).toBe('connected');
    await clock.advance(1);
    expect(states.at(-1)).toMatchObject({ to: 'reconnecting', reason: 'heartbeat_timeout' });
    expect(ws.closedWith).toBe(1000);
  });

  it('after a liveness timeout the dead socket is closed with 1000 and whatever it still delivers is ignored', async () => {
    const { river, states } = make();
    const dogs = river.subscribe('dogs');
    const got: number[] = [];
    dogs.on('*', (_d, m) => got.push(m.offset));
    await flush();
    const dead = FakeSocket.last();
    dead.accept(1000);
    dead.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0 });
    await clock.advance(2000);
    expect(states.at(-1)).toMatchObject({ to: 'reconnecting', reason: 'heartbeat_timeout' });
    expect(dead.closedWith).toBe(1000);
    dead.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 1, ts: 1 });
    dead.receive({ type: 'ready', connectionId: 'late', userId: 'u1', heartbeatMs: 1000 });
    dead.drop(4000);
    expect(got).toEqual([]);
    expect(river.state).toBe('reconnecting');
    expect(states.filter((s) => s.to === 'reconnecting')).toHaveLength(1);
    await clock.advance(750);
    const next = FakeSocket.last();
    next.accept(1000);
    expect(next.ofType('subscribe')[0]).toMatchObject({ since: { epoch: 'e', offset: 0 } });
    expect(river.connectionId).toBe('c2');
  });

  it('gives up on a handshake that never completes', async () => {
    const { states } = make({ timeoutMs: 5000 });
    await flush();
    await clock.advance(5000);
    expect(states.at(-1)).toMatchObject({ to: 'reconnecting', reason: 'timeout' });
  });

  it('refreshes the token before exp and sends refresh without reconnecting', async () => {
    let n = 0;
    // Each call mints a new token, as a token endpoint does: iat is now, exp one minute later.
    const token = vi.fn(async () => {
      const iat = Math.floor(clock.now() / 1000);
      return fakeJwt({ sub: 'u1', iat, exp: iat + 60, n: ++n });
    });
    make({ token });
    await flush();
    const ws = FakeSocket.last();
    ws.accept(100_000);
    await clock.advance(44_999);
    expect(token).toHaveBeenCalledTimes(1);
    await clock.advance(1); // 60 s lifetime: refresh 15 s before exp
    expect(token).toHaveBeenCalledTimes(2);
    expect(ws.ofType('refresh')).toEqual([{ type: 'refresh', token: expect.any(String), id: expect.anything() }]);
    // The new token lives 60 s from now: the next refresh is 45 s later.
    await clock.advance(44_999);
    expect(token).toHaveBeenCalledTimes(2);
    await clock.advance(1);
    expect(token).toHaveBeenCalledTimes(3);
    expect(ws.ofType('refresh').map((f) => f.token)).toEqual([await token.mock.results[1]!.value, await token.mock.results[2]!.value]);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('a token minted 50 minutes ago with 1 h of life is refreshed before it expires in 10 minutes, not at +59 min', async () => {
    const now = Math.floor(clock.now() / 1000);
    const stale = fakeJwt({ sub: 'u1', iat: now - 3000, exp: now + 600 }); // e.g. cached by the app
    const token = vi.fn(async () => (token.mock.calls.length === 1 ? stale : fakeJwt({ sub: 'u1', iat: now, exp: now + 3600, n: 2 })));
    make({ token });
    await flush();
    const ws = FakeSocket.last();
    ws.accept(1_000_000);
    await clock.advance(539_999); // 10 min left: refresh 60 s before exp
    expect(token).toHaveBeenCalledTimes(1);
    await clock.advance(1);
    expect(token).toHaveBeenCalledTimes(2);
    expect(ws.ofType('refresh')).toHaveLength(1);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('a reconnect fetches a new token once the cached one is due for refresh, instead of reusing it', async () => {
    const now = Math.floor(clock.now() / 1000);
    const token = vi.fn(async () => fakeJwt({ sub: 'u1', iat: now, exp: now + 600, n: token.mock.calls.length }));
    make({ token });
    await flush();
    FakeSocket.last().accept(1_000_000);
    await clock.advance(300_000);
    FakeSocket.last().drop(1006); // retry in 750 ms: the token has 5 min left, reused
    await clock.advance(750);
    FakeSocket.last().accept(1_000_000);
    expect(token).toHaveBeenCalledTimes(1);
    await clock.advance(238_500);
    FakeSocket.last().drop(1006); // retry at 540 s, 60 s before exp: the token is due for refresh
    await clock.advance(750);
    FakeSocket.last().open();
    expect(token).toHaveBeenCalledTimes(2);
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: await token.mock.results[1]!.value });
  });

  it('never refreshes a 30-day token early: delays above the 2^31-1 ms timer limit are waited out in steps', async () => {
    const iat = Math.floor(clock.now() / 1000);
    const token = vi.fn(async () => fakeJwt({ sub: 'u1', iat, exp: iat + 30 * 86_400 }));
    make({ token });
    await flush();
    const ws = FakeSocket.last();
    ws.accept(1_000_000_000); // liveness: 2e9 ms of silence
    await clock.advance(60_000);
    expect(token).toHaveBeenCalledTimes(1);
    await clock.advance(20 * 86_400_000);
    ws.receive({ type: 'ping' }); // keeps the connection alive
    await clock.advance(10 * 86_400_000 - 60_000 - 60_000 - 1); // 1 ms before exp - 60 s
    expect(token).toHaveBeenCalledTimes(1);
    expect(ws.ofType('refresh')).toEqual([]);
    await clock.advance(1);
    expect(token).toHaveBeenCalledTimes(2);
    expect(ws.ofType('refresh')).toHaveLength(1);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('resolves publish on published, rejects on error with the code and on disconnect', async () => {
    const { river } = make();
    const early = river.publish('doc-1', 'cursor', { x: 1 }); // queued until connected
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    const [f1] = ws.ofType('publish');
    expect(f1).toMatchObject({ channel: 'doc-1', event: 'cursor', data: { x: 1 } });
    ws.receive({ type: 'published', channel: 'doc-1', offset: 7, id: f1!.id });
    await expect(early).resolves.toEqual({ channel: 'doc-1', offset: 7 });
    const denied = river.publish('secret', 'e');
    ws.receive({ type: 'error', code: 'forbidden', message: 'no', id: ws.ofType('publish')[1]!.id });
    await expect(denied).rejects.toMatchObject({ code: 'forbidden', name: 'RiverError' });
    const lost = river.publish('doc-1', 'e');
    ws.drop(1006);
    await expect(lost).rejects.toMatchObject({ code: 'disconnected' });
    await expect(river.publish('bad channel!', 'e')).rejects.toMatchObject({ code: 'bad_channel' });
  });

  it('a publish made before the first connect rejects with closed when close() follows', async () => {
    const { river } = make();
    const early = river.publish('doc-1', 'e', 1); // before the connect on the next microtask
    river.close();
    await expect(early).rejects.toMatchObject({ code: 'closed', channel: 'doc-1' });
    await clock.advance(60_000);
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('a publish without an answer rejects with timeout after publishTimeoutMs; a queued one is then never sent', async () => {
    const { river } = make({ publishTimeoutMs: 2000 });
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    const unanswered = river.publish('doc-1', 'e', 1);
    const settled = vi.fn();
    unanswered.then(settled, settled);
    await clock.advance(1999);
    expect(settled).not.toHaveBeenCalled();
    await clock.advance(1);
    await expect(unanswered).rejects.toMatchObject({ code: 'timeout', channel: 'doc-1', message: expect.stringMatching(/may or may not/) });
    ws.receive({ type: 'published', channel: 'doc-1', offset: 1, id: ws.ofType('publish')[0]!.id }); // too late: ignored
    ws.drop(1006);
    const queued = river.publish('doc-2', 'e', 2).catch((e: unknown) => e); // waits for a reconnect that comes too late
    await clock.advance(2000);
    expect(await queued).toMatchObject({ code: 'timeout', message: expect.stringMatching(/nothing was published/) });
    FakeSocket.last().accept();
    expect(FakeSocket.last().ofType('publish')).toEqual([]);
  });

  it('publishes default to a 10 s timeout', async () => {
    const { river } = make();
    await flush();
    FakeSocket.last().accept();
    const p = river.publish('doc-1', 'e');
    const settled = vi.fn();
    p.catch(settled);
    await clock.advance(9999);
    expect(settled).not.toHaveBeenCalled();
    await clock.advance(1);
    expect(settled).toHaveBeenCalledWith(expect.objectContaining({ code: 'timeout' }));
  });

  it('at most 100 publishes wait for a connection; more are refused at once with queue_full', async () => {
    const { river } = make();
    await flush();
    const queued = Array.from({ length: 100 }, (_, i) => river.publish('doc-1', 'e', i));
    await expect(river.publish('doc-1', 'e', 100)).rejects.toMatchObject({ code: 'queue_full', channel: 'doc-1' });
    const ws = FakeSocket.last();
    ws.accept();
    const sent = ws.ofType('publish');
    expect(sent.map((f) => f.data)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const f of sent) ws.receive({ type: 'published', channel: 'doc-1', offset: Number(f.data) + 1, id: f.id });
    await expect(Promise.all(queued)).resolves.toHaveLength(100);
    // Once connected, publishes are sent at once and are not limited by the queue bound.
    const more = Array.from({ length: 150 }, () => river.publish('doc-1', 'e'));
    expect(ws.ofType('publish')).toHaveLength(250);
    for (const f of ws.ofType('publish').slice(100)) ws.receive({ type: 'published', channel: 'doc-1', offset: 1, id: f.id });
    await expect(Promise.all(more)).resolves.toHaveLength(150);
  });

  it('keeps presence members: the first list comes with subscribed (no member-added each), later joins and leaves are events', async () => {
    const { river } = make();
    const room = river.subscribe('presence-room');
    const log: string[] = [];
    room.on('member-added', (m) => log.push(`+${m.userId}`));
    room.on('member-removed', (m) => log.push(`-${m.userId}`));
    room.on('subscribed', () => log.push(`subscribed:${room.members.map((m) => m.userId).join(',')}`));
    await flush();
    let ws = FakeSocket.last();
    ws.accept();
    const a = { userId: 'a', info: {} };
    const b = { userId: 'b', info: { name: 'B' } };
    const c = { userId: 'c', info: {} };
    ws.receive({ type: 'subscribed', channel: 'presence-room', epoch: 'e', offset: 0, members: [a, b] });
    expect(log).toEqual(['subscribed:a,b']);
    ws.receive({ type: 'presence', channel: 'presence-room', action: 'join', member: c });
    ws.receive({ type: 'presence', channel: 'presence-room', action: 'join', member: c }); // a second connection of c
    expect(room.members).toEqual([a, b, c]);
    ws.receive({ type: 'presence', channel: 'presence-room', action: 'leave', member: a });
    expect(room.members).toEqual([b, c]);
    expect(log).toEqual(['subscribed:a,b', '+c', '-a']);
    // Resubscribed after a reconnect: only what changed while away (b left, a came back; c stayed).
    ws.drop(4000);
    await clock.advance(0);
    ws = FakeSocket.last();
    ws.accept();
    ws.receive({ type: 'subscribed', channel: 'presence-room', epoch: 'e', offset: 0, members: [c, a] });
    expect(room.members).toEqual([c, a]);
    expect(log).toEqual(['subscribed:a,b', '+c', '-a', '-b', '+a', 'subscribed:c,a']);
    // A new subscription after unsubscribe starts over: its first list is the initial one again.
    room.unsubscribe();
    const again = river.subscribe('presence-room');
    const log2: string[] = [];
    again.on('member-added', (m) => log2.push(`+${m.userId}`));
    ws.receive({
      type: 'subscribed',
      channel: 'presence-room',
      epoch: 'e',
      offset: 0,
      members: [a, b],
      id: ws.ofType('subscribe').at(-1)!.id,
    });
    expect(again.members).toEqual([a, b]);
    expect(log2).toEqual([]);
  });

  it('a throwing handler is reported on error and does not stop other handlers', async () => {
    const { river, errors } = make();
    const ch = river.subscribe('dogs');
    const seen: number[] = [];
    ch.on('x', () => {
      throw new Error('app bug');
    });
    ch.on('x', (_d, m) => seen.push(m.offset));
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0 });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 1, ts: 1 });
    expect(seen).toEqual([1]);
    expect(errors.map((e) => e.message)).toEqual(['app bug']);
    // A throwing error listener falls back to console.error instead of escaping.
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    river.on('error', () => {
      throw new Error('error listener bug');
    });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 2, ts: 1 });
    expect(spy).toHaveBeenCalled();
    spy.mockRestore();
  });

  it('an async handler that rejects is reported on error like a throwing one, not as an unhandled rejection', async () => {
    const { river, errors } = make();
    const ch = river.subscribe('dogs');
    ch.on('x', async () => {
      throw new Error('async app bug');
    });
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0 });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 1, ts: 1 });
    await flush();
    expect(errors.map((e) => e.message)).toEqual(['async app bug']);
  });

  it('a refused subscription is an error event on the channel', async () => {
    const { river } = make();
    const ch = river.subscribe('private');
    const errs: string[] = [];
    ch.on('error', (e) => errs.push(`${e.code}:${e.channel}`));
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    ws.receive({ type: 'error', code: 'forbidden', message: 'no', id: ws.ofType('subscribe')[0]!.id });
    expect(errs).toEqual(['forbidden:private']);
  });

  it('a subscription refused for good is not resubscribed on reconnects until the app subscribes again', async () => {
    const { river } = make();
    const refused = new Map<string, string>();
    for (const [name, code] of [
      ['private', 'forbidden'],
      ['one-too-many', 'too_many_subscriptions'],
      ['flaky', 'unavailable'],
    ] as const) {
      river.subscribe(name).on('error', (e) => refused.set(name, e.code));
      refused.set(name, code);
    }
    await flush();
    let ws = FakeSocket.last();
    ws.accept();
    for (const f of ws.ofType('subscribe'))
      ws.receive({ type: 'error', code: refused.get(f.channel as string), message: 'no', id: f.id, channel: f.channel });
    expect(river.channel('private')!.error).toMatchObject({ code: 'forbidden', channel: 'private' });
    expect(river.channel('one-too-many')!.error).toMatchObject({ code: 'too_many_subscriptions' });
    expect(river.channel('flaky')!.error).toBeUndefined(); // a passing trouble: tried again on the next connection
    ws.drop(4000);
    await clock.advance(0);
    ws = FakeSocket.last();
    ws.accept();
    expect(ws.ofType('subscribe').map((f) => f.channel)).toEqual(['flaky']);
    // The app subscribes again (e.g. after the user got access): the same Channel, tried once more.
    const again = river.subscribe('private');
    expect(again).toBe(river.channel('private'));
    expect(again.error).toBeUndefined();
    expect(ws.ofType('subscribe').map((f) => f.channel)).toEqual(['flaky', 'private']);
    ws.receive({ type: 'subscribed', channel: 'private', epoch: 'e', offset: 0, id: ws.ofType('subscribe')[1]!.id });
    const got: number[] = [];
    again.on('*', (_d, m) => got.push(m.offset));
    ws.receive({ type: 'message', channel: 'private', event: 'x', data: null, offset: 1, ts: 1 });
    expect(got).toEqual([1]);
    // Unsubscribing a refused channel sends nothing (the server holds no subscription).
    river.channel('one-too-many')!.unsubscribe();
    expect(ws.ofType('unsubscribe')).toEqual([]);
  });

  it('unsubscribe sends unsubscribe, drops listeners and later messages; subscribe twice returns one channel', async () => {
    const { river } = make();
    const ch = river.subscribe('dogs');
    expect(river.subscribe('dogs')).toBe(ch);
    const fn = vi.fn();
    ch.on('x', fn);
    ch.on('x', fn); // same listener twice: called once
    await flush();
    const ws = FakeSocket.last();
    ws.accept();
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0 });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 1, ts: 1 });
    expect(fn).toHaveBeenCalledTimes(1);
    ch.unsubscribe();
    expect(ws.ofType('unsubscribe')).toEqual([{ type: 'unsubscribe', channel: 'dogs' }]);
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 2, ts: 1 });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(river.subscribe('dogs')).not.toBe(ch);
  });

  it('close() goes to disconnected and never reconnects', async () => {
    const { river, states } = make();
    await flush();
    FakeSocket.last().accept();
    river.close();
    expect(states.at(-1)).toMatchObject({ to: 'disconnected', reason: 'closed' });
    expect(FakeSocket.last().closedWith).toBe(1000);
    await clock.advance(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('offline drops the connection; online reconnects at once', async () => {
    const { listeners, network } = fakeNetwork();
    const { river, states } = make({ network });
    await flush();
    FakeSocket.last().accept();
    listeners.get('offline')!();
    expect(states.at(-1)).toMatchObject({ to: 'reconnecting', reason: 'offline' });
    listeners.get('online')!();
    await flush();
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.last().accept();
    expect(river.state).toBe('connected');
    river.close();
    expect(listeners.size).toBe(0);
  });

  it('online abandons a hanging connection attempt and connects at once, with reason online', async () => {
    const { listeners, network } = fakeNetwork();
    const { river, states } = make({ network });
    await flush();
    FakeSocket.last().accept();
    listeners.get('offline')!();
    await clock.advance(750); // the retry opens a socket that never answers (the network is down)
    const hanging = FakeSocket.last();
    expect(FakeSocket.all).toHaveLength(2);
    await clock.advance(5000);
    listeners.get('online')!();
    expect(states.at(-1)).toEqual({ from: 'reconnecting', to: 'reconnecting', reason: 'online' });
    expect(hanging.closedWith).toBe(1000);
    await flush();
    expect(FakeSocket.all).toHaveLength(3); // at once, not after timeoutMs (15 s)
    hanging.receive({ type: 'ready', connectionId: 'old', userId: 'u1', heartbeatMs: 25_000 }); // ignored
    expect(river.state).toBe('reconnecting');
    FakeSocket.last().accept();
    expect(river.state).toBe('connected');
    expect(river.connectionId).toBe('c3');
    expect(clock.pending()).toEqual([50_000]); // only the liveness timer: no stale retry or attempt timeout
  });

  it('online during the reconnect after 4002 still fetches a fresh token', async () => {
    const { listeners, network } = fakeNetwork();
    let n = 0;
    make({ network, token: async () => `h.t${++n}.s` });
    await flush();
    FakeSocket.last().accept();
    FakeSocket.last().drop(4002);
    listeners.get('online')!(); // before the immediate retry ran
    await clock.advance(0);
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: 'h.t2.s' });
  });

  it('repeated offline events do not push the backoff further', async () => {
    const { listeners, network } = fakeNetwork();
    const { states } = make({ network });
    await flush();
    FakeSocket.last().accept();
    for (let i = 0; i < 5; i++) listeners.get('offline')!();
    expect(states.filter((s) => s.reason === 'offline')).toHaveLength(1);
    expect(clock.pending()).toEqual([750]); // the first retry's delay, as after one drop
    await clock.advance(750);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('listens to online/offline on globalThis when it has addEventListener (browsers)', async () => {
    const added: string[] = [];
    const removed: string[] = [];
    vi.stubGlobal('addEventListener', (t: string) => added.push(t));
    vi.stubGlobal('removeEventListener', (t: string) => removed.push(t));
    try {
      const river = new River({ url: 'ws://x/v1/ws', token: 't', WebSocket: FakeSocket, clock });
      await flush();
      expect(added.sort()).toEqual(['offline', 'online']);
      river.close();
      expect(removed.sort()).toEqual(['offline', 'online']);
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('validates options once, in the constructor, with exact messages', () => {
    const ok = { url: 'ws://x/v1/ws', token: 't', WebSocket: FakeSocket, autoConnect: false };
    const bad = (extra: Record<string, unknown>) => () => new River({ ...ok, ...extra } as RiverOptions);
    expect(() => new River(undefined as never)).toThrow(new TypeError('River: options must be an object with url and token'));
    for (const url of ['', 'http://x/v1/ws', 'https://x/v1/ws', '/v1/ws', 'x', 42]) {
      expect(bad({ url }), String(url)).toThrow(new TypeError('River: options.url must be a ws:// or wss:// URL'));
    }
    expect(() => new River({ ...ok, url: 'wss://rt.example.com/v1/ws' })).not.toThrow();
    for (const token of [1, '', undefined, {}]) {
      expect(bad({ token }), String(token)).toThrow(new TypeError('River: options.token must be a JWT string or a function returning one'));
    }
    for (const k of ['minReconnectDelayMs', 'maxReconnectDelayMs', 'timeoutMs', 'publishTimeoutMs']) {
      for (const v of [0, -1, NaN, Infinity, '100', 2 ** 31]) {
        expect(bad({ [k]: v }), `${k}=${String(v)}`).toThrow(
          new TypeError(`River: options.${k} must be a positive number of milliseconds, at most 2147483647`),
        );
      }
      expect(bad({ [k]: 2 ** 31 - 1 })).not.toThrow();
    }
    expect(bad({ minReconnectDelayMs: 1000, maxReconnectDelayMs: 999 })).toThrow(
      new TypeError('River: options.maxReconnectDelayMs must not be less than options.minReconnectDelayMs'),
    );
    expect(bad({ WebSocket: 'ws' })).toThrow(new TypeError('River: options.WebSocket must be a WebSocket constructor'));
    expect(bad({ autoConnect: 'no' })).toThrow(new TypeError('River: options.autoConnect must be true or false'));
    expect(bad({ random: 0.5 })).toThrow(new TypeError('River: options.random must be a function returning a number in [0, 1)'));
    expect(bad({ clock: { now: () => 0 } })).toThrow(
      new TypeError('River: options.clock must have now(), setTimeout() and clearTimeout()'),
    );
    expect(bad({ network: {} })).toThrow(
      new TypeError('River: options.network must have addEventListener() and removeEventListener(), or be null'),
    );
    expect(bad({ network: null })).not.toThrow();
    expect(() => new River(ok).subscribe('no spaces')).toThrow(/invalid channel/);
  });
});
