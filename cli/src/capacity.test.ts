import { describe, expect, it } from 'vitest';
import { CACHE_NODES, MODEL, PRICES, proposeCapacity, usableCores } from './capacity.js';

describe('proposeCapacity', () => {
  it('sizes 100,000 connections and 20,000 messages/s: 7 × 1 vCPU tasks, one cache.m7g.large shard, its monthly cost', () => {
    const p = proposeCapacity({ connections: 100_000, messagesPerSecond: 20_000 });
    expect(p).toMatchObject({ taskCpu: 1024, taskMemory: 2048, tasks: 7, cacheMode: 'node', cacheNodeType: 'cache.m7g.large', shards: 1 });
    // By hand: connections bind (100,000 / 19,500 → 6) + 1 spare; CPU needs 0.41 core of 0.6.
    expect(p.lines).toContain('tasks: max(1 for CPU, 6 for connections) + 1 spare = 7');
    const cost = Object.fromEntries(p.monthly.map((r) => [r.item.split(',')[0]!, r.dollars]));
    expect(cost.Fargate).toBeCloseTo(7 * (0.04048 + 2 * 0.004445) * 730, 2); // 252.28
    expect(cost['ElastiCache Valkey']).toBeCloseTo(2 * 0.1264 * 730, 2); // 184.54
    expect(cost['data out to the internet']).toBeCloseTo(((20_000 * 160 * 730 * 3600) / 1e9 - 100) * 0.09, 1);
    expect(p.monthlyTotal).toBeCloseTo(
      p.monthly.reduce((s, r) => s + r.dollars, 0),
      2,
    );
    expect(p.monthlyTotal).toBeGreaterThan(1400);
    expect(p.monthlyTotal).toBeLessThan(1500);
    expect(p.lines.at(-1)).toMatch(/^total: \$1,438\.51 a month/);
  });

  it('keeps a small deployment small: two of the smallest tasks and a micro cache', () => {
    const p = proposeCapacity({ connections: 1000, messagesPerSecond: 100 });
    expect(p).toMatchObject({ taskCpu: 256, taskMemory: 512, tasks: 2, cacheNodeType: 'cache.t4g.micro', shards: 1, cacheMode: 'node' });
  });

  it('adds shards, and proposes serverless, when one Redis thread cannot carry the publishes', () => {
    const p = proposeCapacity({ connections: 20_000, messagesPerSecond: 100_000 });
    expect(p.shards).toBeGreaterThan(1);
    expect(p.cacheMode).toBe('serverless');
    const perShard =
      (CACHE_NODES.at(-1)!.core * MODEL.redisUtilisation * 1e6) / (MODEL.redisUsPerPublish + MODEL.redisUsPerExtraNode * (p.tasks - 1));
    expect(p.shards).toBe(Math.ceil(100_000 / perShard));
    // The CPU binds here, not the connections: the load at 60 % of a core per task, plus a spare.
    const load = 20_000 * MODEL.usPerConnectionSecond + 100_000 * MODEL.usPerDelivery;
    expect(p.tasks).toBe(Math.ceil(load / (MODEL.taskUtilisation * usableCores(p.taskCpu) * 1e6)) + 1);
  });

  it('grows with the load and refuses nonsense', () => {
    const a = proposeCapacity({ connections: 50_000, messagesPerSecond: 5000 });
    const b = proposeCapacity({ connections: 200_000, messagesPerSecond: 5000 });
    expect(b.tasks * b.taskCpu).toBeGreaterThan(a.tasks * a.taskCpu);
    expect(b.monthlyTotal).toBeGreaterThan(a.monthlyTotal);
    expect(() => proposeCapacity({ connections: 0, messagesPerSecond: 1 })).toThrow(RangeError);
    expect(() => proposeCapacity({ connections: 10, messagesPerSecond: -1 })).toThrow(RangeError);
  });

  it('counts one core per task at most, a second vCPU as a quarter', () => {
    expect([256, 512, 1024, 2048, 4096].map(usableCores)).toEqual([0.25, 0.5, 1, 1.25, 1.75]);
    expect(PRICES.hoursPerMonth).toBe(730);
  });
});
