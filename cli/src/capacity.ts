/**
 * The capacity model of docs/capacity.md: from expected peak connections and delivered messages per
 * second to Fargate task size and count, cache node type and shards, with the arithmetic and the
 * monthly cost. Pure: every figure it uses is in `MODEL` (measured costs) and `PRICES` (us-east-1
 * on-demand, the prices of docs/deploy-aws.md).
 */

/** Measured costs (docs/capacity.md says where each comes from) and the headroom kept. */
export const MODEL = {
  /** CPU µs of one core per delivered single message (River, 5,000 subscribers, not batched: the dearer case). */
  usPerDelivery: 18,
  /** CPU µs per second per idle connection (heartbeats, timers). */
  usPerConnectionSecond: 0.5,
  /** Connections one River process has been measured holding (bench --full: 19,500 per node). */
  connectionsPerCore: 19_500,
  /** RSS per idle authenticated subscribed connection (KB) and the process's own (MB). */
  rssPerConnectionKB: 11,
  baseRssMB: 120,
  /** Share of a task's CPU and memory planned for (the rest absorbs bursts, GC, reconnection storms). */
  taskUtilisation: 0.6,
  memoryUtilisation: 0.75,
  /** Redis CPU µs per publish with history (bench/redis-throughput.ts), plus per further node subscribed. */
  redisUsPerPublish: 16.3,
  redisUsPerExtraNode: 1,
  /** Share of the Redis thread planned for. */
  redisUtilisation: 0.5,
  /** Bytes on the wire per delivered message (a ~150-byte frame and its WebSocket header). */
  bytesPerDelivery: 160,
  /** Average connection lifetime, for new connections per second at the load balancer. */
  connectionLifetimeSeconds: 3600,
} as const;

export const PRICES = {
  hoursPerMonth: 730,
  fargateVcpuHour: 0.04048,
  fargateGbHour: 0.004445,
  publicIpv4Hour: 0.005,
  albHour: 0.0225,
  lcuHour: 0.008,
  /** Internet data out per GB after the first 100 GB (first 10 TB tier). */
  dataOutGb: 0.09,
  freeDataOutGb: 100,
  /** Secrets Manager endpoint in 2 AZs, secrets, alarms, the custom metric, logs (docs/deploy-aws.md). */
  fixedMonthly: 14.6 + 1.38 + 0.4 + 0.3 + 0.5,
} as const;

/** Fargate sizes the model chooses from: CPU units, MiB. */
export const TASK_SIZES = [
  { cpu: 256, memory: 512 },
  { cpu: 512, memory: 1024 },
  { cpu: 1024, memory: 2048 },
  { cpu: 2048, memory: 4096 },
] as const;

/** Valkey node types (hourly, 20 % below Redis OSS) and the share of one core each sustains (burstable ones: their baseline). */
export const CACHE_NODES = [
  { type: 'cache.t4g.micro', hour: 0.0128, core: 0.1 },
  { type: 'cache.t4g.small', hour: 0.0256, core: 0.2 },
  { type: 'cache.t4g.medium', hour: 0.052, core: 0.2 },
  { type: 'cache.m7g.large', hour: 0.1264, core: 1 },
] as const;

export interface CapacityInput {
  connections: number;
  /** Messages delivered to clients per second, summed over every connection (each also counted as a publish: the dear case). */
  messagesPerSecond: number;
}

export interface CapacityProposal {
  taskCpu: number;
  taskMemory: number;
  /** Tasks the load needs plus one spare (a task lost, or a deploy, leaves the others within budget). */
  tasks: number;
  cacheMode: 'node' | 'serverless';
  cacheNodeType: string;
  shards: number;
  monthly: { item: string; calculation: string; dollars: number }[];
  monthlyTotal: number;
  /** The arithmetic, one line each, for the user. */
  lines: string[];
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;
const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 2 });
const usd = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

/** One core of a task: its vCPU up to 1 (one Node process); a second vCPU counts a quarter (GC threads, the kernel's share). */
export function usableCores(cpuUnits: number): number {
  const vcpu = cpuUnits / 1024;
  return vcpu <= 1 ? vcpu : 1 + 0.25 * (vcpu - 1);
}

interface Option {
  size: (typeof TASK_SIZES)[number];
  tasks: number;
  byCpu: number;
  byConnections: number;
  perTaskConnections: number;
  budgetUs: number;
  loadUs: number;
  redisUs: number;
  shards: number;
  node: (typeof CACHE_NODES)[number];
  fargate: number;
  ips: number;
  cache: number;
}

function option(input: CapacityInput, size: (typeof TASK_SIZES)[number]): Option {
  const cores = usableCores(size.cpu);
  const budgetUs = MODEL.taskUtilisation * cores * 1e6;
  const loadUs = input.connections * MODEL.usPerConnectionSecond + input.messagesPerSecond * MODEL.usPerDelivery;
  const byMemory = Math.floor(((size.memory * MODEL.memoryUtilisation - MODEL.baseRssMB) * 1024) / MODEL.rssPerConnectionKB);
  const perTaskConnections = Math.max(1, Math.min(byMemory, Math.floor(MODEL.connectionsPerCore * Math.min(cores, 1))));
  const byCpu = Math.ceil(loadUs / budgetUs);
  const byConnections = Math.ceil(input.connections / perTaskConnections);
  const tasks = Math.max(2, Math.max(byCpu, byConnections) + 1);
  // Every node may be subscribed to every channel: each publish is delivered to each of them.
  const redisUs = MODEL.redisUsPerPublish + MODEL.redisUsPerExtraNode * (tasks - 1);
  const redisCores = (input.messagesPerSecond * redisUs) / 1e6;
  const node = CACHE_NODES.find((n) => redisCores <= n.core * MODEL.redisUtilisation) ?? CACHE_NODES[CACHE_NODES.length - 1]!;
  const shards = Math.max(1, Math.ceil(redisCores / (node.core * MODEL.redisUtilisation)));
  const h = PRICES.hoursPerMonth;
  return {
    size,
    tasks,
    byCpu,
    byConnections,
    perTaskConnections,
    budgetUs,
    loadUs,
    redisUs,
    shards,
    node,
    fargate: tasks * ((size.cpu / 1024) * PRICES.fargateVcpuHour + (size.memory / 1024) * PRICES.fargateGbHour) * h,
    ips: tasks * PRICES.publicIpv4Hour * h,
    // Primary and replica per shard.
    cache: shards * 2 * node.hour * h,
  };
}

/** The cheapest deployment that carries the load within the model's headroom, with its arithmetic. */
export function proposeCapacity(input: CapacityInput): CapacityProposal {
  if (!(Number.isSafeInteger(input.connections) && input.connections > 0))
    throw new RangeError('connections must be a positive whole number');
  if (!(Number.isSafeInteger(input.messagesPerSecond) && input.messagesPerSecond >= 0))
    throw new RangeError('messagesPerSecond must be a whole number');
  const options = TASK_SIZES.map((s) => option(input, s));
  const best = options.reduce((a, b) => (b.fargate + b.ips + b.cache < a.fargate + a.ips + a.cache ? b : a));
  const { size, node } = best;
  const h = PRICES.hoursPerMonth;
  const C = input.connections;
  const M = input.messagesPerSecond;
  const bytesPerHour = M * MODEL.bytesPerDelivery * 3600;
  const lcus = Math.max(C / 3000, C / MODEL.connectionLifetimeSeconds / 25, bytesPerHour / 1e9);
  const dataGb = (M * MODEL.bytesPerDelivery * h * 3600) / 1e9;
  const vcpu = size.cpu / 1024;
  const gb = size.memory / 1024;
  const monthly = [
    {
      item: `Fargate, ${best.tasks} × ${vcpu} vCPU / ${gb} GB`,
      calculation: `${best.tasks} × (${vcpu} × $${PRICES.fargateVcpuHour} + ${gb} × $${PRICES.fargateGbHour})/h × ${h} h`,
      dollars: best.fargate,
    },
    { item: 'public IPv4, one per task', calculation: `${best.tasks} × $${PRICES.publicIpv4Hour}/h × ${h} h`, dollars: best.ips },
    {
      item: `ElastiCache Valkey, ${best.shards} shard(s) × 2 × ${node.type}`,
      calculation: `${best.shards} × 2 × $${node.hour}/h × ${h} h`,
      dollars: best.cache,
    },
    { item: 'Application Load Balancer', calculation: `$${PRICES.albHour}/h × ${h} h`, dollars: PRICES.albHour * h },
    {
      item: `ALB capacity, ${fmt(round(lcus))} LCU`,
      calculation: `max(${fmt(C)} conns / 3,000, ${fmt(round(C / MODEL.connectionLifetimeSeconds))} new/s / 25, ${fmt(round(bytesPerHour / 1e9))} GB/h) × $${PRICES.lcuHour}/h × ${h} h`,
      dollars: lcus * PRICES.lcuHour * h,
    },
    {
      item: 'data out to the internet',
      calculation: `(${fmt(round(dataGb, 0))} GB − ${PRICES.freeDataOutGb} GB free) × $${PRICES.dataOutGb}/GB`,
      dollars: Math.max(0, dataGb - PRICES.freeDataOutGb) * PRICES.dataOutGb,
    },
    { item: 'Secrets Manager, endpoint, alarms, metric, logs', calculation: 'fixed (docs/deploy-aws.md)', dollars: PRICES.fixedMonthly },
  ].map((r) => ({ ...r, dollars: round(r.dollars) }));
  const monthlyTotal = round(monthly.reduce((s, r) => s + r.dollars, 0));
  const cacheMode = best.shards > 1 ? 'serverless' : 'node';
  const lines = [
    `load: ${fmt(C)} connections × ${MODEL.usPerConnectionSecond} µs/s + ${fmt(M)} msg/s × ${MODEL.usPerDelivery} µs = ${fmt(round(best.loadUs / 1e6, 3))} core`,
    `per ${vcpu} vCPU task: ${MODEL.taskUtilisation * 100} % of ${round(usableCores(size.cpu), 2)} core = ${fmt(round(best.budgetUs / 1e6, 3))} core, and ${fmt(best.perTaskConnections)} connections (min of ${fmt(MODEL.connectionsPerCore)} per core and ${gb} GB × ${MODEL.memoryUtilisation * 100} % at ${MODEL.rssPerConnectionKB} KB each)`,
    `tasks: max(${best.byCpu} for CPU, ${best.byConnections} for connections) + 1 spare = ${best.tasks}`,
    `Redis: ${fmt(M)} publishes/s × (${MODEL.redisUsPerPublish} + ${MODEL.redisUsPerExtraNode} × ${best.tasks - 1} nodes) µs = ${fmt(round((M * best.redisUs) / 1e6, 3))} core; ${node.type} sustains ${node.core} core × ${MODEL.redisUtilisation * 100} % → ${best.shards} shard(s)`,
    ...options
      .filter((o) => o !== best)
      .map(
        (o) =>
          `(${o.size.cpu} CPU tasks: ${o.tasks} tasks, ${o.shards} × ${o.node.type}: ${usd(o.fargate + o.ips + o.cache)} for tasks and cache, against ${usd(best.fargate + best.ips + best.cache)})`,
      ),
    ...monthly.map((r) => `${r.item}: ${r.calculation} = ${usd(r.dollars)}`),
    `total: ${usd(monthlyTotal)} a month (us-east-1 on-demand)`,
  ];
  if (cacheMode === 'serverless')
    lines.push(
      `more than one shard: the template deploys one replication group, so the proposal is cache mode "serverless" (ElastiCache Serverless scales out by itself; priced per use, not in the total above: the node figure stands in for it)`,
    );
  return {
    taskCpu: size.cpu,
    taskMemory: size.memory,
    tasks: best.tasks,
    cacheMode,
    cacheNodeType: node.type,
    shards: best.shards,
    monthly,
    monthlyTotal,
    lines,
  };
}
