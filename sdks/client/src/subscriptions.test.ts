// Subscribes refused for a while (`unavailable`, `internal`) are tried again on the same connection
// with full-jitter backoff, driven through an in-memory WebSocket and a manual clock.
import { beforeEach, describe, expect, it } from 'vitest';
import type { RiverOptions } from './options.js';
import { FakeClock, FakeSocket, fakeRiver, flush } from './test-fakes.js';

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
  FakeSocket.all = [];
});

/** Heartbeat 1000 s: the liveness timer (2000 s) stays out of the way. */
async function connected(extra: Partial<RiverOptions> = {}) {
  const { river } = fakeRiver(clock, extra);
  const errors: string[] = [];
  river.on('error', (e) => errors.push((e as { code?: string }).code ?? e.message));
  await flush();
  const ws = FakeSocket.last();
  ws.accept(1_000_000);
  return { river, ws, errors };
}

const LIVENESS = 2_000_000;
/** The pending timers besides the liveness one. */
const retries = () => clock.pending().filter((ms) => ms !== LIVENESS);
const refuse = (ws: FakeSocket, code: string) => {
  const f = ws.ofType('subscribe').at(-1)!;
  ws.receive({ type: 'error', code, message: 'try later', id: f.id, channel: f.channel });
};

describe('a subscribe refused with a temporary error', () => {
  it('is sent again while connected, after 0.5 s + full jitter, the range doubling per refusal, until subscribed', async () => {
    const { river, ws, errors } = await connected();
    const dogs = river.subscribe('dogs', { since: { epoch: 'e1', offset: 7 } });
    const got: number[] = [];
    dogs.on('*', (_d, m) => got.push(m.offset));
    refuse(ws, 'unavailable');
    expect(retries()).toEqual([750]); // backoffDelay(0): 500 ms + 0.5 × 500 ms
    await clock.advance(749);
    expect(ws.ofType('subscribe')).toHaveLength(1);
    await clock.advance(1);
    expect(ws.ofType('subscribe')).toHaveLength(2);
    expect(ws.ofType('subscribe')[1]).toMatchObject({ channel: 'dogs', since: { epoch: 'e1', offset: 7 } });
    refuse(ws, 'internal');
    expect(retries()).toEqual([1000]); // backoffDelay(1)
    await clock.advance(1000);
    refuse(ws, 'unavailable');
    expect(retries()).toEqual([1500]); // backoffDelay(2)
    await clock.advance(1500);
    const last = ws.ofType('subscribe');
    expect(last).toHaveLength(4);
    ws.receive({ type: 'subscribed', channel: 'dogs', epoch: 'e1', offset: 8, recovered: true, id: last[3]!.id });
    ws.receive({ type: 'message', channel: 'dogs', event: 'x', data: null, offset: 8, ts: 1 });
    expect(got).toEqual([8]);
    expect(retries()).toEqual([]);
    expect(errors).toEqual(['unavailable', 'internal', 'unavailable']); // each refusal is reported
    expect(FakeSocket.all).toHaveLength(1); // on the same connection
  });

  it('stops being retried once the app unsubscribes (and no unsubscribe is sent: the server holds none)', async () => {
    const { river, ws } = await connected();
    const dogs = river.subscribe('dogs');
    refuse(ws, 'unavailable');
    dogs.unsubscribe();
    expect(retries()).toEqual([]);
    await clock.advance(120_000);
    expect(ws.ofType('subscribe')).toHaveLength(1);
    expect(ws.ofType('unsubscribe')).toEqual([]);
  });

  it('stops being retried on close()', async () => {
    const { river, ws } = await connected();
    river.subscribe('dogs');
    refuse(ws, 'internal');
    river.close();
    await clock.advance(120_000);
    expect(ws.ofType('subscribe')).toHaveLength(1);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('is subscribed once by the next connection when the connection drops meanwhile', async () => {
    const { river, ws } = await connected();
    river.subscribe('dogs');
    refuse(ws, 'unavailable');
    ws.drop(1006);
    await clock.advance(750); // the reconnect's backoff
    const next = FakeSocket.last();
    next.accept(1_000_000);
    await clock.advance(120_000);
    expect(ws.ofType('subscribe')).toHaveLength(1);
    expect(next.ofType('subscribe').map((f) => f.channel)).toEqual(['dogs']);
    // The new connection's backoff starts from the first delay.
    refuse(next, 'unavailable');
    expect(retries()).toEqual([750]);
  });

  it('only for unavailable and internal: other refusals wait for the app or the next connection', async () => {
    const { river, ws } = await connected();
    for (const [name, code] of [
      ['a', 'forbidden'],
      ['b', 'bad_request'],
      ['c', 'too_many_subscriptions'],
    ] as const) {
      river.subscribe(name);
      refuse(ws, code);
    }
    await clock.advance(120_000);
    expect(ws.ofType('subscribe').map((f) => f.channel)).toEqual(['a', 'b', 'c']);
  });

  it('uses the reconnect delay bounds: minReconnectDelayMs, at most maxReconnectDelayMs', async () => {
    const { river, ws } = await connected({ minReconnectDelayMs: 100, maxReconnectDelayMs: 1000, random: () => 0.999999 });
    river.subscribe('dogs');
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      refuse(ws, 'unavailable');
      delays.push(...retries());
      await clock.advance(retries()[0]!);
    }
    expect(delays).toEqual([199, 299, 499, 899, 1000, 1000]);
  });
});
