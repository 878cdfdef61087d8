/**
 * Memory has a ceiling (issue 14, item 2): 3 connections whose token allows `publish: ["chat-*"]`
 * flood new channels with 60 KB messages as fast as the node answers. With
 * RIVER_MAX_HISTORY_BYTES=16 MiB the process's peak RSS grows by less than the cap plus a stated
 * margin of 256 MiB (the flood's transient garbage, client and node in one process: measured +194
 * MiB after 12 s and +183 MiB after 30 s and 2.6 GB published, so flat), where without a cap it grew
 * +652 MiB in 12 s; an early channel then answers `recovered: false`. 12 s in CI; set
 * RIVER_FLOOD_SECONDS=60 for the long run.
 */
import { describe, expect, it } from 'vitest';
import { startTestNode } from '../test-support.js';

const SECONDS = Number(process.env.RIVER_FLOOD_SECONDS ?? 12);
const CAP = 16 * 1024 * 1024;
const MARGIN = 256 * 1024 * 1024;

describe('node-wide memory cap on the embedded bus', () => {
  it(`a ${SECONDS} s flood of new channels with 60 KB messages keeps RSS under the cap + 256 MiB`, async () => {
    const t = await startTestNode({ RIVER_MAX_HISTORY_BYTES: String(CAP), RIVER_MAX_FRAMES_PER_SECOND: '100000' });
    try {
      const early = await t.client();
      const sub = await early.subscribe('chat-early');
      await t.publish({ channel: 'chat-early', event: 'e', data: 1 });
      await early.next('message');
      early.terminate();

      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const pad = 'x'.repeat(60_000);
      const clients = await Promise.all([1, 2, 3].map((i) => t.client({ sub: `flooder-${i}`, publish: ['chat-*'] })));
      const end = Date.now() + SECONDS * 1000;
      let n = 0;
      let published = 0;
      await Promise.all(
        clients.map(async (c) => {
          while (Date.now() < end) {
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
      console.log(
        `memory cap flood: ${published} messages of 60 KB (${((published * 60_000) / 2 ** 20).toFixed(0)} MiB) in ${SECONDS} s to new channels; RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> peak ${(peak / 2 ** 20).toFixed(0)} MiB (+${(grew / 2 ** 20).toFixed(0)} MiB, cap ${CAP / 2 ** 20} MiB)`,
      );
      // The flood must have been far larger than cap + margin for the bound to mean anything.
      expect(published * 60_000).toBeGreaterThan(CAP + MARGIN);
      expect(grew).toBeLessThan(CAP + MARGIN);

      const back = await t.client();
      const again = await back.subscribe('chat-early', { epoch: sub.epoch, offset: sub.offset });
      expect(again).toMatchObject({ type: 'subscribed', recovered: false });
    } finally {
      await t.close();
    }
  }, 120_000);
});
