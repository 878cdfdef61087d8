/**
 * The measurements, each a small function over (target, pool, publisher): a fanout step, idle memory,
 * accept rate, presence storm. CPU comes from the target process's own accounting (/proc), so the
 * generator's cost never shows up in a server figure.
 */
import { LOOPBACK_SOURCES, type WorkerPool, type OpenTotals } from './pool.js';
import { sampleProcess, type ProcSample } from './proc.js';
import { paced, type Publisher } from './publisher.js';
import { summarize, usPerMessage, type LatencySummary } from './stats.js';
import { heapUsed, type Target } from './targets.js';
import type { OpenSpec } from './worker-protocol.js';

export interface Ctx {
  target: Target;
  pool: WorkerPool;
  publisher: Publisher;
  /** Print progress lines. */
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sample(target: Target): ProcSample | undefined {
  return target.pid === undefined ? undefined : sampleProcess(target.pid);
}

/** Spec for `pool.open` against a target. */
export function openSpec(target: Target, group: string, channel: string, concurrency = 200): Omit<OpenSpec, 'count' | 'firstIndex'> {
  const loopback = target.host === '127.0.0.1' || target.host === 'localhost';
  return {
    group,
    target: { kind: target.kind, host: target.host, port: target.port, tls: target.tls, path: target.wsPath, timeoutMs: 30_000 },
    channel,
    concurrency,
    auth: target.token !== undefined ? { token: target.token } : { secret: target.secret, subPrefix: `u-${group}-` },
    localAddresses: loopback ? LOOPBACK_SOURCES : [],
  };
}

export interface StepResult {
  label: string;
  subscribers: number;
  /** Messages accepted by the API (a batch counts its messages). */
  published: number;
  expected: number;
  delivered: number;
  /** Server CPU over the step, ms (NaN for a remote target). */
  cpuMs: number;
  usPerMsg: number;
  /** The load generator's own CPU (all workers) per delivered message. */
  generatorUsPerMsg: number;
  /** Delivered messages per second over the step. */
  deliveredPerSec: number;
  /** Offered deliveries per second (publish rate × batch × subscribers). */
  offeredPerSec: number;
  latency: LatencySummary;
  /** Connections closed by the server during the step, by close code. */
  closes: Record<string, number>;
  publishErrors: number;
  lastError: string;
}

export interface StepOptions {
  label: string;
  channel: string;
  subscribers: number;
  /** Publish requests to send. */
  requests: number;
  /** Requests per second. */
  rate: number;
  /** Messages per request: 1 uses /v1/publish, more uses /v1/batch. */
  batch: number;
  /** Raw floor only: records per write for batches. */
  coalesce?: number;
  maxInFlight?: number;
  /** Give up waiting for deliveries after this long without progress. */
  stallMs?: number;
}

/** Publishes at a fixed rate and waits until every subscriber got every message (or delivery stalls). */
export async function fanoutStep(ctx: Ctx, o: StepOptions): Promise<StepResult> {
  const { pool, publisher, target } = ctx;
  await pool.reset();
  publisher.ok = 0;
  publisher.failed = 0;
  const cpu0 = sample(target);
  const gen0 = (await pool.stats()).cpuMs;
  const t0 = performance.now();
  const send = o.batch > 1 ? () => publisher.batch(o.channel, o.batch, o.coalesce) : () => publisher.publish(o.channel);
  await paced(o.requests, 1000 / o.rate, send, o.maxInFlight ?? 64);
  const expected = publisher.ok * o.batch * o.subscribers;
  const settled = await pool.settle((s) => s.messages, expected, o.stallMs ?? 5000, 100);
  const { stats } = settled;
  let tDone = settled.doneAt;
  if (stats.messages >= expected) tDone = Math.min(tDone, performance.now());
  const cpu1 = sample(target);
  const cpuMs = cpu0 && cpu1 ? cpu1.cpuMs - cpu0.cpuMs : NaN;
  const seconds = (tDone - t0) / 1000;
  return {
    label: o.label,
    subscribers: o.subscribers,
    published: publisher.ok * o.batch,
    expected,
    delivered: stats.messages,
    cpuMs,
    usPerMsg: usPerMessage(cpuMs, stats.messages),
    generatorUsPerMsg: usPerMessage(stats.cpuMs - gen0, stats.messages),
    deliveredPerSec: stats.messages / seconds,
    offeredPerSec: o.rate * o.batch * o.subscribers,
    latency: summarize(stats.hist),
    closes: stats.closes,
    publishErrors: publisher.failed,
    lastError: publisher.lastError,
  };
}

export interface MemoryResult {
  connections: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** (RSS after − RSS before) / connections: includes one-off growth (V8 young generation, pools). */
  rssPerConnBytes: number;
  /** Marginal RSS per connection over the second half of the connections (the slope). */
  rssSlopeBytes: number;
  heapPerConnBytes?: number;
  heapSlopeBytes?: number;
  open: OpenTotals;
}

export interface IdlePart {
  group: string;
  /** Channel per connection; `{i}` is replaced by the connection's index. */
  channel: string;
  count: number;
}

/**
 * Opens idle authenticated subscribed connections and reports the server's RSS (and heap, from
 * /metrics) per connection: the plain delta over all of them, and the slope over the second half,
 * which leaves out one-off growth that a cold process pays for its first connections.
 */
export async function idleMemory(ctx: Ctx, parts: IdlePart[], settleMs = 3000): Promise<MemoryResult> {
  const { target, pool } = ctx;
  const total = parts.reduce((a, p) => a + p.count, 0);
  // Split so that there is a sample point at half of the connections.
  const halves: IdlePart[] = [];
  let seen = 0;
  for (const p of parts) {
    const cut = Math.max(0, Math.min(p.count, Math.ceil(total / 2) - seen));
    if (cut > 0) halves.push({ ...p, count: cut });
    if (p.count - cut > 0) halves.push({ ...p, group: p.group, count: p.count - cut });
    seen += p.count;
  }
  const before = sample(target);
  const heap0 = await heapUsed(target);
  let first: OpenTotals | undefined;
  let ok = 0;
  let mid: { rss: number; heap: number | undefined; ok: number } | undefined;
  for (const part of halves) {
    const open = await pool.open(openSpec(target, part.group, part.channel), part.count);
    if (open.failed > 0) ctx.log(`  ${open.failed} of ${part.count} connections failed: ${open.firstError}`);
    first ??= open;
    ok += open.ok;
    if (mid === undefined && ok >= total / 2) {
      await sleep(settleMs / 2);
      mid = { rss: sample(target)?.rssBytes ?? NaN, heap: await heapUsed(target), ok };
    }
  }
  await sleep(settleMs);
  const after = sample(target);
  const heap1 = await heapUsed(target);
  const rss0 = before?.rssBytes ?? NaN;
  const rss1 = after?.rssBytes ?? NaN;
  const span = ok - (mid?.ok ?? 0);
  return {
    connections: ok,
    rssBeforeBytes: rss0,
    rssAfterBytes: rss1,
    rssPerConnBytes: (rss1 - rss0) / ok,
    rssSlopeBytes: mid && span > 0 ? (rss1 - mid.rss) / span : NaN,
    ...(heap0 !== undefined && heap1 !== undefined ? { heapPerConnBytes: (heap1 - heap0) / ok } : {}),
    ...(mid?.heap !== undefined && heap1 !== undefined && span > 0 ? { heapSlopeBytes: (heap1 - mid.heap) / span } : {}),
    open: first!,
  };
}

export interface AcceptResult {
  label: string;
  connections: number;
  failed: number;
  perSecond: number;
  firstError: string;
  /** Connect → subscribed time per connection, ms. */
  handshake?: LatencySummary;
  /** Server CPU while the connections were opened, and per connection (includes the fanout running meanwhile). */
  cpuMs?: number;
  usPerConn?: number;
  /** The fanout running meanwhile, when there was one. */
  during?: StepResult;
}

/**
 * New authenticated subscribed connections per second, optionally while a fanout step runs. Pass a
 * separate `connector` pool so that the workers receiving the fanout do not slow the connecting ones.
 */
export async function acceptRate(
  ctx: Ctx,
  count: number,
  group: string,
  background?: StepOptions,
  connector?: WorkerPool,
  inFlight = 400,
): Promise<AcceptResult & { usPerConn: number }> {
  const { target } = ctx;
  const pool = connector ?? ctx.pool;
  const fan = background ? fanoutStep(ctx, background) : undefined;
  if (fan) await sleep(500);
  const cpu0 = sample(target);
  const open = await pool.open(openSpec(target, group, `${group}-{i}`, inFlight), count);
  const cpu1 = sample(target);
  const during = fan ? await fan : undefined;
  const cpuMs = cpu0 && cpu1 ? cpu1.cpuMs - cpu0.cpuMs : NaN;
  return {
    label: background ? 'while fanning out' : 'idle',
    connections: open.ok,
    failed: open.failed,
    perSecond: open.perSecond,
    firstError: open.firstError,
    handshake: open.handshake,
    cpuMs,
    usPerConn: usPerMessage(cpuMs, open.ok),
    ...(during ? { during } : {}),
  };
}

export interface PresenceResult {
  members: number;
  joinSeconds: number;
  presenceFrames: number;
  expectedFrames: number;
  cpuMs: number;
  usPerFrame: number;
  failed: number;
  firstError: string;
}

/**
 * `members` clients join one presence channel, 50 at a time. One join frame to every member already
 * there would be N(N-1)/2 frames (`expectedFrames`, the ceiling); a server that coalesces joins
 * landing together (River) sends fewer: the count settles when no frame arrived for 3 s.
 */
export async function presenceStorm(ctx: Ctx, members: number, channel = 'presence-storm'): Promise<PresenceResult> {
  const { target, pool } = ctx;
  await pool.reset();
  const cpu0 = sample(target);
  const open = await pool.open(openSpec(target, 'presence', channel, 50), members);
  const expectedFrames = (open.ok * (open.ok - 1)) / 2;
  const { stats } = await pool.settle((s) => s.presence, expectedFrames, 3000, 100);
  const cpu1 = sample(target);
  const cpuMs = cpu0 && cpu1 ? cpu1.cpuMs - cpu0.cpuMs : NaN;
  return {
    members: open.ok,
    joinSeconds: open.elapsedMs / 1000,
    presenceFrames: stats.presence,
    expectedFrames,
    cpuMs,
    usPerFrame: usPerMessage(cpuMs, stats.presence),
    failed: open.failed,
    firstError: open.firstError,
  };
}

/** Reopens connections of a group that the server cut (e.g. slow consumers past saturation). */
export async function refill(ctx: Ctx, want: number, channel: string): Promise<number> {
  const s = await ctx.pool.stats();
  const missing = want - s.open;
  if (missing <= 0) return 0;
  const r = await ctx.pool.open(openSpec(ctx.target, `refill-${Date.now()}`, channel), missing);
  return r.ok;
}
