/**
 * `npm run bench` — River against Socket.IO 4 and the raw-socket floor, same steps, same run.
 *
 *   npm run bench                    quick (< 3 min): 10k idle, single + batch-of-10 steps at 5k
 *   npm run bench -- --full          1k → 19.5k subscribers, rate steps, accept rate, hot channel, presence storm
 *   npm run bench -- --idle 10000    RSS per idle authenticated subscribed connection (River; --only ws,socketio,raw too;
 *                                    --channel NAME all on one channel; --settle S seconds before each sample, default 3)
 *   options: --only river,socketio,raw,ws   --profile (node --cpu-prof into bench/results/profiles)
 * Each run writes bench/results/<timestamp>.json and, beside it, SVG charts (charts.ts): -us-per-message.svg,
 * -delivered-vs-offered.svg, -latency.svg.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeCharts } from './charts.js';
import { runCluster } from './cluster.js';
import { runIdle } from './idle.js';
import { renderProfile } from './profile-summary.js';
import { checkTargets, renderTables, type RunResult } from './report.js';
import { machine, writeResult } from './run.js';
import { FULL, QUICK, runPlan } from './suite.js';
import { repoRoot, startRaw, startRiver, startSocketIo, startWs, type LocalOptions, type Target } from './targets.js';

const { values } = parseArgs({
  options: {
    full: { type: 'boolean', default: false },
    idle: { type: 'string' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    channel: { type: 'string' },
    settle: { type: 'string' },
    cluster: { type: 'string' },
  },
});

const log = (l: string) => console.log(l);
// A closed stdout (`npm run bench | head`) or Ctrl+C must still stop every server started (exit handlers in targets.ts).
process.stdout.on('error', () => process.exit(1));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const resultsDir = path.join(repoRoot(), 'bench', 'results');
const local: LocalOptions = values.profile ? { profileDir: path.join(resultsDir, 'profiles') } : {};
const startedAt = new Date().toISOString();
const hardStop = setTimeout(
  () => {
    console.error('bench: hard time limit reached, exiting');
    process.exit(2);
  },
  (values.full ? 40 : 10) * 60_000,
);
hardStop.unref();

async function main(): Promise<void> {
  const starters: Record<string, () => Promise<Target>> = {
    river: () => startRiver(local),
    socketio: () => startSocketIo(local),
    raw: () => startRaw(local),
    ws: () => startWs(local),
  };
  if (values.idle !== undefined) {
    const n = Number(values.idle);
    const settleMs = values.settle === undefined ? undefined : Number(values.settle) * 1000;
    if (settleMs !== undefined && !(settleMs >= 0)) throw new Error(`--settle must be a number of seconds, got "${values.settle}"`);
    const targets: RunResult['targets'] = [];
    for (const name of (values.only ?? 'river').split(',')) {
      const start = starters[name];
      if (!start) throw new Error(`unknown target "${name}" (river, socketio, raw, ws)`);
      const target = await start();
      try {
        const m = await runIdle(target, n, log, values.channel, settleMs);
        targets.push({ name: target.name, kind: target.kind, memory: m, steps: [], rateSteps: [], accept: [], errors: [] });
      } finally {
        await target.stop();
      }
    }
    const file = writeResult(
      { startedAt, mode: 'idle', machine: machine(), command: `npm run bench -- ${process.argv.slice(2).join(' ')}`, targets },
      resultsDir,
    );
    log(`result: ${path.relative(process.cwd(), file)}`);
    if (local.profileDir) printProfiles(local.profileDir, Date.parse(startedAt));
    return;
  }
  const plan = { ...(values.full ? FULL : QUICK), log };
  if (values.sizes) plan.sizes = values.sizes.split(',').map(Number);

  const names = (values.only ?? 'raw,ws,river,socketio').split(',');
  const run: RunResult = {
    startedAt,
    mode: values.full ? 'full' : 'quick',
    machine: machine(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    targets: [],
  };
  log(
    `River bench (${run.mode}) on ${run.machine.cpus} × ${run.machine.model}, Node ${run.machine.node}, load ${run.machine.loadavg.map((l) => l.toFixed(2)).join(' ')}`,
  );
  for (const name of names) {
    const start = starters[name];
    if (!start) throw new Error(`unknown target "${name}" (river, socketio, raw, ws)`);
    run.targets.push(await runPlan(name, start, plan));
  }
  // Two nodes over one Redis (full runs, or --cluster N per node); skipped when redis-server is missing.
  const perNode = values.cluster !== undefined ? Number(values.cluster) : values.full && names.includes('river') ? 19_500 : 0;
  if (perNode > 0) {
    log('River, two nodes over one Redis:');
    try {
      run.cluster = await runCluster(perNode, local, log);
    } catch (err) {
      log(`  skipped: ${(err as Error).message}`);
    }
  }
  log('');
  log(renderTables(run));
  const checks = checkTargets(run);
  if (checks.length > 0) log(`\nTargets (issue 7)\n\n${checks.map((c) => `- ${c}`).join('\n')}`);
  const file = writeResult(run, resultsDir);
  log(`\nresult: ${path.relative(process.cwd(), file)}`);
  for (const svg of writeCharts(run, file)) log(`chart: ${path.relative(process.cwd(), svg)}`);
  if (local.profileDir) printProfiles(local.profileDir, Date.parse(startedAt));
}

/** Self-time tables of the CPU profiles the servers wrote during this run (the main thread's: the busiest file per process). */
function printProfiles(dir: string, since: number): void {
  for (const sub of readdirSync(dir).sort()) {
    const d = path.join(dir, sub);
    if (!statSync(d).isDirectory() || statSync(d).mtimeMs < since) continue;
    const files = readdirSync(d)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => path.join(d, f))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    if (files[0]) log(`\n${sub}: ${renderProfile(files[0], 15)}`);
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench: ${err.message}`);
    process.exit(1);
  },
);
