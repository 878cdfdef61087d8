// The client over real loopback sockets (the `ws` package in Node) against a scripted server: a real
// WebSocketServer on port 0 whose replies each test writes. Real timers, small delays.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { RiverOptions, StateChange } from './options.js';
import { River } from './river.js';
import { fakeJwt } from './test-fakes.js';

type Frame = Record<string, unknown> & { type: string };
interface Conn {
  ws: WebSocket;
  frames: Frame[];
  send(f: object): void;
  next(type: string): Promise<Frame>;
}

let wss: WebSocketServer;
let url: string;
let conns: Conn[];
let onConn: (c: Conn) => void;
const rivers: River[] = [];

/** `fn`'s first truthy answer, polled every 10 ms for up to `timeout` ms. */
const waitFor = <T>(fn: () => T | undefined | false, timeout = 5000) => vi.waitUntil(fn, { timeout, interval: 10 });

beforeEach(async () => {
  conns = [];
  onConn = () => {};
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/ws`;
  wss.on('connection', (ws) => {
    const c: Conn = {
      ws,
      frames: [],
      send: (f) => ws.send(JSON.stringify(f)),
      next: (type) =>
        waitFor(() => c.frames.find((f) => f.type === type && !(f as { seen?: boolean }).seen)).then((f) =>
          Object.assign(f, { seen: true }),
        ),
    };
    ws.on('message', (d) => c.frames.push(JSON.parse(String(d)) as Frame));
    conns.push(c);
    onConn(c);
  });
});

afterEach(async () => {
  for (const r of rivers.splice(0)) r.close();
  for (const c of wss.clients) c.terminate();
  await new Promise((r) => wss.close(r));
});

function client(extra: Partial<RiverOptions> = {}) {
  const river = new River({ url, token: 'tok', WebSocket, minReconnectDelayMs: 20, maxReconnectDelayMs: 100, ...extra });
  rivers.push(river);
  const states: StateChange[] = [];
  river.on('state', (s) => states.push(s));
  return { river, states };
}

/** Script: answer auth with ready, subscribe with `subscribed` built by `sub`. */
function script(sub: (f: Frame, c: Conn) => object[], heartbeatMs = 25_000) {
  onConn = (c) => {
    c.ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as Frame;
      if (f.type === 'auth') c.send({ type: 'ready', connectionId: `c${conns.length}`, userId: 'u1', heartbeatMs });
      if (f.type === 'subscribe') for (const out of sub(f, c)) c.send(out);
    });
  };
}

const msg = (offset: number) => ({ type: 'message', channel: 'dogs', event: 'new-post', data: { n: offset }, offset, ts: Date.now() });

describe('client against a scripted server', () => {
  it('recovers across a dropped connection with every message once, in order, and no duplicate at the seam', async () => {
    // Connection 1 delivers 1..3; connection 2 replays from `since` but overlaps (2..5).
    script((f, c) => {
      if (conns.indexOf(c) === 0)
        return [{ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 0, id: f.id }, msg(1), msg(2), msg(3)];
      return [{ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 5, recovered: true, id: f.id }, msg(2), msg(3), msg(4), msg(5)];
    });
    const { river, states } = client();
    const got: number[] = [];
    const recovered: boolean[] = [];
    const dogs = river.subscribe('dogs');
    dogs.on('new-post', (d: { n: number }) => got.push(d.n));
    dogs.on('recovered', (r) => recovered.push(r.recovered));
    await waitFor(() => got.length === 3);
    conns[0]!.ws.terminate();
    await waitFor(() => got.length === 5);
    const sub2 = conns[1]!.frames.find((f) => f.type === 'subscribe');
    expect(sub2).toMatchObject({ channel: 'dogs', since: { epoch: 'e1', offset: 3 } });
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(recovered).toEqual([false, true]);
    expect(states.map((s) => s.to)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
  });

  it('an unsolicited subscribed (the server reset the channel) moves the position to the new epoch: its offsets 1, 2, 3 are delivered', async () => {
    script((f) => [
      {
        type: 'subscribed',
        channel: f.channel,
        epoch: 'e1',
        offset: 0,
        id: f.id,
        ...(f.channel === 'presence-room' ? { members: [{ userId: 'a', info: {} }] } : {}),
      },
      msg(1),
      msg(2),
    ]);
    const { river } = client();
    const got: string[] = [];
    const recovered: boolean[] = [];
    const log: string[] = [];
    const dogs = river.subscribe('dogs');
    dogs.on('new-post', (_d, m) => got.push(`${dogs.position!.epoch}:${m.offset}`));
    dogs.on('recovered', (r) => recovered.push(r.recovered));
    const room = river.subscribe('presence-room');
    room.on('member-added', (m) => log.push(`+${m.userId}`));
    room.on('member-removed', (m) => log.push(`-${m.userId}`));
    await waitFor(() => got.length === 2 && room.members.length === 1);
    // Redis lost the channels' state: the server tells each subscriber their new position.
    const c = conns[0]!;
    c.send({ type: 'subscribed', channel: 'dogs', epoch: 'e2', offset: 0, recovered: false });
    c.send({
      type: 'subscribed',
      channel: 'presence-room',
      epoch: 'e2',
      offset: 0,
      recovered: false,
      members: [
        { userId: 'a', info: {} },
        { userId: 'b', info: {} },
      ],
    });
    for (const o of [1, 2, 3]) c.send(msg(o));
    await waitFor(() => got.length === 5 && log.length === 1);
    expect(got).toEqual(['e1:1', 'e1:2', 'e2:1', 'e2:2', 'e2:3']);
    expect(recovered).toEqual([false, false]);
    expect(log).toEqual(['+b']);
    c.ws.terminate();
    const resub = await (await waitFor(() => conns[1])).next('subscribe');
    expect(resub).toMatchObject({ channel: 'dogs', since: { epoch: 'e2', offset: 3 } });
  });

  it('4000 reconnects at once; 4500 twice stops with the reason', async () => {
    script((f) => [{ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0, id: f.id }]);
    let calls = 0;
    const { river, states } = client({ token: async () => `h.t${++calls}.s`, minReconnectDelayMs: 5_000, maxReconnectDelayMs: 10_000 });
    river.subscribe('dogs');
    await waitFor(() => river.state === 'connected');
    const t0 = Date.now();
    conns[0]!.ws.close(4000, 'server_restarting');
    await waitFor(() => conns.length === 2 && river.state === 'connected');
    expect(Date.now() - t0).toBeLessThan(2000); // not the ≥ 5 s backoff
    onConn = (c) => c.ws.on('message', () => c.ws.close(4500, 'token_invalid'));
    conns[1]!.ws.close(4000);
    await waitFor(() => river.state === 'disconnected');
    expect(states.at(-1)).toMatchObject({ to: 'disconnected', reason: 'token_invalid', code: 4500 });
    expect(calls).toBe(2); // the cached token until the first 4500, then one fresh token
  });

  it('4002 reconnects at once with a fresh token; 4503 stops without a retry', async () => {
    script((f) => [{ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0, id: f.id }]);
    let calls = 0;
    const { river, states } = client({
      token: async () => `h.t${++calls}.s`,
      minReconnectDelayMs: 5_000,
      maxReconnectDelayMs: 10_000,
      random: () => 0.99,
    });
    river.subscribe('dogs');
    await waitFor(() => river.state === 'connected');
    conns[0]!.ws.close(4002, 'token_expired');
    const auth = await (await waitFor(() => conns[1])).next('auth');
    expect(auth.token).toBe('h.t2.s');
    await waitFor(() => river.state === 'connected');
    conns[1]!.ws.close(4503, 'user_disconnected');
    await waitFor(() => river.state === 'disconnected');
    expect(states.at(-1)).toMatchObject({ reason: 'user_disconnected', code: 4503 });
    await new Promise((r) => setTimeout(r, 300));
    expect(conns).toHaveLength(2);
    expect(calls).toBe(2);
  });

  it('refreshes a short-lived token on the same connection', async () => {
    script((f) => [{ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0, id: f.id }]);
    const tokens: string[] = [];
    const token = async () => {
      const iat = Math.floor(Date.now() / 1000);
      const t = fakeJwt({ sub: 'u1', iat, exp: iat + 2, n: tokens.length });
      tokens.push(t);
      return t;
    };
    const { river } = client({ token });
    river.subscribe('dogs');
    const c = await waitFor(() => conns[0]);
    const refresh = await c.next('refresh');
    expect(refresh.token).toBe(tokens[1]);
    expect(conns).toHaveLength(1);
    expect(river.state).toBe('connected');
  });

  it('answers pings, and reconnects when the server goes silent for 2 × heartbeatMs', async () => {
    script((f) => [{ type: 'subscribed', channel: 'dogs', epoch: 'e', offset: 0, id: f.id }], 150);
    const { river, states } = client();
    river.subscribe('dogs');
    const c = await waitFor(() => conns[0]);
    await waitFor(() => river.state === 'connected');
    c.send({ type: 'ping' });
    await c.next('pong');
    // The server never says anything again: the client gives up on it after ~300 ms.
    await waitFor(() => conns.length === 2, 3000);
    expect(states.find((s) => s.reason === 'heartbeat_timeout')).toBeTruthy();
  });

  it('publish resolves on published and rejects with the code of the error frame', async () => {
    onConn = (c) =>
      c.ws.on('message', (d) => {
        const f = JSON.parse(String(d)) as Frame;
        if (f.type === 'auth') c.send({ type: 'ready', connectionId: 'c1', userId: 'u1', heartbeatMs: 25_000 });
        if (f.type === 'publish' && f.channel === 'doc-1') c.send({ type: 'published', channel: 'doc-1', offset: 12, id: f.id });
        if (f.type === 'publish' && f.channel !== 'doc-1')
          c.send({ type: 'error', code: 'forbidden', message: 'no publish claim', id: f.id });
      });
    const { river } = client();
    await expect(river.publish('doc-1', 'cursor', { x: 1 })).resolves.toEqual({ channel: 'doc-1', offset: 12 });
    await expect(river.publish('doc-2', 'cursor', {})).rejects.toMatchObject({ code: 'forbidden' });
  });
});
