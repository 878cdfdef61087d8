import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay (full jitter, 0.5 s → 30 s)', () => {
  it('is 500 ms plus a random part whose range doubles per attempt', () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, top))).toEqual([999, 1499, 2499, 4499, 8499, 16499]);
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, () => 0))).toEqual([500, 500, 500, 500]);
    expect(backoffDelay(3, () => 0.5)).toBe(2500);
  });

  it('never exceeds 30 s, even for huge attempt numbers', () => {
    for (const a of [6, 7, 10, 50, 1e6]) expect(backoffDelay(a, () => 0.999999)).toBe(30_000);
    expect(backoffDelay(-3, () => 0.5)).toBe(750);
  });

  it('spreads a crowd: many draws for one attempt cover the range', () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4, Math.random));
    expect(Math.min(...draws)).toBeLessThan(1300);
    expect(Math.max(...draws)).toBeGreaterThan(7700);
    expect(draws.every((d) => d >= 500 && d < 8500)).toBe(true);
  });

  it('takes custom bounds', () => {
    expect(backoffDelay(10, () => 0.999999, { minMs: 10, maxMs: 100 })).toBe(100);
    expect(backoffDelay(0, () => 0.5, { minMs: 10, maxMs: 100 })).toBe(15);
  });
});
