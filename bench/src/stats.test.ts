import { describe, expect, it } from 'vitest';
import { clusterScaling, Histogram, ratio, summarize, usPerMessage } from './stats.js';

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

describe('clusterScaling', () => {
  it('gives N for N equal masters with even shares', () => {
    expect(clusterScaling(8, [8, 8, 8], [1, 1, 1])).toBeCloseTo(3, 10);
  });

  it('is limited by the most loaded master, by its share and by its cost', () => {
    // Shares 0.36 / 0.30 / 0.34 of equal-cost masters: the first saturates first, at 1 / 0.36.
    expect(clusterScaling(8, [8, 8, 8], [36, 30, 34])).toBeCloseTo(1 / 0.36, 10);
    // A master twice as dear per publish with a third of the load limits the cluster to 1.5.
    expect(clusterScaling(8, [8, 16, 8], [1, 1, 1])).toBeCloseTo(1.5, 10);
    // Cheaper masters scale past N.
    expect(clusterScaling(9, [8.5, 8.5], [1, 1])).toBeCloseTo((9 / 8.5) * 2, 10);
  });

  it('ignores a master with no channels and rejects what is not a cluster', () => {
    expect(clusterScaling(8, [8, 8, 8], [1, 1, 0])).toBeCloseTo(2, 10);
    expect(clusterScaling(8, [8, 8], [1, 1, 1])).toBeNaN();
    expect(clusterScaling(8, [], [])).toBeNaN();
    expect(clusterScaling(0, [8], [1])).toBeNaN();
    expect(clusterScaling(8, [8, 0], [1, 1])).toBeNaN();
    expect(clusterScaling(8, [8, 8], [0, 0])).toBeNaN();
  });
});
