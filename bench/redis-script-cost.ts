/**
 * Where a publish's Redis CPU goes: the publish script (one message per call, and batches of 4 and
 * 16 messages of one channel, and of 16 messages over 16 channels, as the bus sends the publishes
 * of one event-loop turn), an empty script with the same arguments, plain commands and PING, each
 * timed by Redis's own CPU accounting (INFO cpu) over the same number of messages, pipelined, with
 * a subscriber on every live channel. Ratios against PING and the one-message call are what matter
 * (the machine is shared).
 *
 *   npx tsx bench/redis-script-cost.ts [--calls 50000] [--channels 100]
 */
import { Redis } from 'ioredis';
import { parseArgs } from 'node:util';
import { startRedis } from '../e2e/harness/redis.js';
import { PUBLISH_SCRIPT } from '../server/src/engines/redis/redis-scripts.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '50000' }, channels: { type: 'string', default: '100' } } });
const calls = Number(values.calls);
const channels = Number(values.channels);

async function cpu(r: Redis): Promise<number> {
  const info = await r.info('cpu');
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return get('used_cpu_user') + get('used_cpu_sys');
}

/** Batches: [messages per call, channels per call]. */
const batches: [string, number, number][] = [
  ['script, 1 per call', 1, 1],
  ['script, 4 per call', 4, 1],
  ['script, 16 per call', 16, 1],
  ['script, 16 over 16 ch', 16, 16],
];
const redis = await startRedis();
const admin = new Redis(redis.url);
const cmd = new Redis(redis.url, { enableAutoPipelining: true });
const sub = new Redis(redis.url);
const frameHead = `{"type":"message","channel":"bench-0","event":"e","data":{"text":"${'x'.repeat(60)}","n":1},"offset":`;
try {
  await sub.subscribe(...Array.from({ length: channels }, (_, i) => `live:{bench-${i}}`));
  let received = 0;
  sub.on('message', () => void received++);
  const results: Record<string, number> = {};
  /** Runs `calls` messages, `perCall` per call; prints the Redis CPU per message. */
  const run = async (name: string, one: (i: number) => Promise<unknown>, perCall = 1) => {
    for (let i = 0; i < 2000; i += perCall) await one(i); // warm-up
    await admin.flushall().catch(() => undefined);
    const c0 = await cpu(admin);
    const window = Math.max(1, Math.round(200 / perCall));
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < calls) {
          const i = next;
          next += perCall;
          await one(i);
        }
      }),
    );
    const us = (((await cpu(admin)) - c0) * 1e6) / calls;
    results[name] = Number(us.toFixed(2));
    console.log(`${name.padEnd(26)} ${us.toFixed(2)} µs Redis CPU per message`);
  };
  await run('PING', () => cmd.ping());
  await run('PUBLISH only', (i) => cmd.publish(`live:{bench-${i % channels}}`, `m${i}:e:1:0:${frameHead}${i},"ts":1}`));
  const sha = (await admin.script('LOAD', PUBLISH_SCRIPT)) as string;
  const emptySha = (await admin.script('LOAD', 'return {}')) as string;
  /** The bus's call for messages i … i+n-1 over `ch` channels (redis-publish.ts builds the same). */
  const call = (s: string, i: number, n: number, ch: number) => {
    const names = Array.from({ length: ch }, (_, c) => `bench-${(i + c) % channels}`);
    const args: (string | number)[] = [2 * ch, ...names.flatMap((c) => [`m:{${c}}`, `s:{${c}}`])];
    args.push('PUBLISH', 100, 300, 0, ch, ...names.map(() => 'ep'));
    for (let m = 0; m < n; m++) {
      const c = (m % ch) + 1;
      args.push(m >= n - ch ? -c : c, 0, frameHead, ',"ts":1}', '1:0:');
    }
    return cmd.evalsha(s, ...(args as [number, ...(string | number)[]]));
  };
  for (const [name, n, ch] of batches) {
    await run(name, (i) => call(sha, i, n, ch), n);
  }
  // What each channel of a batch costs besides its messages: the script without its TTL refreshes, 16 messages
  // over 16 channels.
  const variants: Record<string, string> = {
    'no EXPIREs': PUBLISH_SCRIPT.replace(/ *redis\.call\('EXPIRE'[^\n]*\n/g, ''),
  };
  for (const [name, lua] of Object.entries(variants)) {
    if (lua === PUBLISH_SCRIPT) throw new Error(`variant "${name}" changed nothing`);
    const vsha = (await admin.script('LOAD', lua)) as string;
    await run(`16 over 16 ch, ${name}`, (i) => call(vsha, i, 16, 16), 16);
  }
  await run('empty script, 1 per call', (i) => call(emptySha, i, 1, 1));
  await run('empty script, 16 per call', (i) => call(emptySha, i, 16, 1), 16);
  console.log(JSON.stringify({ calls, channels, received, usRedisCpuPerMessage: results }));
} finally {
  cmd.disconnect();
  sub.disconnect();
  admin.disconnect();
  await redis.stop();
}
