/**
 * Per-node CPU cost of routing per channel (River: a node SUBSCRIBEs only the channels its clients
 * use) versus all-to-all (the original River, Soketi, Reverb: every node PSUBSCRIBEs everything
 * and drops what it has no subscriber for), for 1,000 channels spread over 3 nodes: each node has
 * subscribers on ~1/3 of the channels. The same publish load (through the Redis bus's publish
 * script) runs in both modes; each node is its own process and reports its CPU time.
 *
 *   npx tsx bench/routing-cost.ts [--messages 60000] [--channels 1000] [--nodes 3]
 *
 * The node's receive path is the same in both modes (decode the envelope, look the channel up,
 * hand the frame to a no-op "hub"), so the difference is what routing makes each node receive.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const SELF = fileURLToPath(import.meta.url);
const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '60000' },
    channels: { type: 'string', default: '1000' },
    nodes: { type: 'string', default: '3' },
    // worker mode
    worker: { type: 'string' },
    mode: { type: 'string' },
    redis: { type: 'string' },
  },
});
const channelCount = Number(values.channels);
const nodeCount = Number(values.nodes);
const PREFIX = 'rbench';
const channels = Array.from({ length: channelCount }, (_, i) => `ch-${i}`);

/** all-to-all-json: as all-to-all, but every message is JSON-parsed before the local check, as receivers with a JSON envelope (Soketi, the original River) do. */
type Mode = 'per-channel' | 'all-to-all' | 'all-to-all-json';
type ToWorker = { t: 'start' } | { t: 'stop' };
type FromWorker =
  | { t: 'ready' }
  | { t: 'count'; received: number; local: number }
  | { t: 'cpu'; micros: number; received: number; local: number };

if (values.worker !== undefined) await worker(Number(values.worker), values.mode as Mode, values.redis!);
else await main();

async function worker(index: number, mode: Mode, url: string): Promise<void> {
  const { decodeEnvelope, RedisKeys } = await import('../server/src/engines/redis/redis-keys.js');
  const keys = new RedisKeys(PREFIX);
  const local = new Set(channels.filter((_, i) => i % nodeCount === index));
  const sub = new Redis(url);
  let received = 0;
  let delivered = 0;
  const hub = (frame: string) => {
    if (frame.length > 0) delivered++;
  };
  const onMessage = (name: string, payload: string) => {
    received++;
    if (mode === 'all-to-all-json') {
      const env = decodeEnvelope(payload);
      if (env === undefined || !local.has((JSON.parse(env.frame) as { channel: string }).channel)) return;
      hub(env.frame);
      return;
    }
    const channel = keys.channelOfLive(name);
    if (channel === undefined || !local.has(channel)) return; // all-to-all: most messages end here
    const env = decodeEnvelope(payload);
    if (env !== undefined) hub(env.frame);
  };
  if (mode === 'per-channel') {
    sub.on('message', onMessage);
    await sub.subscribe(...[...local].map((c) => keys.live(c)));
  } else {
    sub.on('pmessage', (_pattern: string, name: string, payload: string) => onMessage(name, payload));
    await sub.psubscribe(`${PREFIX}:*:live`);
  }
  let cpu0 = process.cpuUsage();
  const timer = setInterval(() => process.send!({ t: 'count', received, local: delivered } satisfies FromWorker), 100);
  process.on('message', (m: ToWorker) => {
    if (m.t === 'start') {
      received = 0;
      delivered = 0;
      cpu0 = process.cpuUsage();
    } else {
      const cpu = process.cpuUsage(cpu0);
      clearInterval(timer);
      process.send!({ t: 'cpu', micros: cpu.user + cpu.system, received, local: delivered } satisfies FromWorker, () => {
        sub.disconnect();
        process.exit(0);
      });
    }
  });
  process.send!({ t: 'ready' } satisfies FromWorker);
}

async function main(): Promise<void> {
  const { startRedis } = await import('../e2e/harness/redis.js');
  const { RedisBus } = await import('../server/src/engines/redis/redis-bus.js');
  const total = Number(values.messages);
  const redis = await startRedis();
  const admin = new Redis(redis.url);
  const redisCpu = async () => {
    const info = await admin.info('cpu');
    const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    return get('used_cpu_user') + get('used_cpu_sys');
  };
  const results: Record<string, unknown>[] = [];
  try {
    for (const mode of ['per-channel', 'all-to-all', 'all-to-all-json'] as Mode[]) {
      const last = new Map<number, { received: number; local: number }>();
      const cpus = new Map<number, { micros: number; received: number; local: number }>();
      const workers: ChildProcess[] = [];
      await Promise.all(
        Array.from({ length: nodeCount }, (_, i) => {
          const w = fork(
            SELF,
            ['--worker', String(i), '--mode', mode, '--redis', redis.url, '--channels', String(channelCount), '--nodes', String(nodeCount)],
            {
              execArgv: ['--import', 'tsx'],
            },
          );
          workers.push(w);
          return new Promise<void>((resolve) =>
            w.on('message', (m: FromWorker) => {
              if (m.t === 'ready') resolve();
              else if (m.t === 'count') last.set(i, m);
              else cpus.set(i, m);
            }),
          );
        }),
      );
      const bus = new RedisBus({ url: redis.url, prefix: PREFIX, historySize: 100, historyTtlSeconds: 300, idempotencyWindowMs: 0 });
      await bus.startPublishOnly();
      for (const w of workers) w.send({ t: 'start' } satisfies ToWorker);
      await new Promise((r) => setTimeout(r, 200));
      const r0 = await redisCpu();
      const t0 = performance.now();
      let next = 0;
      const data = { text: 'x'.repeat(60) };
      await Promise.all(
        Array.from({ length: 300 }, async () => {
          while (next < total) {
            const i = next++;
            await bus.publish({ channel: channels[(i * 7919) % channelCount]!, event: 'e', data });
          }
        }),
      );
      const expectLocal = total;
      const deadline = Date.now() + 120_000;
      while ([...last.values()].reduce((s, v) => s + v.local, 0) < expectLocal && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const seconds = (performance.now() - t0) / 1000;
      const rcpu = (await redisCpu()) - r0;
      await bus.close();
      for (const w of workers) w.send({ t: 'stop' } satisfies ToWorker);
      await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
      const perNode = [...cpus.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
      const meanMicros = perNode.reduce((s, v) => s + v.micros, 0) / perNode.length;
      results.push({
        mode,
        messages: total,
        seconds: Number(seconds.toFixed(2)),
        perNodeReceived: perNode.map((v) => v.received),
        perNodeDelivered: perNode.map((v) => v.local),
        perNodeCpuMs: perNode.map((v) => Math.round(v.micros / 1000)),
        nodeCpuMicrosPerPublishedMessage: Number((meanMicros / total).toFixed(2)),
        redisCpuMicrosPerMessage: Number(((rcpu * 1e6) / total).toFixed(2)),
      });
    }
    const [pc, a2a, a2aJson] = results as { nodeCpuMicrosPerPublishedMessage: number; redisCpuMicrosPerMessage: number }[];
    for (const r of results) console.log(JSON.stringify(r));
    console.log(
      JSON.stringify({
        nodeCpuRatioAllToAllOverPerChannel: Number(
          (a2a!.nodeCpuMicrosPerPublishedMessage / pc!.nodeCpuMicrosPerPublishedMessage).toFixed(2),
        ),
        nodeCpuRatioAllToAllJsonOverPerChannel: Number(
          (a2aJson!.nodeCpuMicrosPerPublishedMessage / pc!.nodeCpuMicrosPerPublishedMessage).toFixed(2),
        ),
        redisCpuRatioAllToAllOverPerChannel: Number((a2a!.redisCpuMicrosPerMessage / pc!.redisCpuMicrosPerMessage).toFixed(2)),
      }),
    );
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}
