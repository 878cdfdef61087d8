import { afterEach, describe, expect, it, vi } from 'vitest';
import { EMF_INTERVAL_MS, EMF_METRICS, emfLine, startEmfMetrics } from './emf-metrics.js';
import { startTestNode, waitFor, type TestNode } from '../test-support.js';

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
    const m = startEmfMetrics({
      serviceName: 'river',
      readConnections: () => count,
      write: (l) => lines.push(l),
      logger: { warn: () => {} },
    });
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
    const m = startEmfMetrics({
      serviceName: 's',
      readConnections: () => reads.shift()!(),
      write: (l) => lines.push(l),
      logger: { warn: (o: unknown) => void warnings.push(o) },
    });
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

  it('is what RiverNode.connections says, as clients come and go', async () => {
    t = await startTestNode();
    expect(t.node.connections).toBe(0);
    const a = await t.client();
    await t.client();
    await waitFor(() => t!.node.connections === 2, 'two connections counted');
    a.ws.close();
    await waitFor(() => t!.node.connections === 1, 'one left');
  });
});
