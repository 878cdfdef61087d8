import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, base64url } from 'jose';
import { OLD_SECRET, SECRET, startTestNode, token, waitFor, type TestNode } from '../test-support.js';

describe('WebSocket handshake (docs/protocol.md#1-connecting, docs/protocol.md#5-channels-and-tokens)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ RIVER_AUTH_TIMEOUT_MS: '300', RIVER_JWT_PREVIOUS_SECRET: OLD_SECRET });
  });
  afterAll(() => t.close());

  it('answers a valid auth with ready', async () => {
    const c = await t.connect();
    const ready = await c.auth(await token({ sub: 'alice' }));
    expect(ready).toMatchObject({ type: 'ready', userId: 'alice', heartbeatMs: 25_000 });
    expect(typeof ready.connectionId).toBe('string');
  });

  it('accepts the previous secret during rotation', async () => {
    const c = await t.connect();
    expect(await c.auth(await token({ sub: 'bob' }, { secret: OLD_SECRET }))).toMatchObject({ userId: 'bob' });
  });

  it('closes 4001 when no auth frame arrives in time', async () => {
    const c = await t.connect();
    expect((await c.waitClose()).code).toBe(4001);
  });

  it('closes 4500 for a bad signature', async () => {
    const c = await t.connect();
    c.send({ type: 'auth', token: await token({ sub: 'x' }, { secret: 'another-secret-0123456789-abcdefghijklmnop' }) });
    expect((await c.waitClose()).code).toBe(4500);
  });

  it('closes 4500 for alg none', async () => {
    const c = await t.connect();
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify({ sub: 'x' }));
    c.send({ type: 'auth', token: `${header}.${payload}.` });
    expect((await c.waitClose()).code).toBe(4500);
  });

  it('closes 4500 for an HS512 token signed with the right secret', async () => {
    const c = await t.connect();
    const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET + SECRET));
    c.send({ type: 'auth', token: jwt });
    expect((await c.waitClose()).code).toBe(4500);
  });

  it('closes 4002 for a token already expired at auth (a fresh token fixes it)', async () => {
    const c = await t.connect();
    c.send({ type: 'auth', token: await token({ sub: 'x' }, { expiresIn: Math.floor(Date.now() / 1000) - 10 }) });
    expect((await c.waitClose()).code).toBe(4002);
  });

  it('closes 4500 for a token not yet valid and bad claims', async () => {
    const bad = [
      await token({ sub: 'x' }, { notBefore: Math.floor(Date.now() / 1000) + 3600 }),
      await token({}),
      await token({ sub: 'x'.repeat(201) }),
      await token({ sub: 'x', channels: 'dogs' }),
      await token({ sub: 'x', info: { big: 'y'.repeat(1100) } }),
      await token({ sub: 'x', info: [1] }),
      'not-a-jwt',
    ];
    for (const tok of bad) {
      const c = await t.connect();
      c.send({ type: 'auth', token: tok });
      expect((await c.waitClose()).code).toBe(4500);
    }
  });

  it('closes 4500 when the first frame is not auth', async () => {
    const c = await t.connect();
    c.send({ type: 'subscribe', channel: 'dogs' });
    expect((await c.waitClose()).code).toBe(4500);
  });

  it('closes 4502 for non-JSON text and for binary frames, before and after auth', async () => {
    const a = await t.connect();
    a.sendRaw('hello');
    expect((await a.waitClose()).code).toBe(4502);
    const b = await t.client();
    b.sendRaw(Buffer.from('{"type":"ping"}'), true);
    expect((await b.waitClose()).code).toBe(4502);
    const c = await t.client();
    c.sendRaw('[1,2]');
    expect((await c.waitClose()).code).toBe(4502);
  });

  it('accepts a frame of exactly maxMessageBytes and closes 1009 for one byte more', async () => {
    const frame = (bytes: number) => {
      const head = '{"type":"ping","pad":"';
      return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
    };
    const ok = await t.client();
    expect(Buffer.byteLength(frame(65_536))).toBe(65_536);
    ok.sendRaw(frame(65_536));
    expect(await ok.next('pong')).toEqual({ type: 'pong' });
    const big = await t.client();
    big.sendRaw(frame(65_537));
    expect((await big.waitClose()).code).toBe(1009);
  });

  it('handles frames sent right behind auth, in order', async () => {
    const c = await t.connect();
    c.send({ type: 'auth', token: await token({ sub: 'quick' }) });
    c.send({ type: 'subscribe', channel: 'quick', id: 1 });
    c.send({ type: 'ping' });
    await c.next('ready');
    expect(await c.next('subscribed')).toMatchObject({ channel: 'quick', id: 1 });
    await c.next('pong');
  });
});

describe('WebSocket frames (docs/protocol.md#2-frames, docs/protocol.md#8-heartbeat-limits-and-slow-consumers)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ RIVER_MAX_SUBSCRIPTIONS: '3' });
  });
  afterAll(() => t.close());

  it('answers unknown types and malformed frames with bad_request and keeps the connection', async () => {
    const c = await t.client();
    expect(await c.request({ type: 'dance' })).toMatchObject({ type: 'error', code: 'bad_request', id: 1 });
    c.send({ type: 'subscribe', id: 'abc' });
    expect(await c.next('error')).toMatchObject({ code: 'bad_request', id: 'abc' });
    expect(await c.request({ type: 'auth', token: 'x' })).toMatchObject({ code: 'bad_request' });
    c.send({ type: 'ping' });
    expect(await c.next('pong')).toEqual({ type: 'pong' });
  });

  it('subscribes and unsubscribes with epoch and offset', async () => {
    const c = await t.client();
    const sub = await c.subscribe('cats');
    expect(sub).toMatchObject({ type: 'subscribed', channel: 'cats', offset: 0, id: 1 });
    expect(typeof sub.epoch).toBe('string');
    expect(sub.recovered).toBeUndefined();
    expect(await c.subscribe('cats')).toMatchObject({ type: 'error', code: 'bad_request', channel: 'cats' });
    expect(await c.request({ type: 'unsubscribe', channel: 'cats' })).toEqual({ type: 'unsubscribed', channel: 'cats', id: 3 });
    expect(await c.request({ type: 'unsubscribe', channel: 'cats' })).toMatchObject({ type: 'error', code: 'not_subscribed' });
  });

  it('refuses bad channel names', async () => {
    const c = await t.client();
    for (const bad of ['a b', '', 'x'.repeat(201), 'a/b', 'é']) {
      expect(await c.subscribe(bad)).toMatchObject({ type: 'error', code: 'bad_channel' });
      expect(await c.request({ type: 'unsubscribe', channel: bad })).toMatchObject({ type: 'error', code: 'bad_channel', channel: bad });
    }
  });

  it('enforces the channels claim', async () => {
    const c = await t.client({ channels: ['doc-*', 'news'] });
    expect(await c.subscribe('doc-1')).toMatchObject({ type: 'subscribed' });
    expect(await c.subscribe('news')).toMatchObject({ type: 'subscribed' });
    expect(await c.subscribe('secret')).toMatchObject({ type: 'error', code: 'forbidden', channel: 'secret' });
  });

  it('limits subscriptions per connection', async () => {
    const c = await t.client();
    for (const ch of ['a1', 'a2', 'a3']) expect(await c.subscribe(ch)).toMatchObject({ type: 'subscribed' });
    expect(await c.subscribe('a4')).toMatchObject({ type: 'error', code: 'too_many_subscriptions' });
  });

  it('gates client publish on the publish claim, and fans out what it allows', async () => {
    const reader = await t.client();
    await reader.subscribe('doc-9');
    const noClaim = await t.client();
    expect(await noClaim.request({ type: 'publish', channel: 'doc-9', event: 'e', data: 1 })).toMatchObject({
      type: 'error',
      code: 'forbidden',
    });
    const writer = await t.client({ publish: ['doc-*'] });
    expect(await writer.request({ type: 'publish', channel: 'doc-9', event: 'cursor', data: { x: 1 } })).toEqual({
      type: 'published',
      channel: 'doc-9',
      offset: 1,
      id: 1,
    });
    expect(await reader.next('message')).toMatchObject({ channel: 'doc-9', event: 'cursor', data: { x: 1 }, offset: 1 });
    expect(await writer.request({ type: 'publish', channel: 'bad name', event: 'e' })).toMatchObject({ code: 'bad_channel' });
  });
});

describe('WebSocket node-wide limits', () => {
  it('requires a channels claim with RIVER_REQUIRE_CHANNEL_CLAIMS', async () => {
    const t = await startTestNode({ RIVER_REQUIRE_CHANNEL_CLAIMS: 'true' });
    try {
      const open = await t.client();
      expect(await open.subscribe('dogs')).toMatchObject({ type: 'error', code: 'forbidden' });
      const scoped = await t.client({ channels: ['dogs'] });
      expect(await scoped.subscribe('dogs')).toMatchObject({ type: 'subscribed' });
    } finally {
      await t.close();
    }
  });

  it('closes 4008 past maxFramesPerSecond (burst 2x)', async () => {
    const t = await startTestNode({ RIVER_MAX_FRAMES_PER_SECOND: '5' });
    try {
      const calm = await t.client();
      const c = await t.client();
      for (let i = 0; i < 30; i++) c.send({ type: 'ping' });
      expect((await c.waitClose()).code).toBe(4008);
      calm.send({ type: 'ping' });
      await calm.next('pong');
    } finally {
      await t.close();
    }
  });

  it('counts WebSocket-level pings and pongs against maxFramesPerSecond: a flood closes 4008', async () => {
    const t = await startTestNode({ RIVER_MAX_FRAMES_PER_SECOND: '5' });
    try {
      const calm = await t.client();
      const pongs: number[] = [];
      calm.ws.on('pong', () => pongs.push(1));
      calm.ws.ping('hi');
      await waitFor(() => pongs.length === 1, 'a pong to a ping within the limit');
      for (const flood of ['ping', 'pong'] as const) {
        const c = await t.client();
        for (let i = 0; i < 30; i++) c.ws[flood]();
        expect((await c.waitClose()).code).toBe(4008);
      }
      calm.send({ type: 'ping' });
      await calm.next('pong');
    } finally {
      await t.close();
    }
  });

  it('pings every heartbeatMs and closes 4004 when no pong comes back', async () => {
    const t = await startTestNode({ RIVER_HEARTBEAT_MS: '100' });
    try {
      const good = await t.client();
      const silent = await t.client({}, { autoPong: false });
      await silent.next('ping');
      expect((await silent.waitClose()).code).toBe(4004);
      good.send({ type: 'ping' });
      await good.next('pong');
      expect(good.closeInfo).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('closes 4002 when exp passes without refresh, and a refresh keeps the connection', async () => {
    const t = await startTestNode();
    try {
      const exp = Math.floor(Date.now() / 1000) + 2;
      const c = await t.connect();
      await c.auth(await token({ sub: 'e1' }, { expiresIn: exp }));
      const r = await t.connect();
      await r.auth(await token({ sub: 'e2' }, { expiresIn: exp }));
      expect(await r.request({ type: 'refresh', token: await token({ sub: 'other' }, { expiresIn: '1h' }) })).toMatchObject({
        type: 'error',
        code: 'token_invalid',
      });
      expect(await r.request({ type: 'refresh', token: 'garbage' })).toMatchObject({ code: 'token_invalid' });
      r.send({ type: 'refresh', token: await token({ sub: 'e2' }, { expiresIn: '1h' }) });
      expect((await c.waitClose(5000)).code).toBe(4002);
      r.send({ type: 'ping' });
      await r.next('pong');
      expect(r.closeInfo).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
