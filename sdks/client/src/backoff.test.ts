import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay (full jitter, 0.5 s → 30 s)', () => {
  it('draws uniformly below a cap that doubles per attempt from 500 ms', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, top))).toEqual([499, 999, 1999, 3999, 7999, 15999]);
    expect(backoffDelay(3, () => 0.5)).toBe(2000);
  });

  it('never exceeds 30 s, even for huge attempt numbers', () => {
    for (const a of [6, 7, 10, 50, 1e6]) expect(backoffDelay(a, () => 0.999999)).toBe(29999);
  });

  it('can be zero (full jitter) and is never negative', () => {
    expect(backoffDelay(0, () => 0)).toBe(0);
    expect(backoffDelay(-3, () => 0.5)).toBe(250);
  });

  it('spreads a crowd: many draws for one attempt cover the range', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4, Math.random));
    expect(Math.min(...draws)).toBeLessThan(800);
    expect(Math.max(...draws)).toBeGreaterThan(7200);
    expect(draws.every((d) => d >= 0 && d < 8000)).toBe(true);
  });

  it('takes custom bounds', () => {
    expect(backoffDelay(10, () => 0.999999, { minMs: 10, maxMs: 100 })).toBe(99);
  });
});
