/**
 * The node's connection count as a CloudWatch metric, with no AWS SDK and no API call: once a
 * minute one line of CloudWatch Embedded Metric Format (EMF) JSON on stdout. On ECS the awslogs
 * driver ships stdout to CloudWatch Logs, which extracts the metric from the line. templates/
 * scales the service on it (target tracking on the Average across tasks = connections per task),
 * so the metric names below are imported there: the template and the node cannot drift apart.
 *
 * Enabled with RIVER_EMF_METRICS=true (the template sets it, with RIVER_SERVICE_NAME); off by
 * default, so a node elsewhere never prints these lines.
 */
import type { Logger } from 'pino';

/** Namespace, metric, unit and dimension of the EMF line; the scaling policy in templates/ reads the same. */
export const EMF_METRICS = {
  namespace: 'River',
  connections: 'Connections',
  unit: 'Count',
  /** Dimension holding RIVER_SERVICE_NAME (the deployment's name). */
  dimension: 'ServiceName',
} as const;

/** One datapoint a minute: CloudWatch's standard resolution, what target tracking evaluates. */
export const EMF_INTERVAL_MS = 60_000;

/** One EMF log line (with its newline) saying this node holds `connections` WebSockets at `timestamp`. */
export function emfLine(serviceName: string, connections: number, timestamp: number): string {
  return `${JSON.stringify({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: EMF_METRICS.namespace,
          Dimensions: [[EMF_METRICS.dimension]],
          Metrics: [{ Name: EMF_METRICS.connections, Unit: EMF_METRICS.unit }],
        },
      ],
    },
    [EMF_METRICS.dimension]: serviceName,
    [EMF_METRICS.connections]: connections,
  })}\n`;
}

export interface EmfMetricsOptions {
  serviceName: string;
  /** The node's current connection count. A failed read skips that minute (no datapoint beats a wrong one). */
  readConnections(): number | Promise<number>;
  /** Writes one whole line (process.stdout.write in main.ts). */
  write(line: string): void;
  logger: Pick<Logger, 'warn'>;
  intervalMs?: number;
  now?: () => number;
}

/** Writes a line every `intervalMs` (the first one after one interval) until stopped. The timer is unref'd. */
export function startEmfMetrics(opts: EmfMetricsOptions): { stop(): void } {
  const now = opts.now ?? Date.now;
  let busy = false;
  const tick = async () => {
    if (busy) return; // a slow read never piles up
    busy = true;
    try {
      const connections = await opts.readConnections();
      if (!Number.isFinite(connections) || connections < 0) throw new Error(`not a connection count: ${connections}`);
      opts.write(emfLine(opts.serviceName, connections, now()));
    } catch (err) {
      opts.logger.warn({ err }, 'connection metric not written this minute');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), opts.intervalMs ?? EMF_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
