/**
 * The benchmark plans: `quick` (one size, single and batch steps, idle memory at 10k) and `full`
 * (1k → 19.5k subscribers, rate steps to saturation, latency at half load, accept rate idle and
 * under load, hot channel, presence storm), run with the same steps against every target.
 */
import { MAX_PER_WORKER, WorkerPool } from './pool.js';
import { Publisher } from './publisher.js';
import {
  acceptRate,
  fanoutStep,
  idleMemory,
  openSpec,
  presenceStorm,
  refill,
  type AcceptResult,
  type Ctx,
  type MemoryResult,
  type PresenceResult,
  type StepOptions,
  type StepResult,
} from './scenarios.js';
import type { Target } from './targets.js';
import { slowConsumers, type SlowResult } from './slow.js';

export interface TargetResult {
  name: string;
  kind: Target['kind'];
  memory?: MemoryResult;
  /** Fanout steps: label is "single", "batch10" (raw floor also "batch10/2", "batch10/10": records per write). */
  steps: StepResult[];
  rateSteps: StepResult[];
  halfLoad?: StepResult;
  accept: AcceptResult[];
  hot?: StepResult;
  presence?: PresenceResult;
  slow?: SlowResult;
  errors: string[];
}

export interface PlanOptions {
  /** Connections for the idle-memory measurement. */
  idle: number;
  /** Subscriber counts for the fanout steps. */
  sizes: number[];
  full: boolean;
  log: (line: string) => void;
}

export const QUICK: Omit<PlanOptions, 'log'> = { idle: 10_000, sizes: [5000], full: false };
export const FULL: Omit<PlanOptions, 'log'> = { idle: 19_500, sizes: [1000, 5000, 10_000, 19_500], full: true };

/** About this many deliveries per step keeps each step a few seconds long at ~5–20 µs per message. */
const DELIVERIES_PER_STEP = 150_000;

function singleStep(size: number): Omit<StepOptions, 'channel' | 'label'> {
  const rate = Math.max(1, Math.min(50, Math.round(40_000 / size)));
  const requests = Math.max(8, Math.round(DELIVERIES_PER_STEP / size));
  return { subscribers: size, rate, requests, batch: 1 };
}

function batchStep(size: number, batch = 10): Omit<StepOptions, 'channel' | 'label'> {
  const requests = Math.max(2, Math.round((DELIVERIES_PER_STEP * 1.5) / (batch * size)));
  return { subscribers: size, rate: Math.max(1, Math.min(10, requests / 4)), requests, batch };
}

export function workersFor(connections: number): number {
  return Math.max(2, Math.ceil(connections / MAX_PER_WORKER), Math.ceil(connections / 6500));
}

async function withContext<T>(target: Target, workers: number, log: (l: string) => void, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  const pool = await WorkerPool.start(workers);
  const publisher = new Publisher(target.httpUrl, target.apiKey);
  try {
    return await fn({ target, pool, publisher, log });
  } finally {
    publisher.close();
    await pool.close().catch(() => {});
    await pool.stop();
  }
}

function stepLine(r: StepResult): string {
  const lat = `p50 ${r.latency.p50.toFixed(2)} ms, p99 ${r.latency.p99.toFixed(2)} ms, max ${r.latency.max.toFixed(1)} ms`;
  const closes = Object.keys(r.closes).length > 0 ? `, closes ${JSON.stringify(r.closes)}` : '';
  const miss = r.delivered < r.expected ? ` (${r.expected - r.delivered} missing)` : '';
  return `  ${r.label} @${r.subscribers}: ${r.usPerMsg.toFixed(2)} µs/msg, ${Math.round(r.deliveredPerSec)} msg/s delivered${miss}, ${lat}${closes}`;
}

/** Fanout steps on the `fan` channel at one size (the connections must be open). */
async function stepsAt(ctx: Ctx, size: number, res: TargetResult): Promise<void> {
  const run = async (o: StepOptions) => {
    const want = (await ctx.pool.stats()).open;
    const r = await fanoutStep(ctx, o);
    res.steps.push(r);
    ctx.log(stepLine(r));
    if (r.publishErrors > 0) res.errors.push(`${o.label}@${size}: ${r.publishErrors} publish errors, ${r.lastError}`);
    await refill(ctx, want, 'fan');
  };
  await run({ label: 'single', channel: 'fan', ...singleStep(size) });
  await run({ label: 'batch10', channel: 'fan', ...batchStep(size) });
  if (ctx.target.kind === 'raw') {
    await run({ label: 'batch10/2', channel: 'fan', coalesce: 2, ...batchStep(size) });
    await run({ label: 'batch10/10', channel: 'fan', coalesce: 10, ...batchStep(size) });
  }
}

/** Runs the plan against a target started by `start` (called again for each fresh instance). */
export async function runPlan(name: string, start: () => Promise<Target>, plan: PlanOptions): Promise<TargetResult> {
  const { log } = plan;
  let target = await start();
  const res: TargetResult = { name: target.name, kind: target.kind, steps: [], rateSteps: [], accept: [], errors: [] };
  log(`${target.name} (pid ${target.pid ?? 'remote'}):`);
  try {
    if (!plan.full) {
      // One instance: 10k idle (half on the fan channel), then the steps at 5k with the rest idle.
      const size = plan.sizes[0]!;
      await withContext(target, workersFor(plan.idle), log, async (ctx) => {
        res.memory = await idleMemory(ctx, [
          { group: 'fan', channel: 'fan', count: size },
          { group: 'idle', channel: 'idle-{i}', count: plan.idle - size },
        ]);
        res.accept.push({
          label: 'idle',
          connections: res.memory.open.ok,
          failed: res.memory.open.failed,
          perSecond: res.memory.open.perSecond,
          firstError: res.memory.open.firstError,
          handshake: res.memory.open.handshake,
        });
        log(
          `  idle: ${res.memory.connections} connections, ${(res.memory.rssPerConnBytes / 1024).toFixed(2)} KB RSS each (${(res.memory.rssSlopeBytes / 1024).toFixed(2)} KB marginal); accepted ${Math.round(res.memory.open.perSecond)}/s`,
        );
        await stepsAt(ctx, size, res);
      });
      return res;
    }

    // Full: a fresh instance holds plan.idle idle connections for the memory figure.
    await withContext(target, workersFor(plan.idle), log, async (ctx) => {
      res.memory = await idleMemory(ctx, [{ group: 'idle', channel: 'idle-{i}', count: plan.idle }]);
      log(
        `  idle: ${res.memory.connections} connections, ${(res.memory.rssPerConnBytes / 1024).toFixed(2)} KB RSS each (${(res.memory.rssSlopeBytes / 1024).toFixed(2)} KB marginal)`,
      );
    });
    await target.stop();
    target = await start();
    const maxSize = Math.max(...plan.sizes);
    await withContext(target, workersFor(maxSize), log, async (ctx) => {
      let open = 0;
      for (const size of plan.sizes) {
        const add = await ctx.pool.open(openSpec(target, 'fan', 'fan'), size - open);
        if (add.failed > 0) res.errors.push(`opening ${size}: ${add.failed} failed, ${add.firstError}`);
        open = size;
        await stepsAt(ctx, size, res);
        if (size === 5000) await fiveK(ctx, res);
      }
    });
    return res;
  } catch (err) {
    res.errors.push((err as Error).message);
    log(`  ${name} failed: ${(err as Error).message}`);
    return res;
  } finally {
    await target.stop();
  }
}

/** At 5k subscribers: rate steps to saturation, latency at half load, accept rates, hot channel, presence storm. */
async function fiveK(ctx: Ctx, res: TargetResult): Promise<void> {
  const size = 5000;
  const { log } = ctx;
  let best = 0;
  const want = (await ctx.pool.stats()).open;
  for (const rate of [4, 8, 16, 32, 64, 128]) {
    const r = await fanoutStep(ctx, {
      label: `rate ${rate}/s`,
      channel: 'fan',
      subscribers: size,
      rate,
      requests: rate * 3,
      batch: 1,
      stallMs: 3000,
    });
    res.rateSteps.push(r);
    log(stepLine(r));
    await refill(ctx, want, 'fan');
    const cut = Object.keys(r.closes).length > 0;
    if (r.deliveredPerSec < 0.9 * r.offeredPerSec || r.latency.p99 > 500 || cut) break;
    best = r.deliveredPerSec; // the highest rate sustained: everything delivered, p99 under 500 ms, nobody cut
  }
  if (best === 0) best = res.rateSteps[0]?.deliveredPerSec ?? size;
  const halfRate = Math.max(1, Math.round(best / 2 / size));
  const half: StepOptions = {
    label: `half load ${halfRate}/s`,
    channel: 'fan',
    subscribers: size,
    rate: halfRate,
    requests: halfRate * 5,
    batch: 1,
  };
  res.halfLoad = await fanoutStep(ctx, half);
  log(stepLine(res.halfLoad));

  const connector = await WorkerPool.start(2);
  const idle = await acceptRate(ctx, 2000, 'acc-idle', undefined, connector);
  res.accept.push(idle);
  await connector.close('acc-idle');
  const busy = await acceptRate(ctx, 2000, 'acc-busy', { ...half, label: `accept under ${halfRate}/s`, requests: halfRate * 6 }, connector);
  res.accept.push(busy);
  await connector.close();
  // The same fanout load for every server (8 msg/s to 5k = 40k deliveries/s), to compare servers.
  const common = await acceptRate(
    ctx,
    2000,
    'acc-common',
    { label: 'accept under 8/s', channel: 'fan', subscribers: size, rate: 8, requests: 48, batch: 1 },
    connector,
  );
  res.accept.push({ ...common, label: 'while fanning out 40k msg/s' });
  await connector.close();
  await connector.stop();
  log(
    `  accept: idle ${Math.round(idle.perSecond)}/s (${idle.usPerConn.toFixed(0)} µs server CPU each, handshake p50 ${idle.handshake?.p50.toFixed(1)} ms), ` +
      `while fanning out at half load ${Math.round(busy.perSecond)}/s (handshake p50 ${busy.handshake?.p50.toFixed(1)} ms, p99 ${busy.handshake?.p99.toFixed(1)} ms), ` +
      `at 40k msg/s ${Math.round(common.perSecond)}/s`,
  );

  await ctx.pool.open(openSpec(ctx.target, 'hot', 'hot'), 500);
  res.hot = await fanoutStep(ctx, {
    label: 'hot channel 300/s',
    channel: 'hot',
    subscribers: 500,
    rate: 300,
    requests: 900,
    batch: 1,
    maxInFlight: 32,
  });
  log(stepLine(res.hot));
  await ctx.pool.close('hot');

  if (ctx.target.kind !== 'raw' && ctx.target.name !== 'bare ws') {
    res.presence = await presenceStorm(ctx, 1000);
    const p = res.presence;
    log(
      `  presence storm: ${p.members} members in ${p.joinSeconds.toFixed(1)} s, ${p.presenceFrames}/${p.expectedFrames} join frames, ${p.usPerFrame.toFixed(2)} µs/frame`,
    );
    await ctx.pool.close('presence');
  }
  if (ctx.target.kind !== 'raw') {
    const s = (res.slow = await slowConsumers(ctx, 10, 10, 800));
    log(
      `  slow consumers: ${s.cut}/${s.stalled} stalled subscribers cut, readers got ${s.deliveredToReaders}/${s.expectedToReaders}, ` +
        `RSS ${(s.rssBeforeBytes / 1048576).toFixed(0)} → peak ${(s.rssPeakBytes / 1048576).toFixed(0)} MB, recovered ${s.recovered}`,
    );
  }
  await refill(ctx, want, 'fan');
}
