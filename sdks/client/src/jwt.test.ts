import { describe, expect, it } from 'vitest';
import { refreshPlan, tokenTimes } from './jwt.js';
import { fakeJwt } from './test-fakes.js';

describe('token timing (payload decoded, never verified)', () => {
  it('reads exp and iat, and gives {} for anything unreadable', () => {
    expect(tokenTimes(fakeJwt({ sub: 'u', iat: 100, exp: 160, info: { name: 'Zoë' } }))).toEqual({ iat: 100, exp: 160 });
    expect(tokenTimes('not-a-jwt')).toEqual({});
    expect(tokenTimes('a.!!!.c')).toEqual({});
    expect(tokenTimes(fakeJwt({ sub: 'u', exp: 'soon' }))).toEqual({});
  });

  it('refreshes a quarter of the lifetime early, at least 1 s and at most 60 s', () => {
    const now = 5_000_000;
    expect(refreshPlan(fakeJwt({ iat: 100, exp: 160 }), now)).toEqual({ refreshAt: now + 45_000, expiresAt: now + 60_000 });
    expect(refreshPlan(fakeJwt({ iat: 100, exp: 3700 }), now)).toEqual({ refreshAt: now + 3_540_000, expiresAt: now + 3_600_000 });
    expect(refreshPlan(fakeJwt({ iat: 100, exp: 103 }), now)).toEqual({ refreshAt: now + 2000, expiresAt: now + 3000 });
  });

  it('uses exp - iat so a skewed client clock does not matter; without iat, the local clock', () => {
    const skewed = 1_000; // the client clock is far behind the token's times
    expect(refreshPlan(fakeJwt({ iat: 1_800_000_000, exp: 1_800_000_060 }), skewed)?.expiresAt).toBe(skewed + 60_000);
    expect(refreshPlan(fakeJwt({ exp: 200 }), 100_000)).toEqual({ refreshAt: 175_000, expiresAt: 200_000 });
    expect(refreshPlan(fakeJwt({ sub: 'u' }), 0)).toBeUndefined();
  });

  it('takes the earlier of exp - iat and exp by the local clock: a token minted 50 min ago with 1 h of life has 10 min left', () => {
    const now = 1_800_000_000_000;
    const iat = now / 1000 - 3000;
    expect(refreshPlan(fakeJwt({ iat, exp: iat + 3600 }), now)).toEqual({ refreshAt: now + 540_000, expiresAt: now + 600_000 });
    // A clock far ahead (the token looks expired already): trust exp - iat rather than refresh in a loop.
    expect(refreshPlan(fakeJwt({ iat: 100, exp: 160 }), now)).toEqual({ refreshAt: now + 45_000, expiresAt: now + 60_000 });
  });
});
