/**
 * Soak (issue 14; not in CI): a River node process (server/dist/main.js, embedded bus) under churn at
 * half of its saturation for `--minutes` (default 30): clients connect, subscribe, publish and
 * disconnect all the time while the backend publishes over HTTP. Every 10 s it samples the node's
 * own figures from /metrics (RSS, V8 heap used, event-loop lag p99, active handles) and at the end
 * fails (exit 1) if any keeps growing: the median of the last third of the samples against the
 * median of the first third after a warm-up (the first 10 % of the run).
 *
 *   npm run build -w @river/protocol -w @river/server
 *   npx tsx bench/soak.ts [--minutes 30] [--clients 500] [--channels 200]
 *
 * Saturation is measured first on the same node: 10 s of HTTP publishes from 64 concurrent callers
 * to the subscribed channels; the soak then publishes at half that rate. Loopback only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { signToken } from '@river/node';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    clients: { type: 'string', default: '500' },
    channels: { type: 'string', default: '200' },
  },
});
const MINUTES = Number(values.minutes);
const CLIENTS = Number(values.clients);
const CHANNELS = Number(values.channels);
const SAMPLE_MS = 10_000;
const MAIN_JS = fileURLToPath(new URL('../server/dist/main.js', import.meta.url));
const SECRET = randomBytes(32).toString('base64url');
const KEY = randomBytes(32).toString('base64url');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

const port = await freePort();
const http = `http://127.0.0.1:${port}`;
const wsUrl = `ws://127.0.0.1:${port}/v1/ws`;
const node = spawn(process.execPath, [MAIN_JS], {
  env: {
    PATH: process.env.PATH ?? '',
    RIVER_PORT: String(port),
    RIVER_HOST: '127.0.0.1',
    RIVER_JWT_SECRET: SECRET,
    RIVER_API_KEY: KEY,
    RIVER_LOG_LEVEL: 'warn',
    RIVER_MAX_FRAMES_PER_SECOND: '1000',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const stopNode = () => {
  if (node.exitCode === null && node.signalCode === null) process.kill(node.pid!, 'SIGKILL');
};
process.on('exit', stopNode);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${http}/readyz`)).ok) break;
  } catch {
    // not up yet
  }
  if (i > 100) throw new Error('the node did not become ready');
  await sleep(100);
}

let published = 0;
let publishErrors = 0;
async function publish(channel: string, i: number): Promise<void> {
  try {
    const r = await fetch(`${http}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, event: 'soak', data: { i, pad: 'x'.repeat(200) } }),
    });
    await r.arrayBuffer();
    if (r.ok) published++;
    else publishErrors++;
  } catch {
    publishErrors++;
  }
}

// ---- churning clients --------------------------------------------------------------------------
const token = await signToken(SECRET, { sub: 'soak', publish: ['soak-*'] }, { expiresIn: 24 * 3600 });
let received = 0;
let connects = 0;
let unexpectedCloses = 0;
const live = new Set<WebSocket>();
function connectOne(): void {
  const ws = new WebSocket(wsUrl);
  const channel = `soak-${Math.floor(Math.random() * CHANNELS)}`;
  ws.on('open', () => {
    connects++;
    ws.send(JSON.stringify({ type: 'auth', token }));
  });
  ws.on('message', (raw: Buffer) => {
    const text = raw.toString();
    if (text.startsWith('{"type":"ready"')) ws.send(JSON.stringify({ type: 'subscribe', channel }));
    else if (text.startsWith('{"type":"message"')) received++;
    else if (text === '{"type":"ping"}') ws.send('{"type":"pong"}');
    else if (text.startsWith('{"type":"subscribed"') && Math.random() < 0.2)
      ws.send(JSON.stringify({ type: 'publish', channel, event: 'c', data: { from: 'client' } }));
  });
  ws.on('close', (code) => {
    if (live.delete(ws) && code !== 1000 && code !== 1005) unexpectedCloses++;
  });
  ws.on('error', () => undefined);
  live.add(ws);
}
for (let i = 0; i < CLIENTS; i++) connectOne();
await sleep(2000);

// ---- saturation probe --------------------------------------------------------------------------
{
  const until = Date.now() + 10_000;
  const before = published;
  await Promise.all(
    Array.from({ length: 64 }, async (_, k) => {
      for (let i = 0; Date.now() < until; i++) await publish(`soak-${(k * 31 + i) % CHANNELS}`, i);
    }),
  );
  const rate = (published - before) / 10;
  console.log(`saturation probe: ${rate.toFixed(0)} publishes/s with ${live.size} subscribers (64 concurrent HTTP callers)`);
  (globalThis as { soakRate?: number }).soakRate = Math.max(1, Math.floor(rate / 2));
}
const RATE = (globalThis as { soakRate?: number }).soakRate!;
console.log(`soak: ${MINUTES} min at ${RATE} publishes/s (half of saturation), ${CLIENTS} clients churning 5 %/s, ${CHANNELS} channels`);

// ---- the soak ----------------------------------------------------------------------------------
const end = Date.now() + MINUTES * 60_000;
let running = true;
const publisher = (async () => {
  let i = 0;
  while (running) {
    const tick = Date.now();
    const batch = Math.max(1, Math.round(RATE / 10));
    await Promise.all(Array.from({ length: batch }, () => publish(`soak-${i++ % CHANNELS}`, i)));
    await sleep(Math.max(0, 100 - (Date.now() - tick)));
  }
})();
const churn = setInterval(() => {
  const n = Math.ceil(CLIENTS * 0.05);
  const victims = [...live].slice(0, n);
  for (const ws of victims) {
    live.delete(ws);
    ws.close(1000);
  }
  for (let i = 0; i < n; i++) connectOne();
}, 1000);

interface Sample {
  at: number;
  rss: number;
  heap: number;
  lagP99: number;
  handles: number;
}
async function sample(): Promise<Sample> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const get = (name: string) => Number(new RegExp(`^river_${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    at: Date.now(),
    rss: get('process_resident_memory_bytes'),
    heap: get('nodejs_heap_size_used_bytes'),
    lagP99: get('nodejs_eventloop_lag_p99_seconds'),
    handles: get('nodejs_active_handles_total'),
  };
}
const samples: Sample[] = [];
const started = Date.now();
while (Date.now() < end) {
  await sleep(SAMPLE_MS);
  const s = await sample();
  samples.push(s);
  console.log(
    `${((s.at - started) / 1000).toFixed(0).padStart(5)} s  rss ${(s.rss / 2 ** 20).toFixed(1)} MiB  heap ${(s.heap / 2 ** 20).toFixed(1)} MiB  lag p99 ${(s.lagP99 * 1000).toFixed(1)} ms  handles ${s.handles}  clients ${live.size}  published ${published} (errors ${publishErrors})  received ${received}  connects ${connects}  unexpected closes ${unexpectedCloses}`,
  );
}
running = false;
clearInterval(churn);
await publisher;
for (const ws of live) ws.close(1000);

// ---- verdict -----------------------------------------------------------------------------------
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const usable = samples.slice(Math.ceil(samples.length * 0.1));
const third = Math.max(1, Math.floor(usable.length / 3));
const first = usable.slice(0, third);
const last = usable.slice(-third);
/** [name, pick, allowed relative growth, allowed absolute growth, unit] */
const checks: [string, (s: Sample) => number, number, number, string][] = [
  ['RSS', (s) => s.rss / 2 ** 20, 0.2, 20, 'MiB'],
  ['heap used', (s) => s.heap / 2 ** 20, 0.2, 10, 'MiB'],
  ['event-loop lag p99', (s) => s.lagP99 * 1000, 1, 50, 'ms'],
  ['active handles', (s) => s.handles, 0.1, 50, ''],
];
let failed = false;
for (const [name, pick, rel, abs, unit] of checks) {
  const a = median(first.map(pick));
  const b = median(last.map(pick));
  const grew = b - a > abs && b > a * (1 + rel);
  failed ||= grew;
  console.log(`${name}: ${a.toFixed(1)} ${unit} (first third) -> ${b.toFixed(1)} ${unit} (last third): ${grew ? 'GROWING' : 'flat'}`);
}
stopNode();
if (samples.length < 6) console.log('too few samples for a verdict (run at least a few minutes)');
process.exit(failed ? 1 : 0);
