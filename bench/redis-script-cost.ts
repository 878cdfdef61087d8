/**
 * Where a publish's Redis CPU goes: the publish script and variants of it (without trimming, without
 * the EXPIREs, without PUBLISH, approximate trimming), plain commands and PING, each timed by Redis's
 * own CPU accounting (INFO cpu) over the same number of calls, pipelined, with a subscriber on every
 * live channel. Ratios against PING and the full script are what matter (the machine is shared).
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

const variants: Record<string, string> = {
  script: PUBLISH_SCRIPT,
  'script, MAXLEN ~': PUBLISH_SCRIPT.replace(/'MAXLEN', size/g, "'MAXLEN', '~', size"),
  'script, no EXPIRE': PUBLISH_SCRIPT.replace(/redis\.call\('EXPIRE'[^\n]*\n/g, ''),
  'script, no PUBLISH': PUBLISH_SCRIPT.replace(/redis\.call\(ARGV\[1\][^\n]*\n/, ''),
  'script, no XADD': PUBLISH_SCRIPT.replace(/redis\.call\('XADD'[^\n]*\n/g, ''),
  'script, empty': 'return {1, ARGV[9], 0}',
};
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
  const run = async (name: string, one: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < 2000; i++) await one(i); // warm-up
    await admin.flushall().catch(() => undefined);
    const c0 = await cpu(admin);
    const window = 200;
    let next = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (next < calls) await one(next++);
      }),
    );
    const us = (((await cpu(admin)) - c0) * 1e6) / calls;
    results[name] = Number(us.toFixed(2));
    console.log(`${name.padEnd(22)} ${us.toFixed(2)} µs Redis CPU per call`);
  };
  await run('PING', () => cmd.ping());
  await run('PUBLISH only', (i) => cmd.publish(`live:{bench-${i % channels}}`, `m${i}:e:1:0:${frameHead}${i},"ts":1}`));
  for (const [name, lua] of Object.entries(variants)) {
    const sha = (await admin.script('LOAD', lua)) as string;
    await run(name, (i) => {
      const c = `bench-${i % channels}`;
      return cmd.evalsha(
        sha,
        3,
        `m:{${c}}`,
        `s:{${c}}`,
        `m:{${c}}`,
        'PUBLISH',
        `live:{${c}}`,
        frameHead,
        ',"ts":1}',
        '1:0:',
        100,
        300,
        0,
        'ep',
        1,
        '',
      );
    });
  }
  console.log(JSON.stringify({ calls, channels, received, usRedisCpuPerCall: results }));
} finally {
  cmd.disconnect();
  sub.disconnect();
  admin.disconnect();
  await redis.stop();
}
