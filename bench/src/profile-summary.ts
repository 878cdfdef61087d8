/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench -- --profile`): self
 * time per function, heaviest first, with the file and line, and the share of idle, GC and
 * native/program time. Usage: node --import tsx bench/src/profile-summary.ts FILE [TOP]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  fn: string;
  where: string;
  selfMs: number;
  /** Share of non-idle time. */
  share: number;
}

export function summarizeProfile(file: string, top = 20): { busyMs: number; idleMs: number; lines: ProfileLine[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let idle = 0;
  let busy = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i]!);
    const dt = prof.timeDeltas[i + 1] ?? 0;
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const e = self.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    self.set(key, e);
  }
  const lines = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, share: busy > 0 ? e.us / busy : 0 }));
  return { busyMs: busy / 1000, idleMs: idle / 1000, lines };
}

function shortUrl(url: string): string {
  const p = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) return p.slice(nm + 'node_modules/'.length);
  const parts = p.split(path.sep);
  return parts.slice(-3).join('/');
}

export function renderProfile(file: string, top = 20): string {
  const s = summarizeProfile(file, top);
  const rows = s.lines.map((l) => `| ${(l.share * 100).toFixed(1)} % | ${l.selfMs.toFixed(0)} | \`${l.fn}\` | ${l.where} |`);
  return [
    `${path.basename(file)}: ${s.busyMs.toFixed(0)} ms busy, ${s.idleMs.toFixed(0)} ms idle`,
    '',
    '| self % of busy | self ms | function | where |',
    '|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (process.argv[1] && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: profile-summary FILE.cpuprofile [TOP]');
    process.exit(1);
  }
  console.log(renderProfile(file, Number(process.argv[3] ?? 20)));
}
