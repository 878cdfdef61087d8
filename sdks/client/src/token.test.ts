// What the token function hands back: a failed HTTP answer or a body that is not a JWT is an `error`
// event with the cause, followed by a growing backoff, and is never sent as `auth`. Also: a server
// that accepts and then cuts at once (4003) meets a growing backoff too.
import { beforeEach, describe, expect, it } from 'vitest';
import type { RiverOptions } from './options.js';
import { FakeClock, FakeSocket, fakeRiver, fakeJwt, flush } from './test-fakes.js';

let clock: FakeClock;
const make = (extra: Partial<RiverOptions> = {}) => fakeRiver(clock, extra);

const response = (status: number, body: string, statusText = '') => new Response(body, { status, statusText });

beforeEach(() => {
  clock = new FakeClock();
  FakeSocket.all = [];
});

describe('the token function', () => {
  it('a Response that is not ok is an error event naming the status, with the Response as cause, and nothing is sent', async () => {
    const res = response(401, 'unauthorized', 'Unauthorized');
    const { states, errors } = make({ token: async () => res });
    await flush();
    expect(errors.map((e) => [e.code, e.message])).toEqual([['token_error', 'token endpoint answered 401 Unauthorized']]);
    expect(errors[0]!.cause).toBe(res);
    expect(states.at(-1)).toMatchObject({ from: 'connecting', to: 'reconnecting', reason: 'token_error' });
    expect(FakeSocket.all).toHaveLength(0); // no socket, so no auth frame
  });

  it('an ok Response is read as the JWT (trimmed), and sent as auth', async () => {
    const jwt = fakeJwt({ sub: 'u1' });
    const { errors } = make({ token: () => Promise.resolve(response(200, `${jwt}\n`)) });
    await flush();
    FakeSocket.last().open();
    expect(FakeSocket.last().sent[0]).toEqual({ type: 'auth', token: jwt });
    expect(errors).toEqual([]);
  });

  it('a string that is not a JWT (an HTML page, "unauthorized", an ok Response with such a body) is refused, never sent as auth', async () => {
    const bodies = ['<!doctype html><html><head><title>Sign in</title></head></html>', 'unauthorized', '', 'a.b'];
    let i = 0;
    const { errors } = make({ token: async () => (i % 2 ? bodies[i++]! : response(200, bodies[i++]!)), maxReconnectDelayMs: 1000 });
    for (let k = 0; k < 3; k++) await clock.advance(1000); // attempts at 0, 750, 1750 and 2750 ms
    expect(errors.map((e) => e.message)).toEqual([
      'the token function returned something that is not a JWT: "<!doctype html><html><head><title>Sign i"',
      'the token function returned something that is not a JWT: "unauthorized"',
      'the token function returned something that is not a JWT: ""',
      'the token function returned something that is not a JWT: "a.b"',
    ]);
    expect(errors.every((e) => e.code === 'token_error')).toBe(true);
    expect(FakeSocket.all).toHaveLength(0);
  });

  it('a token function that throws is an error event with its message and the error as cause', async () => {
    const boom = new Error('fetch failed');
    const { errors } = make({ token: () => Promise.reject(boom) });
    await flush();
    expect(errors[0]).toMatchObject({ code: 'token_error', message: 'the token function failed: fetch failed', cause: boom });
  });

  it('repeated failures back off further each time, and a good token connects', async () => {
    let calls = 0;
    const { states } = make({ token: async () => (++calls < 5 ? response(503, 'down') : fakeJwt({ sub: 'u1' })) });
    await flush();
    const delays: number[] = [];
    for (let k = 0; k < 4; k++) {
      delays.push(clock.pending()[0]!);
      await clock.advance(clock.pending()[0]!);
    }
    // 500 ms + 0.5 × (500 ms × 2^attempt), capped at 30 s.
    expect(delays).toEqual([750, 1000, 1500, 2500]);
    FakeSocket.last().accept();
    expect(states.at(-1)).toMatchObject({ to: 'connected' });
    expect(calls).toBe(5);
  });
});

describe('a server that cuts the connection right after ready', () => {
  it('4003 slow_consumer again and again backs off further each time, and starts over after a connection that lasted 30 s', async () => {
    make();
    await flush();
    const delays: number[] = [];
    for (let k = 0; k < 4; k++) {
      FakeSocket.last().accept();
      FakeSocket.last().drop(4003);
      delays.push(clock.pending()[0]!);
      await clock.advance(clock.pending()[0]!);
    }
    expect(delays).toEqual([750, 1000, 1500, 2500]);
    FakeSocket.last().accept();
    await clock.advance(30_000);
    FakeSocket.last().drop(4003);
    expect(clock.pending()).toEqual([750]);
  });
});
