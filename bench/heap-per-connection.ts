/**
 * Where a River node's heap goes per idle authenticated subscribed connection (issue 17, item 3):
 * heap snapshots of the node at two connection counts (each connection on its own channel), and the
 * difference by object kind (V8 node type and constructor name) divided by the connections added.
 * Only the JavaScript heap: ws's and the sockets' native memory (kernel buffers, libuv handles) is RSS.
 *
 *   npm run build -w @river/server && npx tsx bench/heap-per-connection.ts [--from 1000] [--to 6000] [--top 25]
 *                                                                          [--server river|ws]
 *
 * --server ws measures the bare ws baseline (bench/baselines/ws-server.ts) the same way, for the
 * bytes River keeps per connection on top of what a minimal ws server keeps.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkerPool } from './src/pool.js';
import { openSpec } from './src/scenarios.js';
import { startRiver, startWs } from './src/targets.js';

const { values } = parseArgs({
  options: {
    from: { type: 'string', default: '1000' },
    to: { type: 'string', default: '6000' },
    top: { type: 'string', default: '25' },
    server: { type: 'string', default: 'river' },
  },
});
if (values.server !== 'river' && values.server !== 'ws') throw new Error(`--server: river or ws, got ${values.server}`);
const from = Number(values.from);
const to = Number(values.to);

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Self size and count per "type:name" (closures by their function name, objects by constructor). */
function summarize(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const f = snap.snapshot.meta.node_fields;
  const width = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const ef = snap.snapshot.meta.edge_fields;
  const ew = ef.length;
  const eTypes = snap.snapshot.meta.edge_types[0];
  const iEdgeCount = f.indexOf('edge_count');
  const out = new Map<string, { count: number; bytes: number }>();
  let edge = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    let name = snap.strings[snap.nodes[i + iName]!]!;
    const edges = snap.nodes[i + iEdgeCount]!;
    // Plain objects are told apart by their property names (their shape).
    if (type === 'object' && name === 'Object') {
      const props: string[] = [];
      for (let e = edge; e < edge + edges * ew; e += ew) {
        if (eTypes[snap.edges[e]!] === 'property') props.push(snap.strings[snap.edges[e + 1]!]!);
      }
      name = `{${props.slice(0, 6).join(',')}${props.length > 6 ? ',…' : ''}}`;
    }
    edge += edges * ew;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    if (type === 'number') name = '';
    if (name.length > 90) name = `${name.slice(0, 87)}…`;
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'river-heap-'));
const nodeArgs = ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`];
const target = values.server === 'ws' ? await startWs({ nodeArgs }) : await startRiver({ nodeArgs });
const pool = await WorkerPool.start(1);
const targetPid = target.pid;
if (targetPid === undefined) throw new Error('heap-per-connection: the target runs in no process of its own');
const snapshot = async (): Promise<string> => {
  const before = new Set(readdirSync(dir));
  process.kill(targetPid, 'SIGUSR2');
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const added = readdirSync(dir).filter((n) => !before.has(n) && n.endsWith('.heapsnapshot'));
    // The file is complete when its size stops changing.
    if (added.length > 0) {
      const file = path.join(dir, added[0]!);
      let size = -1;
      for (;;) {
        const s = readFileSync(file).length;
        if (s === size && s > 0) return file;
        size = s;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
};
try {
  await pool.open(openSpec(target, 'a', 'idle-a-{i}'), from);
  await new Promise((r) => setTimeout(r, 3000));
  const a = summarize(await snapshot());
  await pool.open(openSpec(target, 'b', 'idle-b-{i}'), to - from);
  await new Promise((r) => setTimeout(r, 3000));
  const b = summarize(await snapshot());
  const n = to - from;
  const rows = [...b.entries()]
    .map(([k, v]) => {
      const was = a.get(k) ?? { count: 0, bytes: 0 };
      return { kind: k, perConn: (v.bytes - was.bytes) / n, countPerConn: (v.count - was.count) / n };
    })
    .sort((x, y) => y.perConn - x.perConn);
  const total = rows.reduce((s, r) => s + r.perConn, 0);
  console.log(
    `${target.name} heap per connection, ${from} → ${to} idle authenticated subscribed connections: ${total.toFixed(0)} bytes (self sizes)\n`,
  );
  console.log('| bytes per connection | objects per connection | kind (V8 type: name) |');
  console.log('|---|---|---|');
  for (const r of rows.slice(0, Number(values.top)))
    console.log(`| ${r.perConn.toFixed(0)} | ${r.countPerConn.toFixed(2)} | \`${r.kind}\` |`);
} finally {
  await pool.close().catch(() => {});
  await pool.stop();
  await target.stop();
  rmSync(dir, { recursive: true, force: true });
}
