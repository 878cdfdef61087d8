/**
 * Idle capacity check (issue 2): N idle authenticated connections, each subscribed to its own
 * channel (`--channel NAME` puts them all on one), against one River node; prints the node's RSS per connection (RSS delta / connections).
 *
 *   npm run bench -- --idle 10000
 */
import { WorkerPool } from './pool.js';
import { Publisher } from './publisher.js';
import { idleMemory, type MemoryResult } from './scenarios.js';
import { workersFor } from './suite.js';
import type { Target } from './targets.js';

export async function runIdle(
  target: Target,
  count: number,
  log: (l: string) => void,
  channel = 'idle-{i}',
  settleMs?: number,
): Promise<MemoryResult> {
  const pool = await WorkerPool.start(workersFor(count));
  const publisher = new Publisher(target.httpUrl, target.apiKey);
  try {
    const m = await idleMemory({ target, pool, publisher, log }, [{ group: 'idle', channel, count }], settleMs);
    log(
      `${target.name}: ${m.connections} idle authenticated subscribed connections (${m.open.failed} failed), ` +
        `RSS ${(m.rssBeforeBytes / 1048576).toFixed(1)} → ${(m.rssAfterBytes / 1048576).toFixed(1)} MB, ` +
        `${(m.rssPerConnBytes / 1024).toFixed(2)} KB RSS per connection (delta / connections), ` +
        `${(m.rssSlopeBytes / 1024).toFixed(2)} KB marginal (second half)` +
        (m.heapPerConnBytes !== undefined
          ? `; heap ${(m.heapPerConnBytes / 1024).toFixed(2)} KB per connection, ${((m.heapSlopeBytes ?? NaN) / 1024).toFixed(2)} KB marginal`
          : '') +
        `; accepted ${Math.round(m.open.perSecond)}/s`,
    );
    return m;
  } finally {
    publisher.close();
    await pool.close().catch(() => {});
    await pool.stop();
  }
}
