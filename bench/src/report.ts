/**
 * Tables for the terminal and docs/benchmarks.md (GitHub markdown), every River figure next to the
 * Socket.IO and raw-floor figures of the same run, and the targets checked against them.
 */
import type { TargetResult } from './suite.js';
import { ratio } from './stats.js';
import type { StepResult } from './scenarios.js';
import type { ClusterResult } from './cluster.js';

export interface RunResult {
  startedAt: string;
  mode: 'quick' | 'full' | 'idle' | 'remote';
  machine: { cpus: number; model: string; node: string; kernel: string; loadavg: number[] };
  command: string;
  targets: TargetResult[];
  cluster?: ClusterResult;
}

const f = (n: number | undefined, digits = 2) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits));
const x = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : '—');
const k = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? '—' : n >= 10_000 ? `${Math.round(n / 1000)}k` : String(Math.round(n));

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function step(t: TargetResult | undefined, label: string, size: number): StepResult | undefined {
  return t?.steps.find((s) => s.label === label && s.subscribers === size);
}

const NAMES = { river: 'River', socketio: 'Socket.IO 4', raw: 'raw floor', ws: 'bare ws' } as const;

export function findTarget(run: RunResult, which: keyof typeof NAMES): TargetResult | undefined {
  return run.targets.find((t) => t.name === NAMES[which]);
}

export function renderTables(run: RunResult): string {
  const river = findTarget(run, 'river');
  const sio = findTarget(run, 'socketio');
  const raw = findTarget(run, 'raw');
  const bare = findTarget(run, 'ws');
  const out: string[] = [];
  const sizes = [...new Set(run.targets.flatMap((t) => t.steps.map((s) => s.subscribers)))].sort((a, b) => a - b);

  const cpuRows: string[][] = [];
  for (const size of sizes) {
    for (const [label, floorLabel, name] of [
      ['single', 'single', 'single message'],
      ['batch10', 'batch10/10', 'batch of 10'],
    ] as const) {
      const r = step(river, label, size)?.usPerMsg;
      const s = step(sio, label, size)?.usPerMsg;
      const fl = step(raw, floorLabel, size)?.usPerMsg;
      const w = step(bare, label, size)?.usPerMsg;
      cpuRows.push([name, String(size), f(r), f(s), f(w), f(fl), x(ratio(r, fl)), x(ratio(s, r))]);
    }
  }
  out.push('Server CPU µs per delivered message (lower is better; floor for batches: 10 records per write)\n');
  out.push(table(['step', 'subscribers', 'River', 'Socket.IO 4', 'bare ws', 'raw floor', 'River ÷ floor', 'Socket.IO ÷ River'], cpuRows));

  if (raw) {
    const rows = sizes.map((size) => [
      String(size),
      ...['single', 'batch10', 'batch10/2', 'batch10/10'].map((l) => f(step(raw, l, size)?.usPerMsg)),
    ]);
    out.push('\nRaw floor: µs per message by records per write\n');
    out.push(table(['subscribers', '1 (single publish)', '1 (batch, 10 writes)', '2 per write', '10 per write'], rows));
  }

  const latRows: string[][] = [];
  for (const t of run.targets) {
    for (const s of t.steps) {
      latRows.push([
        t.name,
        `${s.label}`,
        String(s.subscribers),
        k(s.deliveredPerSec),
        `${s.delivered}/${s.expected}`,
        f(s.latency.p50),
        f(s.latency.p99),
        f(s.latency.max, 1),
        f(s.generatorUsPerMsg),
      ]);
    }
  }
  out.push('\nDelivered msg/s and publish→deliver latency (ms)\n');
  out.push(table(['server', 'step', 'subscribers', 'delivered/s', 'delivered/expected', 'p50', 'p99', 'max', 'generator µs/msg'], latRows));

  const rateRows: string[][] = [];
  for (const t of run.targets) {
    for (const s of [...t.rateSteps, ...(t.halfLoad ? [t.halfLoad] : []), ...(t.hot ? [t.hot] : [])]) {
      rateRows.push([
        t.name,
        s.label,
        String(s.subscribers),
        k(s.offeredPerSec),
        k(s.deliveredPerSec),
        f(s.usPerMsg),
        f(s.latency.p50),
        f(s.latency.p99),
        f(s.latency.max, 1),
        JSON.stringify(s.closes),
      ]);
    }
  }
  if (rateRows.length > 0) {
    out.push('\nRate steps, half load, hot channel\n');
    out.push(
      table(['server', 'step', 'subscribers', 'offered/s', 'delivered/s', 'µs/msg', 'p50', 'p99', 'max', 'server closes'], rateRows),
    );
  }

  const memRows = run.targets
    .filter((t) => t.memory)
    .map((t) => {
      const m = t.memory!;
      const kb = (b: number | undefined) => f(b === undefined ? undefined : b / 1024);
      return [
        t.name,
        String(m.connections),
        kb(m.rssPerConnBytes),
        kb(m.rssSlopeBytes),
        kb(m.heapPerConnBytes),
        kb(m.heapSlopeBytes),
        f(m.rssAfterBytes / 1048576, 0),
      ];
    });
  if (memRows.length > 0) {
    out.push('\nIdle authenticated subscribed connections: memory per connection (KB; "marginal" = slope over the second half)\n');
    out.push(table(['server', 'connections', 'RSS delta / n', 'RSS marginal', 'heap delta / n', 'heap marginal', 'RSS total MB'], memRows));
  }

  const accRows = run.targets.flatMap((t) =>
    t.accept.map((a) => [
      t.name,
      a.during ? `${a.label} (${a.during.label}, ${k(a.during.deliveredPerSec)} msg/s)` : a.label,
      String(a.connections),
      String(a.failed),
      k(a.perSecond),
      f(a.usPerConn, 0),
      a.handshake ? `${f(a.handshake.p50, 1)} / ${f(a.handshake.p99, 1)}` : '—',
    ]),
  );
  if (accRows.length > 0) {
    out.push('\nAccept rate: new authenticated subscribed connections per second\n');
    out.push(
      table(
        [
          'server',
          'when',
          'connections',
          'failed',
          'per second',
          'server CPU µs per connection (incl. fanout meanwhile)',
          'handshake p50 / p99 ms',
        ],
        accRows,
      ),
    );
  }

  const presRows = run.targets
    .filter((t) => t.presence)
    .map((t) => {
      const p = t.presence!;
      return [t.name, String(p.members), f(p.joinSeconds, 1), `${p.presenceFrames}/${p.expectedFrames}`, f(p.cpuMs, 0), f(p.usPerFrame)];
    });
  if (presRows.length > 0) {
    out.push(
      '\nPresence storm: members join one presence channel (50 in flight); one join frame per earlier member would be N(N-1)/2, River coalesces joins that land together\n',
    );
    out.push(table(['server', 'members', 'join time s', 'join frames received / N(N-1)/2', 'server CPU ms', 'µs per frame'], presRows));
  }
  const slowRows = run.targets
    .filter((t) => t.slow)
    .map((t) => {
      const s = t.slow!;
      return [
        t.name,
        `${s.stalled} of ${s.subscribers}`,
        String(s.published),
        `${s.deliveredToReaders}/${s.expectedToReaders}`,
        `${s.cut} (${s.saw4003} saw 4003)`,
        f(s.rssBeforeBytes / 1048576, 0),
        f(s.rssPeakBytes / 1048576, 0),
        s.recovered ? 'yes' : 'no',
      ];
    });
  if (slowRows.length > 0) {
    out.push('\nSlow consumers: stalled subscribers while a channel is flooded with ~5 KB messages\n');
    out.push(
      table(
        [
          'server',
          'stalled',
          'messages',
          'readers got/expected',
          'stalled cut by the server',
          'RSS before MB',
          'RSS peak MB',
          'serves after',
        ],
        slowRows,
      ),
    );
  }
  if (run.cluster) {
    const c = run.cluster;
    out.push(
      `\nTwo River nodes over one Redis: ${c.connections} connections held (${c.failed} failed), RSS per connection ${c.rssPerConnBytes.map((b) => f(b / 1024)).join(' / ')} KB; Redis CPU ${f(c.redisCpuMs, 0)} ms\n`,
    );
    out.push(
      table(
        ['step (published to node A)', 'delivered/expected', 'µs/msg (both nodes)', 'p50', 'p99', 'max'],
        c.steps.map((s) => [
          s.label,
          `${s.delivered}/${s.expected}`,
          f(s.usPerMsg),
          f(s.latency.p50),
          f(s.latency.p99),
          f(s.latency.max, 1),
        ]),
      ),
    );
  }
  const errs = run.targets.flatMap((t) => t.errors.map((e) => `- ${t.name}: ${e}`));
  if (errs.length > 0) out.push(`\nErrors\n\n${errs.join('\n')}`);
  return out.join('\n');
}

/** The targets, checked against this run; one line each. */
export function checkTargets(run: RunResult): string[] {
  const river = findTarget(run, 'river');
  const sio = findTarget(run, 'socketio');
  const raw = findTarget(run, 'raw');
  if (!river) return [];
  const lines: string[] = [];
  const mark = (ok: boolean | undefined) => (ok === undefined ? 'n/a ' : ok ? 'MET ' : 'MISS');
  for (const size of [5000, 10_000]) {
    const r = step(river, 'single', size)?.usPerMsg;
    if (r === undefined) continue;
    const fl = step(raw, 'single', size)?.usPerMsg;
    const s = step(sio, 'single', size)?.usPerMsg;
    const rf = ratio(r, fl);
    const sr = ratio(s, r);
    lines.push(
      `${mark(Number.isFinite(rf) ? rf <= 1.2 : undefined)} single @${size}: ${f(r)} µs = ${x(rf)} the floor's ${f(fl)} µs (≤ 1.20×)`,
    );
    lines.push(
      `${mark(Number.isFinite(sr) ? sr >= 2.5 : undefined)} single @${size}: Socket.IO ${f(s)} µs = ${x(sr)} River (≥ 2.5×; needs Socket.IO ≥ 2.5 × River ≥ 2.5 × floor = ${f(2.5 * (fl ?? NaN))} µs here)`,
    );
    const b = step(river, 'batch10', size)?.usPerMsg;
    const sb = step(sio, 'batch10', size)?.usPerMsg;
    if (b !== undefined) {
      const bf = step(raw, 'batch10/10', size)?.usPerMsg;
      lines.push(
        `${mark(b <= 1.5)} batch of 10 @${size}: ${f(b)} µs (≤ 1.5; floor with 10 per write ${f(bf)} µs, River ${x(ratio(b, bf))} it)`,
      );
      lines.push(
        `${mark(Number.isFinite(ratio(sb, b)) ? ratio(sb, b) >= 10 : undefined)} batch of 10 @${size}: Socket.IO ${f(sb)} µs = ${x(ratio(sb, b))} River (≥ 10×)`,
      );
    }
  }
  if (river.memory) {
    const kb = river.memory.rssPerConnBytes / 1024;
    const slope = river.memory.rssSlopeBytes / 1024;
    const bare = findTarget(run, 'ws')?.memory;
    const vsWs = bare
      ? `; bare ws ${f(bare.rssPerConnBytes / 1024)} / ${f(bare.rssSlopeBytes / 1024)} KB, raw floor ${f((raw?.memory?.rssPerConnBytes ?? NaN) / 1024)} / ${f((raw?.memory?.rssSlopeBytes ?? NaN) / 1024)} KB`
      : '';
    lines.push(
      `${mark(river.memory.connections >= 19_500 ? kb <= 5 : undefined)} RSS per idle connection at ${river.memory.connections}: ${f(kb)} KB delta / n, ${f(slope)} KB marginal (≤ 5 KB at 19.5k${vsWs})`,
    );
  }
  if (river.halfLoad)
    lines.push(
      `${mark(river.halfLoad.latency.p99 < 50)} p99 at half saturation (${river.halfLoad.label}, 5k subscribers): ${f(river.halfLoad.latency.p99)} ms (< 50 ms)`,
    );
  const busy = river.accept.find((a) => a.label === 'while fanning out');
  if (busy)
    lines.push(`${mark(busy.perSecond >= 2000)} accept while fanning out at half load: ${Math.round(busy.perSecond)}/s (≥ 2,000/s)`);
  if (river.slow) {
    const s = river.slow;
    const sio = findTarget(run, 'socketio')?.slow;
    const growth = (s.rssPeakBytes - s.rssBeforeBytes) / 1048576;
    const sioGrowth = sio ? ` (Socket.IO: +${f((sio.rssPeakBytes - sio.rssBeforeBytes) / 1048576, 0)} MB, ${sio.cut} cut)` : '';
    lines.push(
      `${mark(s.cut === s.stalled && s.recovered && s.deliveredToReaders === s.expectedToReaders)} past saturation: ${s.cut}/${s.stalled} stalled subscribers cut, RSS +${f(growth, 0)} MB${sioGrowth}, readers unaffected, serves afterwards: ${s.recovered}`,
    );
  }
  if (run.cluster)
    lines.push(
      `${mark(run.cluster.connections >= 39_000)} two nodes over one Redis hold ${run.cluster.connections} connections (≥ 39,000)`,
    );
  return lines;
}
