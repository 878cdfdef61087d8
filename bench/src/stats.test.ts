import { describe, expect, it } from 'vitest';
import { Histogram, ratio, summarize, usPerMessage } from './stats.js';

describe('Histogram', () => {
  it('gives percentiles within one bucket and the exact maximum', () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i / 10); // 0.1 … 100 ms
    const s = summarize(h);
    expect(s.samples).toBe(1000);
    expect(s.p50).toBeGreaterThanOrEqual(50);
    expect(s.p50).toBeLessThanOrEqual(50.05 + 1e-9);
    expect(s.p99).toBeGreaterThanOrEqual(99);
    expect(s.p99).toBeLessThanOrEqual(100);
    expect(s.max).toBe(100);
  });

  it('merges sparse copies from workers into the same result', () => {
    const a = new Histogram();
    const b = new Histogram();
    const all = new Histogram();
    for (const v of [0.2, 3, 40, 250, 12_000, -1]) {
      (v > 10 ? a : b).record(v);
      all.record(v);
    }
    const m = new Histogram();
    m.merge(JSON.parse(JSON.stringify(a)));
    m.merge(JSON.parse(JSON.stringify(b)));
    expect(summarize(m)).toEqual(summarize(all));
    expect(m.quantile(1)).toBe(12_000);
  });
});

describe('ratios', () => {
  it('turns CPU ms and deliveries into µs per message, NaN when nothing was delivered', () => {
    expect(usPerMessage(700, 100_000)).toBeCloseTo(7);
    expect(Number.isNaN(usPerMessage(5, 0))).toBe(true);
    expect(ratio(7.5, 6.25)).toBeCloseTo(1.2);
    expect(Number.isNaN(ratio(undefined, 1))).toBe(true);
  });
});
