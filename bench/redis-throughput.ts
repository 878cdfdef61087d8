/**
 * Messages per second through one Redis from one publisher, through the Redis bus (the real
 * publish script: idempotency check, epoch, offset, XADD with MAXLEN, EXPIREs, PUBLISH), with
 * ioredis auto-pipelining and a window of publishes in flight. A second bus in the same process
 * is subscribed to every channel and counts deliveries, so the figure includes live delivery.
 *
 *   npx tsx bench/redis-throughput.ts [--messages 100000] [--channels 100] [--window 500]
 *
 * Starts its own redis-server (e2e/harness/redis.ts). Prints one JSON line.
 */
import { Redis } from 'ioredis';
import { parseArgs } from 'node:util';
import { startRedis } from '../e2e/harness/redis.js';
import { RedisBus } from '../server/src/engines/redis/redis-bus.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    channels: { type: 'string', default: '100' },
    window: { type: 'string', default: '500' },
    idempotency: { type: 'boolean', default: false },
  },
});
const total = Number(values.messages);
const channelCount = Number(values.channels);
const windowSize = Number(values.window);

async function redisCpuSeconds(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

const redis = await startRedis();
const admin = new Redis(redis.url);
const opts = { url: redis.url, prefix: 'bench', historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 300_000 };
const publisher = new RedisBus(opts);
const subscriber = new RedisBus(opts);
let delivered = 0;
try {
  await publisher.start({ message: () => undefined, control: () => 0 });
  await subscriber.start({ message: () => void delivered++, control: () => 0 });
  const channels = Array.from({ length: channelCount }, (_, i) => `bench-${i}`);
  await Promise.all(channels.map((c) => subscriber.subscribe(c)));
  const mem0 = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? 0);
  const data = { text: 'x'.repeat(60), n: 0 }; // ~100-byte frames

  // Warm-up (script load, JIT).
  await Promise.all(
    Array.from({ length: 2000 }, (_, i) => publisher.publish({ channel: channels[i % channelCount]!, event: 'warm', data })),
  );
  while (delivered < 2000) await new Promise((r) => setTimeout(r, 5));
  delivered = 0;

  const cpu0 = process.cpuUsage();
  const rcpu0 = await redisCpuSeconds(admin);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await publisher.publish({
        channel: channels[i % channelCount]!,
        event: 'e',
        data: { ...data, n: i },
        ...(values.idempotency ? { idempotencyKey: `k${i}` } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: windowSize }, worker));
  const tPublished = performance.now();
  while (delivered < total) await new Promise((r) => setTimeout(r, 1));
  const tDelivered = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const rcpu = (await redisCpuSeconds(admin)) - rcpu0;
  // Every channel now holds a full history (historySize messages): Redis memory per channel.
  const mem = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? 0);
  console.log(
    JSON.stringify({
      messages: total,
      channels: channelCount,
      window: windowSize,
      idempotencyKeys: values.idempotency,
      publishedPerSecond: Math.round(total / ((tPublished - t0) / 1000)),
      deliveredPerSecond: Math.round(total / ((tDelivered - t0) / 1000)),
      redisCpuMicrosPerMessage: Number(((rcpu * 1e6) / total).toFixed(2)),
      nodeCpuMicrosPerMessage: Number(((cpu.user + cpu.system) / total).toFixed(2)),
      redisBytesPerChannelWithFullHistory: total >= channelCount * opts.historySize ? Math.round((mem - mem0) / channelCount) : null,
    }),
  );
} finally {
  await publisher.close();
  await subscriber.close();
  admin.disconnect();
  await redis.stop();
}
