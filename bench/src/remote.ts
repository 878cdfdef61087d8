/**
 * `river bench --url … --key …`: the same generator against a running River, so users can size their
 * deployment. Opens N subscribers on a fresh channel, runs a single-message step, a batch-of-10 step
 * and rate steps until delivery falls behind, and measures the accept rate. Server CPU and RSS need
 * the node's PID on this machine (`pid`); without it those columns stay empty.
 */
import { randomBytes } from 'node:crypto';
import { checkTargets, renderTables, type RunResult } from './report.js';
import { machine } from './run.js';
import { fanoutStep, openSpec, type Ctx, type StepResult } from './scenarios.js';
import type { TargetResult } from './suite.js';
import { WorkerPool } from './pool.js';
import { Publisher } from './publisher.js';
import { workersFor } from './suite.js';
import { remoteRiver, type RemoteOptions } from './targets.js';

export interface RemoteBenchOptions extends RemoteOptions {
  /** Subscribers to open (default 1000). */
  connections?: number;
  /** Highest publish rate (msg/s) of the rate steps (default 64; 0 skips them). */
  maxRate?: number;
  log?: (line: string) => void;
}

export class RemoteBenchError extends Error {
  readonly code = 'bench_remote';
}

export async function runRemoteBench(opts: RemoteBenchOptions): Promise<{ run: RunResult; tables: string; checks: string[] }> {
  const log = opts.log ?? (() => {});
  if (!opts.secret && !opts.token) throw new RemoteBenchError('a JWT secret or a client token is needed to open connections');
  const target = remoteRiver(opts);
  const n = opts.connections ?? 1000;
  const channel = `bench-${randomBytes(4).toString('hex')}`;
  const res: TargetResult = { name: target.name, kind: 'river', steps: [], rateSteps: [], accept: [], errors: [] };
  const pool = await WorkerPool.start(workersFor(n));
  const publisher = new Publisher(target.httpUrl, target.apiKey);
  const ctx: Ctx = { target, pool, publisher, log };
  const startedAt = new Date().toISOString();
  try {
    log(`opening ${n} subscribers on ${channel} …`);
    const open = await pool.open({ ...openSpec(target, 'fan', channel, 100), concurrency: 100 }, n);
    res.accept.push({ label: 'idle', connections: open.ok, failed: open.failed, perSecond: open.perSecond, firstError: open.firstError });
    if (open.ok === 0) throw new RemoteBenchError(`no connection could subscribe: ${open.firstError}`);
    if (open.failed > 0) log(`${open.failed} connections failed: ${open.firstError}`);
    const subs = open.ok;
    const step = async (r: Promise<StepResult>, into: StepResult[]) => {
      const s = await r;
      into.push(s);
      log(
        `${s.label}: ${Math.round(s.deliveredPerSec)} msg/s delivered (${s.delivered}/${s.expected}), p50 ${s.latency.p50.toFixed(1)} ms, p99 ${s.latency.p99.toFixed(1)} ms`,
      );
      return s;
    };
    const rate = Math.max(1, Math.min(50, Math.round(20_000 / subs)));
    await step(fanoutStep(ctx, { label: 'single', channel, subscribers: subs, rate, requests: rate * 4, batch: 1 }), res.steps);
    await step(fanoutStep(ctx, { label: 'batch10', channel, subscribers: subs, rate: 1, requests: 4, batch: 10 }), res.steps);
    for (let r = 4; r <= (opts.maxRate ?? 64); r *= 2) {
      const s = await step(
        fanoutStep(ctx, { label: `rate ${r}/s`, channel, subscribers: subs, rate: r, requests: r * 3, batch: 1, stallMs: 3000 }),
        res.rateSteps,
      );
      if (s.deliveredPerSec < 0.9 * s.offeredPerSec || s.latency.p99 > 500 || Object.keys(s.closes).length > 0) break;
    }
  } finally {
    publisher.close();
    await pool.close().catch(() => {});
    await pool.stop();
  }
  const run: RunResult = { startedAt, mode: 'remote', machine: machine(), command: `river bench --url ${opts.url}`, targets: [res] };
  return { run, tables: renderTables(run), checks: checkTargets(run) };
}
