/** river listen across a node drain: 4000 → reconnect → resubscribe with `since` → nothing missed. */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, MemoryBackend, MemoryBus, MemoryPresence, MemoryPresenceBackend, startRiver, type RiverNode } from '@river/server';
import { writeDevState } from '../state.js';
import { tempProject, testContext, waitFor } from '../test-context.js';

const SECRET = 'listen-reconnect-secret-0123456789abcdefghij';
const KEY = 'listen-reconnect-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const busOpts = { historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 };
const backend = new MemoryBackend(busOpts);
const presenceBackend = new MemoryPresenceBackend({ ttlMs: 50_000 });
const nodes: RiverNode[] = [];

async function node(port: number): Promise<RiverNode> {
  const config = loadConfig({
    RIVER_PORT: String(port),
    RIVER_HOST: '127.0.0.1',
    RIVER_JWT_SECRET: SECRET,
    RIVER_API_KEY: KEY,
    RIVER_DRAIN_MS: '0',
  });
  const n = await startRiver(config, {
    bus: new MemoryBus(busOpts, backend),
    presence: new MemoryPresence({ ttlMs: 50_000 }, presenceBackend),
  });
  nodes.push(n);
  return n;
}

afterAll(async () => {
  await Promise.allSettled(nodes.map((n) => n.close()));
});

describe('river listen across a drain', () => {
  it('reconnects after 4000 server_restarting and prints what was published while it was away, once', async () => {
    const project = await tempProject();
    try {
      await writeDevState(project.dir, { secret: SECRET, apiKey: KEY });
      const other = await node(0); // stays up: publishes go through it
      const first = await node(0);
      const port = first.port;
      const listener = testContext({ cwd: project.dir });
      const exit = listener.run(['listen', 'dogs', '--url', first.urls.http]);
      await waitFor(() => listener.io.stderr.includes('subscribed to dogs'), 'the subscription');

      const publish = async (event: string) => {
        const t = testContext({ cwd: project.dir });
        expect(await t.run(['publish', 'dogs', event, '--url', other.urls.http])).toBe(0);
      };
      await publish('before');
      await waitFor(() => listener.io.stdout.length === 1, 'the first event');

      await first.drain();
      await waitFor(() => listener.io.stderr.some((l) => l.includes('4000 server_restarting')), 'the 4000 close');
      await publish('during');
      await node(port); // the node comes back on the same address

      await waitFor(() => listener.io.stdout.length >= 2, 'the event published during the restart', 15_000);
      await publish('after');
      await waitFor(() => listener.io.stdout.length >= 3, 'the event after the restart');
      listener.abort();
      expect(await exit).toBe(0);
      const events = listener.io.stdout.map((l) => JSON.parse(l) as { event: string; offset: number });
      expect(events.map((e) => e.event)).toEqual(['before', 'during', 'after']);
      expect(events.map((e) => e.offset)).toEqual([1, 2, 3]);
      expect(listener.io.stderrText()).toContain('subscribed to dogs (recovered missed messages)');
    } finally {
      await project.cleanup();
    }
  });
});
