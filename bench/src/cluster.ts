/**
 * Two River nodes over one Redis (the multi-node engine): each node holds `perNode` idle
 * authenticated subscribed connections on one channel, a publish to node A reaches every subscriber
 * on both nodes. Reports connections held, RSS per connection on each node, and CPU per delivered
 * message summed over both nodes and Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { WorkerPool } from './pool.js';
import { sampleProcess } from './proc.js';
import { paced, Publisher } from './publisher.js';
import { openSpec } from './scenarios.js';
import { summarize, usPerMessage, type LatencySummary } from './stats.js';
import { BenchSetupError, freePort, startRiver, type LocalOptions, type Target } from './targets.js';

export interface ClusterResult {
  nodes: number;
  connections: number;
  failed: number;
  rssPerConnBytes: number[];
  steps: { label: string; delivered: number; expected: number; cpuMs: number; usPerMsg: number; latency: LatencySummary }[];
  redisCpuMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('PING\r\n'));
    s.on('data', (d) => {
      resolve(d.toString().startsWith('+PONG'));
      s.destroy();
    });
    s.on('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '1000'],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  process.on('exit', () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  const failed = new Promise<never>((_, reject) => child.once('error', (e) => reject(new BenchSetupError(`redis-server: ${e.message}`))));
  const until = Date.now() + 10_000;
  while (!(await Promise.race([redisPing(port), failed]))) {
    if (Date.now() > until) throw new BenchSetupError('redis-server did not answer PING');
    await sleep(100);
  }
  return {
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        process.kill(child.pid!, 'SIGTERM');
      }),
  };
}

export async function runCluster(perNode: number, local: LocalOptions, log: (l: string) => void): Promise<ClusterResult> {
  const redis = await startRedis();
  const nodes: Target[] = [];
  let pool: WorkerPool | undefined;
  const publisher: Publisher[] = [];
  try {
    const env = { ...local.env, RIVER_REDIS_URL: `redis://127.0.0.1:${redis.port}` };
    for (let i = 0; i < 2; i++) nodes.push(await startRiver({ ...local, env }));
    pool = await WorkerPool.start(Math.ceil((2 * perNode) / 8000));
    const rss0 = nodes.map((n) => sampleProcess(n.pid!).rssBytes);
    let ok = 0;
    let failed = 0;
    for (const [i, node] of nodes.entries()) {
      const r = await pool.open(openSpec(node, `node${i}`, 'fan'), perNode);
      ok += r.ok;
      failed += r.failed;
      if (r.failed > 0) log(`  node ${i}: ${r.failed} failed: ${r.firstError}`);
    }
    await sleep(3000);
    const rssPerConnBytes = nodes.map((n, i) => (sampleProcess(n.pid!).rssBytes - rss0[i]!) / perNode);
    log(
      `  two nodes over Redis: ${ok} connections (${failed} failed), RSS per connection ${rssPerConnBytes.map((b) => (b / 1024).toFixed(2)).join(' / ')} KB`,
    );
    const pub = new Publisher(nodes[0]!.httpUrl, nodes[0]!.apiKey);
    publisher.push(pub);
    const steps: ClusterResult['steps'] = [];
    let redisCpuMs = 0;
    for (const [label, requests, batch] of [
      ['single', 8, 1],
      ['batch10', 2, 10],
    ] as const) {
      await pool.reset();
      pub.ok = 0;
      const cpu0 = nodes.map((n) => sampleProcess(n.pid!).cpuMs);
      const r0 = sampleProcess(redis.pid).cpuMs;
      await paced(requests, 1000, () => (batch > 1 ? pub.batch('fan', batch) : pub.publish('fan')));
      const expected = pub.ok * batch * ok;
      const { stats: s } = await pool.settle((x) => x.messages, expected, 5000, 200);
      const cpuMs = nodes.reduce((a, n, i) => a + sampleProcess(n.pid!).cpuMs - cpu0[i]!, 0);
      redisCpuMs += sampleProcess(redis.pid).cpuMs - r0;
      const step = { label, delivered: s.messages, expected, cpuMs, usPerMsg: usPerMessage(cpuMs, s.messages), latency: summarize(s.hist) };
      steps.push(step);
      log(
        `  ${label} across both nodes: ${step.delivered}/${step.expected} delivered, ${step.usPerMsg.toFixed(2)} µs/msg (both nodes), p99 ${step.latency.p99.toFixed(1)} ms`,
      );
    }
    return { nodes: 2, connections: ok, failed, rssPerConnBytes, steps, redisCpuMs };
  } finally {
    for (const p of publisher) p.close();
    if (pool) {
      await pool.close().catch(() => {});
      await pool.stop();
    }
    for (const n of nodes) await n.stop();
    await redis.stop();
  }
}
