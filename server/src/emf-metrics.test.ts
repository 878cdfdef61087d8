import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectionsFromMetricsEndpoint, EMF_INTERVAL_MS, EMF_METRICS, emfLine, parseConnections, startEmfMetrics } from './emf-metrics.js';
import { startTestNode, waitFor, type TestNode } from './test-support.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('emfLine', () => {
  it('is one line of CloudWatch Embedded Metric Format: namespace River, metric Connections (Count), dimension ServiceName', () => {
    const line = emfLine('river-prod', 1234, 1_700_000_000_000);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      _aws: {
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [{ Namespace: 'River', Dimensions: [['ServiceName']], Metrics: [{ Name: 'Connections', Unit: 'Count' }] }],
      },
      ServiceName: 'river-prod',
      Connections: 1234,
    });
    expect(EMF_METRICS).toEqual({ namespace: 'River', connections: 'Connections', unit: 'Count', dimension: 'ServiceName' });
  });
});

describe('startEmfMetrics (fake clock)', () => {
  it('writes one line every 60 s with the current count and the time of the reading', async () => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    let count = 3;
    const lines: string[] = [];
    const m = startEmfMetrics({ serviceName: 'river', readConnections: () => count, write: (l) => lines.push(l), logger: { warn: () => {} } });
    await vi.advanceTimersByTimeAsync(EMF_INTERVAL_MS - 1);
    expect(lines).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    count = 7;
    await vi.advanceTimersByTimeAsync(EMF_INTERVAL_MS);
    m.stop();
    await vi.advanceTimersByTimeAsync(EMF_INTERVAL_MS * 3);
    expect(lines).toEqual([emfLine('river', 3, 1_700_000_060_000), emfLine('river', 7, 1_700_000_120_000)]);
  });

  it('skips a minute whose reading fails, with a warning, and goes on', async () => {
    vi.useFakeTimers({ now: 0 });
    const reads: Array<() => Promise<number>> = [async () => Promise.reject(new Error('boom')), async () => Number.NaN, async () => 5];
    const lines: string[] = [];
    const warnings: unknown[] = [];
    const m = startEmfMetrics({ serviceName: 's', readConnections: () => reads.shift()!(), write: (l) => lines.push(l), logger: { warn: (o: unknown) => void warnings.push(o) } });
    await vi.advanceTimersByTimeAsync(EMF_INTERVAL_MS * 3);
    m.stop();
    expect(warnings).toHaveLength(2);
    expect(lines).toEqual([emfLine('s', 5, EMF_INTERVAL_MS * 3)]);
  });
});

describe('the connection count from the node', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('parses river_connections from the Prometheus text', () => {
    expect(parseConnections('# HELP river_connections x\n# TYPE river_connections gauge\nriver_connections 42\nriver_subscriptions 3\n')).toBe(42);
    expect(() => parseConnections('river_subscriptions 3\n')).toThrow(/no river_connections/);
  });

  it('reads it from a real node\'s /metrics (with the metrics token when one is set)', async () => {
    t = await startTestNode({ RIVER_METRICS_TOKEN: 'metrics-token' });
    const read = connectionsFromMetricsEndpoint(t.node.urls.http, { token: 'metrics-token' });
    expect(await read()).toBe(0);
    await t.client();
    await t.client();
    await waitFor(async () => (await read()) === 2, 'two connections counted');
    await expect(connectionsFromMetricsEndpoint(t.node.urls.http)()).rejects.toThrow(/answered 401/);
  });
});
