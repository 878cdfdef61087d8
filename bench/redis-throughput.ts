/**
 * Messages per second through one Redis (or a Redis Cluster) through the Redis bus (the real
 * publish script: idempotency check, epoch, offset, XADD with MAXLEN, EXPIREs, PUBLISH), with
 * ioredis auto-pipelining and a window of publishes in flight. A second bus is subscribed to every
 * channel and counts deliveries, so the figure includes live delivery.
 *
 *   npx tsx bench/redis-throughput.ts [--messages 100000] [--channels 100] [--window 500]
 *                                     [--publishers 1] [--cluster 0] [--master K] [--bus-from DIR]
 *
 * --publishers K runs K publisher processes (each its own bus, messages / K each) against the same
 * Redis; --cluster N starts an N-master Redis Cluster (e2e/harness/redis.ts) instead of one Redis, and
 * reports each master's share of the Redis CPU; with --master K (0-based, in port order) every channel
 * is one that master serves (the first --channels names `bench-<i>` whose slot it holds), so the
 * whole load goes to one master of the cluster (bench/redis-cluster-scaling.ts). --bus-from DIR takes the bus from a built server
 * (`DIR/engines/redis/redis-bus.js`, e.g. a copy of an older `server/dist` with a `node_modules`
 * link to the repo's) to compare two versions in one run. Starts its own redis-server(s). Prints
 * one JSON line.
 * Redis CPU comes from INFO cpu (used_cpu_user + used_cpu_sys), summed over masters; the net figures
 * subtract what each master spent idle over 2 s before the run, scaled to the run's length.
 * messagesPerScriptCall shows how much the bus batched (redis-publish.ts). --commandstats also
 * prints Redis's time inside each command per publish (INFO commandstats, reset at the start).
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis, startRedisCluster } from '../e2e/harness/redis.js';
import type { RedisBus, RedisBusOptions } from '../server/src/engines/redis/redis-bus.js';
import { RedisKeys } from '../server/src/engines/redis/redis-keys.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    channels: { type: 'string', default: '100' },
    window: { type: 'string', default: '500' },
    idempotency: { type: 'boolean', default: false },
    publishers: { type: 'string', default: '1' },
    cluster: { type: 'string', default: '0' },
    master: { type: 'string' },
    'bus-from': { type: 'string' },
    commandstats: { type: 'boolean', default: false },
    // Internal: this process is one of the publishers (--child URL, --offset, --cluster-mode).
    child: { type: 'string' },
    offset: { type: 'string', default: '0' },
    names: { type: 'string' },
  },
});
const busFrom = values['bus-from'];
const { RedisBus: Bus } = (await import(
  busFrom === undefined ? '../server/src/engines/redis/redis-bus.js' : pathToFileURL(resolve(busFrom, 'engines/redis/redis-bus.js')).href
)) as { RedisBus: typeof RedisBus };
const total = Number(values.messages);
const channelCount = Number(values.channels);
const windowSize = Number(values.window);
const PREFIX = 'bench';
// --master K needs a cluster of more than K masters; checked before any Redis is started.
if (values.master !== undefined && values.child === undefined) {
  const k = Number(values.master);
  const n = Number(values.cluster);
  if (!(Number.isInteger(k) && k >= 0 && k < n)) {
    console.error(`--master ${values.master}: give a master index from 0 to N - 1 of a --cluster N run (--cluster is ${values.cluster})`);
    process.exit(2);
  }
}
// The channels: `bench-<i>`, or (a publisher of a --master run) the names its parent chose.
let channels = values.names?.split(',') ?? Array.from({ length: channelCount }, (_, i) => `bench-${i}`);
const busOpts = (url: string, cluster: boolean): RedisBusOptions => ({
  url,
  cluster,
  prefix: PREFIX,
  historySize: 100,
  historyTtlSeconds: 300,
  idempotencyWindowMs: 300_000,
});
const data = { text: 'x'.repeat(60), n: 0 }; // ~100-byte frames

/** Publishes `count` messages from `from` with a window in flight; resolves when all are acknowledged. */
async function publishAll(bus: RedisBus, from: number, count: number): Promise<void> {
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) {
      const i = next++;
      await bus.publish({
        channel: channels[i % channelCount]!,
        event: 'e',
        data: { ...data, n: i },
        ...(values.idempotency ? { idempotencyKey: `k${i}` } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: windowSize }, worker));
}

if (values.child !== undefined) {
  // A publisher process: warm up, say ready, publish on "go", report, exit.
  const bus = new Bus(busOpts(values.child, Number(values.cluster) > 0));
  await bus.start({ message: () => undefined, control: () => 0 });
  await publishAll(bus, 1_000_000_000 + Number(values.offset) * 10_000, 500);
  process.send!({ ready: true });
  process.once('message', async () => {
    const cpu0 = process.cpuUsage();
    await publishAll(bus, Number(values.offset), total);
    const cpu = process.cpuUsage(cpu0);
    process.send!({ done: true, cpuMicros: cpu.user + cpu.system });
    await bus.close();
    process.exit(0);
  });
} else {
  await main();
}

async function main(): Promise<void> {
  const masters = Number(values.cluster);
  const publishers = Math.max(1, Number(values.publishers));
  const redis = masters > 0 ? await startRedisCluster(masters) : await startRedis();
  const ports = 'ports' in redis ? redis.ports : [redis.port];
  const admins = ports.map((p) => new Redis({ host: '127.0.0.1', port: p }));
  const cpuOf = async (r: Redis) => {
    const info = await r.info('cpu');
    const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
    return get('used_cpu_user') + get('used_cpu_sys');
  };
  const cpus = () => Promise.all(admins.map(cpuOf));
  /** Script calls (EVALSHA, EVAL) over all masters: messages per call shows the batching. */
  const scriptCalls = async () => {
    let n = 0;
    for (const a of admins)
      for (const m of (await a.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
    return n;
  };
  const subscriber = new Bus(busOpts(redis.url, masters > 0));
  let delivered = 0;
  const children: ReturnType<typeof fork>[] = [];
  try {
    if (values.master !== undefined) channels = await channelsOf(admins, ports, Number(values.master));
    await subscriber.start({ message: () => void delivered++, control: () => 0 });
    await Promise.all(channels.map((c) => subscriber.subscribe(c)));
    const memOf = async () =>
      (await Promise.all(admins.map(async (a) => Number(/used_memory:(\d+)/.exec(await a.info('memory'))?.[1] ?? 0)))).reduce(
        (s, n) => s + n,
        0,
      );
    const mem0 = await memOf();
    // What the Redis servers spend idle (cron, cluster bus), per master, over 2 s: subtracted for
    // the net figure, as it does not grow with publishes and weighs on slow runs.
    const idle0 = await cpus();
    await new Promise((r) => setTimeout(r, 2000));
    const idleRate = (await cpus()).map((c, i) => (c - idle0[i]!) / 2);
    const per = Math.floor(total / publishers);
    for (let k = 0; k < publishers; k++) {
      children.push(
        fork(
          new URL(import.meta.url).pathname,
          [
            '--child',
            redis.url,
            '--messages',
            String(per),
            '--offset',
            String(k * per),
            '--channels',
            String(channelCount),
            '--window',
            String(windowSize),
            '--cluster',
            String(masters),
            ...(values.idempotency ? ['--idempotency'] : []),
            ...(values.master !== undefined ? ['--names', channels.join(',')] : []),
            ...(busFrom !== undefined ? ['--bus-from', busFrom] : []),
          ],
          {
            execArgv: process.execArgv,
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          },
        ),
      );
    }
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.once('message', () => resolve()))));
    const warm = publishers * 500;
    while (delivered < warm) await new Promise((r) => setTimeout(r, 5));
    delivered = 0;
    const rcpu0 = await cpus();
    if (values.commandstats) await Promise.all(admins.map((a) => a.config('RESETSTAT')));
    const calls0 = await scriptCalls();
    const t0 = performance.now();
    const done = children.map(
      (c) => new Promise<number>((resolve) => c.once('message', (m: { cpuMicros: number }) => resolve(m.cpuMicros))),
    );
    for (const c of children) c.send('go');
    const nodeCpu = (await Promise.all(done)).reduce((s, n) => s + n, 0);
    const tPublished = performance.now();
    const sent = per * publishers;
    while (delivered < sent) await new Promise((r) => setTimeout(r, 1));
    const tDelivered = performance.now();
    const rcpu = (await cpus()).map((c, i) => c - rcpu0[i]!);
    const calls = (await scriptCalls()) - calls0;
    const rcpuSum = rcpu.reduce((s, n) => s + n, 0);
    const seconds = (tDelivered - t0) / 1000;
    const net = rcpu.map((c, i) => Math.max(0, c - idleRate[i]! * seconds));
    const netSum = net.reduce((s, n) => s + n, 0);
    const mem = await memOf();
    const byMaster = masters > 0 ? await channelsByMaster(admins, ports) : undefined;
    if (values.commandstats) {
      // Redis's time inside each command (a script's inner calls count in both), µs per publish.
      const usec = new Map<string, number>();
      for (const a of admins) {
        for (const m of (await a.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
          usec.set(m[1]!, (usec.get(m[1]!) ?? 0) + Number(m[3]));
        }
      }
      const perPublish = Object.fromEntries([...usec].map(([k, v]) => [k, Number((v / sent).toFixed(2))]));
      console.log(JSON.stringify({ commandUsecPerPublish: perPublish }));
    }
    console.log(
      JSON.stringify({
        bus: busFrom ?? 'server/src',
        messages: sent,
        channels: channelCount,
        window: windowSize,
        publishers,
        masters: Math.max(1, masters),
        ...(values.master !== undefined ? { onlyMaster: Number(values.master) } : {}),
        ...(byMaster !== undefined ? { channelsByMaster: byMaster } : {}),
        idempotencyKeys: values.idempotency,
        publishedPerSecond: Math.round(sent / ((tPublished - t0) / 1000)),
        deliveredPerSecond: Math.round(sent / ((tDelivered - t0) / 1000)),
        redisCpuMicrosPerMessage: Number(((rcpuSum * 1e6) / sent).toFixed(2)),
        messagesPerScriptCall: Number((sent / calls).toFixed(2)),
        redisNetCpuMicrosPerMessage: Number(((netSum * 1e6) / sent).toFixed(2)),
        redisBusiestMasterNetMicrosPerMessage: Number(((Math.max(...net) * 1e6) / sent).toFixed(2)),
        redisIdleCpuSecondsPerSecond: idleRate.map((c) => Number(c.toFixed(4))),
        redisCpuShareByMaster: rcpu.map((c) => Number((c / rcpuSum).toFixed(3))),
        redisNetMicrosPerMessageByMaster: net.map((c) => Number(((c * 1e6) / sent).toFixed(2))),
        redisBusiestMasterCpuSecondsPerSecond: Number((Math.max(...rcpu) / ((tDelivered - t0) / 1000)).toFixed(3)),
        nodeCpuMicrosPerMessage: Number((nodeCpu / sent).toFixed(2)),
        redisBytesPerChannelWithFullHistory: sent >= channelCount * 100 ? Math.round((mem - mem0) / channelCount) : null,
      }),
    );
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
    await subscriber.close();
    for (const a of admins) a.disconnect();
    await redis.stop();
  }
}

/** Which master (index into `ports`) serves each channel's slot, from CLUSTER SLOTS and CLUSTER KEYSLOT. */
async function slotMap(admin: Redis, ports: number[]): Promise<(name: string) => Promise<number>> {
  // Each entry: first slot, last slot, then the master's [host, port, id, …] and its replicas'.
  const ranges = (await admin.cluster('SLOTS')).map(([from, to, master]) => [from, to, ports.indexOf(Number(master?.[1]))] as const);
  const keys = new RedisKeys(PREFIX);
  return async (name) => {
    const slot = Number(await admin.cluster('KEYSLOT', keys.meta(name)));
    return ranges.find(([from, to]) => slot >= from && slot <= to)?.[2] ?? -1;
  };
}

/** The first `channelCount` names `bench-<i>` that the master on `ports[master]` serves. */
async function channelsOf(admins: Redis[], ports: number[], master: number): Promise<string[]> {
  const masterOf = await slotMap(admins[0]!, ports);
  const out: string[] = [];
  for (let i = 0; out.length < channelCount; i++) if ((await masterOf(`bench-${i}`)) === master) out.push(`bench-${i}`);
  return out;
}

/** How many of the channels each master serves (a cluster run's expected shares of the load). */
async function channelsByMaster(admins: Redis[], ports: number[]): Promise<number[]> {
  const masterOf = await slotMap(admins[0]!, ports);
  const counts = ports.map(() => 0);
  for (const c of channels) counts[await masterOf(c)]!++;
  return counts;
}
