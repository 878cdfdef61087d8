import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startTestNode, type TestNode } from '../test-support.js';

describe('HTTP API (docs/protocol.md#6-http-api)', () => {
  let t: TestNode;
  beforeAll(async () => {
    t = await startTestNode({ RIVER_API_KEY: `${API_KEY}, second-key-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3` });
  });
  afterAll(() => t.close());

  it('refuses a missing or wrong API key with 401, accepts Bearer, x-api-key and any listed key', async () => {
    const body = { channel: 'k', event: 'e', data: 1 };
    expect((await t.http('POST', '/v1/publish', body, { authorization: '' })).status).toBe(401);
    const wrong = await t.http('POST', '/v1/publish', body, { authorization: 'Bearer nope' });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(
      (await t.http('POST', '/v1/publish', body, { authorization: '', 'x-api-key': 'second-key-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3' })).status,
    ).toBe(200);
    expect((await t.http('POST', '/v1/publish', body, { authorization: 'Bearer second-key-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3' })).status).toBe(200);
    expect((await t.http('GET', '/v1/channels/k', undefined, { authorization: 'Bearer x' })).status).toBe(401);
  });

  it('publishes with per-channel offsets and fans out', async () => {
    const c = await t.client();
    await c.subscribe('dogs');
    for (const offset of [1, 2, 3]) {
      expect(await t.publish({ channel: 'dogs', event: 'new-post', data: { n: offset } })).toEqual({
        status: 200,
        body: { channel: 'dogs', offset },
        headers: expect.anything(),
      });
    }
    const got = await c.messages('dogs', 3);
    expect(got.map((m) => [m.offset, m.data.n, m.event])).toEqual([
      [1, 1, 'new-post'],
      [2, 2, 'new-post'],
      [3, 3, 'new-post'],
    ]);
    expect(typeof got[0]!.ts).toBe('number');
    expect((await t.publish({ channel: 'other', event: 'e' })).body).toEqual({ channel: 'other', offset: 1 });
  });

  it('answers malformed JSON, bad fields and bad channels with 400', async () => {
    for (const [body, code] of [
      ['{nope', 'bad_request'],
      ['[]', 'bad_request'],
      [{ event: 'e' }, 'bad_request'],
      [{ channel: 'a', channels: ['b'], event: 'e' }, 'bad_request'],
      [{ channel: 'a' }, 'bad_request'],
      [{ channel: 'a', event: 7 }, 'bad_request'],
      [{ channel: 'a b', event: 'e' }, 'bad_channel'],
      [{ channels: [], event: 'e' }, 'bad_request'],
      [{ channels: Array.from({ length: 101 }, (_, i) => `c${i}`), event: 'e' }, 'bad_request'],
      [{ channel: 'a', event: 'e', idempotencyKey: 5 }, 'bad_request'],
    ] as const) {
      const r = await t.http('POST', '/v1/publish', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe(code);
    }
    expect((await t.http('GET', '/v1/channels/a%20b')).status).toBe(400);
  });

  it('refuses data over maxMessageBytes with 413 too_large and bodies over the limit with 413', async () => {
    const tooLargeData = await t.publish({ channel: 'a', event: 'e', data: 'x'.repeat(65_540) });
    expect(tooLargeData).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    const huge = await t.http('POST', '/v1/publish', JSON.stringify({ channel: 'a', event: 'e', data: 'x'.repeat(200_000) }));
    expect(huge).toMatchObject({ status: 413, body: { error: { code: 'too_large' } } });
    // Streamed without a content-length: refused while reading.
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 10; i++) ctl.enqueue(new TextEncoder().encode('x'.repeat(20_000)));
        ctl.close();
      },
    });
    const res = await fetch(`${t.node.urls.http}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}` },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    await res.text();
  });

  it('replays an idempotent publish without publishing twice', async () => {
    const c = await t.client();
    await c.subscribe('idem');
    const body = { channel: 'idem', event: 'e', data: 1, idempotencyKey: 'k-1' };
    const first = await t.publish(body);
    const again = await t.publish(body);
    expect(again.body).toEqual(first.body);
    expect((await t.publish({ channel: 'idem', event: 'e', data: 2 })).body).toEqual({ channel: 'idem', offset: 2 });
    const got = await c.messages('idem', 2);
    expect(got.map((m) => m.offset)).toEqual([1, 2]);
    expect((await t.http('GET', '/v1/channels/idem')).body.offset).toBe(2);
  });

  it('publishes to several channels with "channels", idempotently per channel', async () => {
    const body = { channels: ['m1', 'm2'], event: 'e', data: 'x', idempotencyKey: 'multi' };
    const r = await t.publish(body);
    expect(r).toMatchObject({
      status: 200,
      body: {
        results: [
          { channel: 'm1', offset: 1 },
          { channel: 'm2', offset: 1 },
        ],
      },
    });
    expect((await t.publish(body)).body).toEqual(r.body);
    expect((await t.http('GET', '/v1/channels/m2')).body.offset).toBe(1);
  });

  it('skips excludeConnectionId', async () => {
    const me = await t.client();
    const other = await t.client();
    await me.subscribe('ex');
    await other.subscribe('ex');
    await t.publish({ channel: 'ex', event: 'mine', excludeConnectionId: me.ready!.connectionId });
    await t.publish({ channel: 'ex', event: 'theirs' });
    expect((await other.messages('ex', 2)).map((m) => m.event)).toEqual(['mine', 'theirs']);
    expect(await me.next('message')).toMatchObject({ event: 'theirs', offset: 2 });
  });

  it("skips excludeConnectionId for a channel's lone subscriber, and only for its own id", async () => {
    const me = await t.client();
    await me.subscribe('ex-alone');
    const id = me.ready!.connectionId as string;
    await t.publish({ channel: 'ex-alone', event: 'mine', excludeConnectionId: id });
    await t.publish({ channel: 'ex-alone', event: 'padded', excludeConnectionId: id.replace(/\.(\w+)$/, '.0$1') });
    await t.publish({ channel: 'ex-alone', event: 'other', excludeConnectionId: 'someone-else' });
    expect((await me.messages('ex-alone', 2)).map((m) => m.event)).toEqual(['padded', 'other']);
  });

  it('runs a batch in order, and refuses a batch with one invalid message whole', async () => {
    const c = await t.client();
    await c.subscribe('b1');
    const messages = Array.from({ length: 10 }, (_, i) => ({ channel: 'b1', event: 'e', data: i }));
    const r = await t.http('POST', '/v1/batch', { messages: [...messages, { channels: ['b2', 'b3'], event: 'e' }] });
    expect(r.status).toBe(200);
    expect(r.body.results.slice(0, 10)).toEqual(messages.map((_, i) => ({ channel: 'b1', offset: i + 1 })));
    expect(r.body.results[10]).toEqual({
      results: [
        { channel: 'b2', offset: 1 },
        { channel: 'b3', offset: 1 },
      ],
    });
    expect((await c.messages('b1', 10)).map((m) => m.data)).toEqual(messages.map((m) => m.data));

    const bad = await t.http('POST', '/v1/batch', {
      messages: [
        { channel: 'b1', event: 'e' },
        { channel: 'bad name', event: 'e' },
      ],
    });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad_channel' } } });
    expect(bad.body.error.message).toContain('messages[1]');
    expect((await t.http('GET', '/v1/channels/b1')).body.offset).toBe(10);
    const tooMany = await t.http('POST', '/v1/batch', { messages: Array.from({ length: 101 }, () => ({ channel: 'b1', event: 'e' })) });
    expect(tooMany.status).toBe(400);
  });

  it('reports a channel with its cluster-wide subscribers, epoch and offset', async () => {
    const a = await t.client();
    const b = await t.client();
    const sub = await a.subscribe('counted');
    await b.subscribe('counted');
    expect((await t.http('GET', '/v1/channels/counted')).body).toEqual({ channel: 'counted', subscribers: 2, epoch: sub.epoch, offset: 0 });
    await b.request({ type: 'unsubscribe', channel: 'counted' });
    expect((await t.http('GET', '/v1/channels/counted')).body.subscribers).toBe(1);
  });

  it('disconnects every connection of a user with 4503', async () => {
    const a = await t.client({ sub: 'victim' });
    const b = await t.client({ sub: 'victim' });
    const bystander = await t.client({ sub: 'bystander' });
    expect((await t.http('POST', '/v1/disconnect', { userId: 'victim' })).body).toEqual({ disconnected: 2 });
    expect((await a.waitClose()).code).toBe(4503);
    expect((await b.waitClose()).code).toBe(4503);
    expect((await t.http('POST', '/v1/disconnect', { userId: 'nobody' })).body).toEqual({ disconnected: 0 });
    expect((await t.http('POST', '/v1/disconnect', { user: 'x' })).status).toBe(400);
    bystander.send({ type: 'ping' });
    await bystander.next('pong');
  });

  it('answers health, readiness, metrics, unknown paths and wrong methods', async () => {
    expect(await t.http('GET', '/healthz', undefined, { authorization: '' })).toMatchObject({ status: 200 });
    expect(await t.http('GET', '/readyz', undefined, { authorization: '' })).toMatchObject({ status: 200 });
    const m = await t.http('GET', '/metrics', undefined, { authorization: '' });
    expect(m.status).toBe(200);
    expect(m.body).toContain('river_messages_published_total');
    expect(m.body).toContain('river_connections');
    expect(await t.http('GET', '/v1/nothing')).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    const wrongMethod = await t.http('GET', '/v1/publish');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });
});

describe('HTTP API options', () => {
  it('protects /metrics with RIVER_METRICS_TOKEN', async () => {
    const t = await startTestNode({ RIVER_METRICS_TOKEN: 'scrape-me' });
    try {
      expect((await t.http('GET', '/metrics', undefined, { authorization: '' })).status).toBe(401);
      expect((await t.http('GET', '/metrics', undefined, { authorization: 'Bearer scrape-me' })).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('bad input', () => {
  it('never crashes the node and changes nothing', async () => {
    const t = await startTestNode();
    try {
      const deep = `{"channel":"deep","event":"e","data":${'['.repeat(30_000)}${']'.repeat(30_000)}}`;
      expect(await t.http('POST', '/v1/publish', deep)).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
      for (const body of ['', 'null', '"x"', '{"channel":null,"event":"e"}', '{"messages":{}}', '\u0000']) {
        expect((await t.http('POST', '/v1/publish', body)).status).toBe(400);
        expect((await t.http('POST', '/v1/batch', body)).status).toBe(400);
        expect((await t.http('POST', '/v1/disconnect', body)).status).toBe(400);
      }
      expect((await t.http('GET', '/v1/channels/%E0%A4%A')).status).toBe(400);
      const c = await t.client({ publish: ['*'] });
      for (const f of [
        { type: 'subscribe', channel: 123 },
        { type: 'subscribe', channel: 'a', since: { offset: 'x', epoch: 1 } },
        { type: 'publish', channel: 'a' },
        { type: 'refresh' },
        { type: 'unsubscribe' },
        { type: 7 },
      ]) {
        expect(await c.request(f)).toMatchObject({ type: 'error', code: 'bad_request' });
      }
      c.send({ type: 'publish', channel: 'deep', event: 'e', id: 'd' });
      c.sendRaw(`{"type":"publish","channel":"deep","event":"e","id":"deep","data":${'['.repeat(30_000)}${']'.repeat(30_000)}}`);
      expect(await c.next((f) => f.id === 'deep')).toMatchObject({ type: 'error', code: 'bad_request' });
      expect(await c.next((f) => f.id === 'd')).toMatchObject({ type: 'published', offset: 1 });
      expect((await t.http('GET', '/v1/channels/deep')).body.offset).toBe(1);
      expect((await t.http('GET', '/healthz')).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
