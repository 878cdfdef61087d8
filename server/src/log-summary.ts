/**
 * The periodic `info` line (docs/configuration.md#logs): one line per interval (default 60 s) with
 * the node's connections, subscriptions and channels now, and the messages published through it and
 * the message frames it delivered during the interval. Nothing is logged below `info`.
 */
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

export const SUMMARY_INTERVAL_MS = 60_000;

async function total(c: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await c.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Starts the summary timer (unref'd); returns its stop function. */
export function startLogSummary(metrics: Metrics, logger: Logger, intervalMs = SUMMARY_INTERVAL_MS): () => void {
  let published = 0;
  let delivered = 0;
  let busy = false;
  const tick = async () => {
    if (busy || !logger.isLevelEnabled('info')) return;
    busy = true;
    try {
      const [p, d, connections, subscriptions, channels] = await Promise.all([
        total(metrics.published),
        total(metrics.delivered),
        total(metrics.connections),
        total(metrics.subscriptions),
        total(metrics.channels),
      ]);
      logger.info(
        {
          connections,
          subscriptions,
          channels,
          published: p - published,
          delivered: d - delivered,
          intervalS: Math.round(intervalMs / 1000),
        },
        'summary',
      );
      published = p;
      delivered = d;
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick().catch(() => undefined), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
