/**
 * Past saturation: some subscribers stop reading while a channel is flooded with large messages.
 * River must cut them (4003 slow_consumer) once their outgoing buffer passes maxBufferedBytes, keep
 * its memory bounded, keep serving the others, and serve normally once the flood stops. A server
 * without backpressure buffers the flood for every stalled socket instead.
 */
import { paced } from './publisher.js';
import { sampleProcess } from './proc.js';
import { openSpec, type Ctx } from './scenarios.js';

export interface SlowResult {
  subscribers: number;
  stalled: number;
  /** Messages published (each ~5 KB). */
  published: number;
  /** Messages the reading subscribers received / should have received. */
  deliveredToReaders: number;
  expectedToReaders: number;
  /** Stalled subscribers the server closed (by any means: their 4003 close frame sits behind the unsent backlog). */
  cut: number;
  /** Of those, how many saw the 4003 close frame. */
  saw4003: number;
  /** River's own count (river_closes_total{reason="slow_consumer"}), when it has /metrics. */
  serverSlowCloses?: number;
  rssBeforeBytes: number;
  rssPeakBytes: number;
  rssAfterBytes: number;
  /** After the flood: a publish reached every reading subscriber again. */
  recovered: boolean;
  cpuMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function slowCloses(url: string | undefined): Promise<number | undefined> {
  if (!url) return undefined;
  try {
    const text = await (await fetch(url)).text();
    const m = /^river_closes_total\{[^}]*reason="slow_consumer"[^}]*\}\s+(\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return undefined;
  }
}

export async function slowConsumers(ctx: Ctx, readers = 80, stalled = 20, batches = 80): Promise<SlowResult> {
  const { pool, publisher, target } = ctx;
  const pid = target.pid;
  const rss = () => (pid === undefined ? NaN : sampleProcess(pid).rssBytes);
  await pool.open(openSpec(target, 'slow-readers', 'flood'), readers);
  await pool.open(openSpec(target, 'slow-stalled', 'flood'), stalled);
  await pool.pause('slow-stalled', true);
  await pool.reset();
  publisher.ok = 0;
  const rssBefore = rss();
  const cpu0 = pid === undefined ? NaN : sampleProcess(pid).cpuMs;
  let peak = rssBefore;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rss());
  }, 50);
  const pad = 'x'.repeat(5000);
  try {
    await paced(batches, 50, () => publisher.batch('flood', 10, undefined, pad), 4);
    const expected = publisher.ok * 10 * readers;
    const { stats: s } = await pool.settle((x) => x.messages, expected, 5000, 200);
    const delivered = Math.min(s.messages, expected);
    // Let the stalled sockets read again: they get what the kernel held, then the close frame.
    await pool.pause('slow-stalled', false);
    await sleep(3000);
    const after = await pool.stats();
    const cut = after.dropped;
    const saw4003 = after.closes['4003'] ?? 0;
    const serverSlowCloses = await slowCloses(target.metricsUrl);
    await sleep(2000);
    const rssAfter = rss();
    // Recovery: one more message reaches every reader.
    await pool.reset();
    publisher.ok = 0;
    await publisher.publish('flood');
    const want = publisher.ok * readers;
    let r = await pool.stats();
    for (let i = 0; i < 50 && r.messages < want; i++) {
      await sleep(100);
      r = await pool.stats();
    }
    const cpuMs = pid === undefined ? NaN : sampleProcess(pid).cpuMs - cpu0;
    return {
      subscribers: readers + stalled,
      stalled,
      published: batches * 10,
      deliveredToReaders: delivered,
      expectedToReaders: expected,
      cut,
      saw4003,
      ...(serverSlowCloses !== undefined ? { serverSlowCloses } : {}),
      rssBeforeBytes: rssBefore,
      rssPeakBytes: peak,
      rssAfterBytes: rssAfter,
      recovered: want > 0 && r.messages >= want,
      cpuMs,
    };
  } finally {
    clearInterval(sampler);
    await pool.close('slow-readers');
    await pool.close('slow-stalled');
  }
}
