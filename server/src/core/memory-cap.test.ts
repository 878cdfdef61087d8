/**
 * Memory has a ceiling (docs/configuration.md, RIVER_MAX_HISTORY_BYTES): 3 connections whose token
 * allows `publish: ["chat-*"]` flood new channels with 60 KB messages as fast as the node answers.
 * With RIVER_MAX_HISTORY_BYTES=16 MiB:
 * - what the process still holds after the flood (heap + external, after a full GC) grows by less
 *   than the cap plus 64 MiB; without a cap every message stays in history for its TTL, so it holds
 *   all of the flood (measured +790 MiB of 771 MiB published);
 * - its peak RSS grows by less than the cap plus a stated margin of 512 MiB: the flood's transient
 *   garbage, client and node in one process (measured +195 MiB on Node 20 and +345 MiB on Node 24
 *   for 771 MiB published; +183 MiB after 30 s and 2.6 GB; +872 MiB without a cap);
 * - an early channel then answers `recovered: false`.
 * In CI the flood runs until 768 MiB are published (at most 90 s); RIVER_FLOOD_SECONDS=60 floods
 * for that long instead.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { startTestNode } from '../test-support.js';

const FIXED_SECONDS = process.env.RIVER_FLOOD_SECONDS === undefined ? undefined : Number(process.env.RIVER_FLOOD_SECONDS);
const SECONDS = FIXED_SECONDS ?? 90;
const TARGET_BYTES = FIXED_SECONDS === undefined ? 768 * 2 ** 20 : Number.POSITIVE_INFINITY;
const CAP = 16 * 1024 * 1024;
const MARGIN = 512 * 1024 * 1024;
const HELD_MARGIN = 64 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Heap and external memory (Buffers) still reachable: after a full collection, what is held. */
function held(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

describe('node-wide memory cap on the embedded bus', () => {
  it('a flood of new channels with 60 KB messages holds no more than the cap, and keeps RSS under the cap + 512 MiB', async () => {
    const t = await startTestNode({ RIVER_MAX_HISTORY_BYTES: String(CAP), RIVER_MAX_FRAMES_PER_SECOND: '100000' });
    try {
      const early = await t.client();
      const sub = await early.subscribe('chat-early');
      await t.publish({ channel: 'chat-early', event: 'e', data: 1 });
      await early.next('message');
      early.terminate();

      const heldBefore = held();
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const pad = 'x'.repeat(60_000);
      const clients = await Promise.all([1, 2, 3].map((i) => t.client({ sub: `flooder-${i}`, publish: ['chat-*'] })));
      const started = Date.now();
      const end = started + SECONDS * 1000;
      let n = 0;
      let published = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (Date.now() < end && published * 60_000 < TARGET_BYTES) {
            const replies = await Promise.all(
              Array.from({ length: 20 }, () => c.request({ type: 'publish', channel: `chat-${n++}`, event: 'e', data: pad })),
            );
            for (const r of replies) expect(r.type).toBe('published');
            published += replies.length;
            peak = Math.max(peak, process.memoryUsage().rss);
          }
        }),
      );
      const grew = peak - rssBefore;
      for (const c of clients) c.terminate();
      await new Promise((r) => setTimeout(r, 500)); // the node lets go of the closed connections
      const heldGrew = held() - heldBefore;
      console.log(
        `memory cap flood: ${published} messages of 60 KB (${((published * 60_000) / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - started) / 1000).toFixed(0)} s to new channels; RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> peak ${(peak / 2 ** 20).toFixed(0)} MiB (+${(grew / 2 ** 20).toFixed(0)} MiB, cap ${CAP / 2 ** 20} MiB); held after GC +${(heldGrew / 2 ** 20).toFixed(0)} MiB`,
      );
      // The flood must have been far larger than cap + margin for the bound to mean anything.
      expect(published * 60_000).toBeGreaterThan(CAP + MARGIN);
      expect(heldGrew).toBeLessThan(CAP + HELD_MARGIN);
      expect(grew).toBeLessThan(CAP + MARGIN);

      const back = await t.client();
      const again = await back.subscribe('chat-early', { epoch: sub.epoch, offset: sub.offset });
      expect(again).toMatchObject({ type: 'subscribed', recovered: false });
    } finally {
      await t.close();
    }
  }, 120_000);
});
