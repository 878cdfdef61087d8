/**
 * How a 3-master Redis Cluster's publish throughput scales against one master's, measured one
 * master at a time, in one run.
 *
 *   npx tsx bench/redis-cluster-scaling.ts [--masters 3] [--messages 60000] [--publishers 3]
 *                                          [--channels 100] [--window 500] [--rounds 2]
 *
 * A cluster's throughput is what its busiest master can carry: with a core per master (one
 * ElastiCache node per shard), master k saturates at 1 s ÷ (its Redis CPU per publish) and carries
 * a share s_k of the publishes (its channels' share), so the cluster carries
 * min_k (1 s ÷ cpu_k) ÷ s_k publishes/s. This machine has two cores for the publishers and every
 * Redis, so it cannot saturate three masters at once; it can load one master at a time to the same
 * level as a 1-master cluster (the like-for-like base: every slot on one master, the same
 * per-channel script calls). Each round runs, back to back with the same publishers, window and
 * channel count (bench/redis-throughput.ts):
 *   - `--cluster 1`: one master, its net Redis CPU per publish (cpu_1) and publishes/s;
 *   - `--cluster N --master k` for every k: the whole load on master k of an N-master cluster
 *     (cpu_k, publishes/s);
 *   - `--cluster N`: the load spread as users spread it, for the channels' shares s_k and the
 *     busiest master's CPU at this machine's (lower) load.
 * and prints scaling = min_k (cpu_1 ÷ cpu_k) ÷ s_k: the N-master cluster's throughput in units of
 * one master's, each master on its own core. Equal per-master costs and even shares give N.
 * Prints a JSON line per round and a summary.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { clusterScaling } from './src/stats.js';

const { values } = parseArgs({
  options: {
    masters: { type: 'string', default: '3' },
    messages: { type: 'string', default: '60000' },
    publishers: { type: 'string', default: '3' },
    channels: { type: 'string', default: '100' },
    window: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '2' },
  },
});
const masters = Number(values.masters);
const rounds = Number(values.rounds);
if (!(Number.isInteger(masters) && masters >= 2 && Number.isInteger(rounds) && rounds >= 1)) {
  console.error(`--masters must be an integer of 2 or more and --rounds of 1 or more (got ${values.masters}, ${values.rounds})`);
  process.exit(2);
}

interface Run {
  publishedPerSecond: number;
  messagesPerScriptCall: number;
  redisBusiestMasterNetMicrosPerMessage: number;
  redisNetMicrosPerMessageByMaster: number[];
  channelsByMaster?: number[];
}

const script = fileURLToPath(new URL('./redis-throughput.ts', import.meta.url));
async function run(...extra: string[]): Promise<Run> {
  const common = [
    '--messages',
    values.messages,
    '--publishers',
    values.publishers,
    '--channels',
    values.channels,
    '--window',
    values.window,
  ];
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, script, ...common, ...extra], {
    maxBuffer: 1 << 20,
  });
  const line = stdout.trim().split('\n').at(-1)!;
  return JSON.parse(line) as Run;
}

const round = (n: number) => Number(n.toFixed(2));
const scalings: number[] = [];
for (let r = 1; r <= rounds; r++) {
  const one = await run('--cluster', '1');
  const each: Run[] = [];
  for (let k = 0; k < masters; k++) each.push(await run('--cluster', String(masters), '--master', String(k)));
  const spread = await run('--cluster', String(masters));
  const cpu1 = one.redisBusiestMasterNetMicrosPerMessage;
  // In a --master k run the loaded master is the busiest one.
  const cpuK = each.map((e) => e.redisBusiestMasterNetMicrosPerMessage);
  const counts = spread.channelsByMaster!;
  const total = counts.reduce((s, n) => s + n, 0);
  const shares = counts.map((n) => n / total);
  const scaling = clusterScaling(cpu1, cpuK, shares);
  scalings.push(scaling);
  console.log(
    JSON.stringify({
      round: r,
      oneMaster: { netMicrosPerPublish: cpu1, publishedPerSecond: one.publishedPerSecond, messagesPerCall: one.messagesPerScriptCall },
      eachMasterAlone: each.map((e, k) => ({
        master: k,
        netMicrosPerPublish: cpuK[k],
        publishedPerSecond: e.publishedPerSecond,
        messagesPerCall: e.messagesPerScriptCall,
      })),
      spread: {
        channelShares: shares.map(round),
        publishedPerSecond: spread.publishedPerSecond,
        messagesPerCall: spread.messagesPerScriptCall,
        busiestMasterNetMicrosPerPublish: spread.redisBusiestMasterNetMicrosPerMessage,
        // The old measure: one master's CPU per publish over the busiest master's, at this machine's load.
        busiestMasterRatio: round(cpu1 / spread.redisBusiestMasterNetMicrosPerMessage),
      },
      perMasterCostRatio: cpuK.map((c) => round(c / cpu1)),
      scaling: round(scaling),
    }),
  );
}
console.log(
  `${masters} masters against 1, each master on its own core: ${scalings.map((s) => `${s.toFixed(2)} ×`).join(', ')} ` +
    `(${rounds} rounds; ${values.messages} publishes, ${values.publishers} publishers, ${values.channels} channels, ${values.window} in flight each)`,
);
