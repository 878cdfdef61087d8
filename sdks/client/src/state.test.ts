import { describe, expect, it } from 'vitest';
import { afterClose, nextState, TRANSITIONS } from './state.js';

describe('connection state table', () => {
  it('has exactly the documented transitions', () => {
    expect(TRANSITIONS).toEqual({
      disconnected: { connect: 'connecting' },
      connecting: { ready: 'connected', lost: 'reconnecting', stop: 'disconnected' },
      connected: { lost: 'reconnecting', stop: 'disconnected' },
      reconnecting: { ready: 'connected', lost: 'reconnecting', stop: 'disconnected' },
    });
  });

  it('ignores events that do not apply', () => {
    expect(nextState('connected', 'connect')).toBeUndefined();
    expect(nextState('disconnected', 'lost')).toBeUndefined();
    expect(nextState('disconnected', 'ready')).toBeUndefined();
    expect(nextState('reconnecting', 'ready')).toBe('connected');
  });
});

describe('afterClose (docs/protocol.md#7-codes)', () => {
  const healthy = { wasReady: true, canRefresh: true, retriedToken: false, retriedExpired: false };

  it('4000 reconnects at once after a healthy connection, with backoff otherwise', () => {
    expect(afterClose(4000, healthy)).toEqual({ action: 'reconnect', delay: 'now', fresh: false, reason: 'server_restarting' });
    expect(afterClose(4000, { ...healthy, wasReady: false })).toMatchObject({ delay: 'backoff' });
  });

  it('4002 reconnects at once with a fresh token, also before ready; a 4002 again before ready backs off', () => {
    expect(afterClose(4002, healthy)).toEqual({ action: 'reconnect', delay: 'now', fresh: true, reason: 'token_expired' });
    expect(afterClose(4002, { ...healthy, wasReady: false })).toEqual({
      action: 'reconnect',
      delay: 'now',
      fresh: true,
      reason: 'token_expired',
    });
    expect(afterClose(4002, { ...healthy, wasReady: false, retriedExpired: true })).toEqual({
      action: 'reconnect',
      delay: 'backoff',
      fresh: true,
      reason: 'token_expired',
    });
  });

  it('4500 retries once with a fresh token, then stops', () => {
    expect(afterClose(4500, healthy)).toEqual({ action: 'reconnect', delay: 'now', fresh: true, reason: 'token_invalid' });
    expect(afterClose(4500, { ...healthy, retriedToken: true })).toEqual({ action: 'stop', reason: 'token_invalid' });
    expect(afterClose(4500, { ...healthy, canRefresh: false })).toEqual({ action: 'stop', reason: 'token_invalid' });
  });

  it('other 45xx stop at once', () => {
    expect(afterClose(4503, healthy)).toEqual({ action: 'stop', reason: 'user_disconnected' });
    expect(afterClose(4502, healthy)).toEqual({ action: 'stop', reason: 'protocol_error' });
    expect(afterClose(4999, healthy)).toMatchObject({ action: 'stop' });
  });

  it('4001/4003/4004/4008, 1006 and 1009 back off', () => {
    for (const code of [4001, 4003, 4004, 4008, 1006, 1009, 1011]) {
      expect(afterClose(code, healthy)).toMatchObject({ action: 'reconnect', delay: 'backoff', fresh: false });
    }
    expect(afterClose(1006, healthy).reason).toBe('network');
    expect(afterClose(4003, healthy).reason).toBe('slow_consumer');
  });
});
