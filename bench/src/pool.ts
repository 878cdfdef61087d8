/**
 * The coordinator's side of the load generator: forks worker processes, spreads connections over
 * them, and merges their counters. Every request to a worker has a time limit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Histogram, summarize, type LatencySummary } from './stats.js';
import type { OpenResult, OpenSpec, WorkerCommand, WorkerReply, WorkerStats } from './worker-protocol.js';

/** Most sockets one worker holds (the per-process fd limit here is 20,000). */
export const MAX_PER_WORKER = 9000;

/** Source addresses for loopback targets, so ephemeral ports never run out. */
export const LOOPBACK_SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

const isTs = import.meta.url.endsWith('.ts');

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A sibling module of this file, as the path to run it with (the .ts source under tsx, or the built .js). */
export function siblingModule(name: string): { file: string; execArgv: string[] } {
  const file = fileURLToPath(new URL(`./${name}${isTs ? '.ts' : '.js'}`, import.meta.url));
  return { file, execArgv: isTs ? ['--import', 'tsx'] : [] };
}

class WorkerHandle {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  exited = false;

  constructor(readonly child: ChildProcess) {
    child.on('message', (r: WorkerReply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r.id);
      clearTimeout(w.timer);
      w.resolve(r);
    });
    child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error(`bench worker exited (${code})`));
      }
      this.waiting.clear();
    });
  }

  request<T>(cmd: WithoutId<WorkerCommand>, timeoutMs: number): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`bench worker did not answer "${cmd.cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => (r.ok ? resolve(r.result as T) : reject(new Error(r.error ?? 'worker error'))),
        reject,
        timer,
      });
      this.child.send({ ...cmd, id });
    });
  }
}

/** The workers' stats summed (cpuMs: of all worker processes so far), their histograms merged. */
export type PoolStats = Omit<WorkerStats, 'hist'> & { hist: Histogram };

export interface OpenTotals {
  ok: number;
  failed: number;
  firstError: string;
  /** Wall time until the slowest worker finished, ms. */
  elapsedMs: number;
  /** Established connections per second over that time. */
  perSecond: number;
  /** Connect → subscribed time per connection, ms. */
  handshake: LatencySummary;
}

export class WorkerPool {
  private readonly workers: WorkerHandle[];
  /** Connections opened so far (indexes for subs and channels). */
  private opened = 0;

  private constructor(workers: WorkerHandle[]) {
    this.workers = workers;
  }

  static async start(count: number): Promise<WorkerPool> {
    const { file, execArgv } = siblingModule('worker');
    const workers = Array.from(
      { length: count },
      () => new WorkerHandle(fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })),
    );
    const pool = new WorkerPool(workers);
    await Promise.all(workers.map((w) => w.request({ cmd: 'reset' }, 30_000)));
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Opens `count` connections spread evenly over the workers. */
  async open(spec: Omit<OpenSpec, 'count' | 'firstIndex'>, count: number, timeoutMs = 120_000): Promise<OpenTotals> {
    const n = this.workers.length;
    const base = this.opened;
    this.opened += count;
    const started = performance.now();
    const parts = this.workers.map((w, i) => {
      const share = Math.floor(count / n) + (i < count % n ? 1 : 0);
      const firstIndex = base + Math.floor(count / n) * i + Math.min(i, count % n);
      if (share === 0)
        return Promise.resolve<OpenResult>({ ok: 0, failed: 0, firstError: '', elapsedMs: 0, handshakes: new Histogram().toJSON() });
      const perWorker = { ...spec, count: share, firstIndex, concurrency: Math.max(1, Math.ceil(spec.concurrency / n)) };
      return w.request<OpenResult>({ cmd: 'open', spec: perWorker }, timeoutMs);
    });
    const results = await Promise.all(parts);
    const elapsedMs = performance.now() - started;
    const ok = results.reduce((a, r) => a + r.ok, 0);
    const handshakes = new Histogram();
    for (const r of results) handshakes.merge(r.handshakes);
    return {
      handshake: summarize(handshakes),
      ok,
      failed: results.reduce((a, r) => a + r.failed, 0),
      firstError: results.find((r) => r.firstError !== '')?.firstError ?? '',
      elapsedMs,
      perSecond: ok / (elapsedMs / 1000),
    };
  }

  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ cmd: 'reset' }, 10_000)));
  }

  async stats(): Promise<PoolStats> {
    const all = await Promise.all(this.workers.map((w) => w.request<WorkerStats>({ cmd: 'stats' }, 10_000)));
    const hist = new Histogram();
    const closes: Record<string, number> = {};
    for (const s of all) {
      hist.merge(s.hist);
      for (const [k, v] of Object.entries(s.closes)) closes[k] = (closes[k] ?? 0) + v;
    }
    const sum = (f: (s: WorkerStats) => number) => all.reduce((a, s) => a + f(s), 0);
    return {
      messages: sum((s) => s.messages),
      presence: sum((s) => s.presence),
      other: sum((s) => s.other),
      open: sum((s) => s.open),
      dropped: sum((s) => s.dropped),
      errors: sum((s) => s.errors),
      lastError: all.find((s) => s.lastError !== '')?.lastError ?? '',
      closes,
      hist,
      cpuMs: sum((s) => s.cpuMs),
    };
  }

  /**
   * Polls the stats until `count` of them reaches `expected`, or stops moving for `quietMs`.
   * `doneAt`: when it last moved (performance.now()).
   */
  async settle(
    count: (s: PoolStats) => number,
    expected: number,
    quietMs: number,
    pollMs: number,
  ): Promise<{ stats: PoolStats; doneAt: number }> {
    let stats = await this.stats();
    let last = count(stats);
    let doneAt = performance.now();
    while (count(stats) < expected && performance.now() - doneAt < quietMs) {
      await new Promise((r) => setTimeout(r, pollMs));
      stats = await this.stats();
      if (count(stats) !== last) {
        last = count(stats);
        doneAt = performance.now();
      }
    }
    return { stats, doneAt };
  }

  /** Makes a group's connections stop reading (slow consumers), or read again. */
  async pause(group: string, paused: boolean): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ cmd: 'pause', group, paused }, 10_000)));
  }

  async close(group?: string): Promise<void> {
    await Promise.all(this.workers.map((w) => w.request({ cmd: 'close', ...(group !== undefined ? { group } : {}) }, 30_000)));
  }

  /** Stops every worker by its PID. */
  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exited || w.child.pid === undefined) return resolve();
            const t = setTimeout(() => {
              if (!w.exited) process.kill(w.child.pid!, 'SIGKILL');
              resolve();
            }, 3000);
            w.child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            w.child.disconnect();
          }),
      ),
    );
  }
}
