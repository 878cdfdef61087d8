/**
 * Memory of the embedded bus's history: N channels with one message each (and one idempotency key
 * each) must all be freed once their TTL has passed, by the engine's own sweep timer.
 *
 *   node --expose-gc --import tsx bench/history-memory.ts [channels]   (default 100000)
 *
 * Prints heapUsed and RSS at baseline, after filling and after the TTL, and exits 1 unless
 * heapUsed comes back within max(2 MiB, 5 % of what filling added) of the baseline. RSS is shown
 * for information only: V8 keeps freed pages for reuse instead of returning them to the OS at once.
 * The bus runs on an injected clock (frozen while filling, then moved past the TTL), so the figures
 * do not depend on how fast the machine fills; the sweep itself is the engine's real interval timer.
 */
import { MemoryBus } from '../server/src/engines/memory/memory-bus.js';

const channels = Number(process.argv[2] ?? 100_000);
const ttlSeconds = 60;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with: node --expose-gc --import tsx bench/history-memory.ts');
  process.exit(2);
}

let clock = Date.now();
const bus = new MemoryBus({
  historySize: 100,
  historyTtlSeconds: ttlSeconds,
  idempotencyWindowMs: ttlSeconds * 1000,
  now: () => clock,
  sweepIntervalMs: 100,
});
await bus.start({ message: () => {}, control: () => 0 });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
function measure() {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}
async function fill(n: number, prefix: string) {
  const text = 'x'.repeat(60);
  for (let i = 0; i < n; i++) {
    await bus.publish({ channel: `${prefix}-${i}`, event: 'new-post', data: { i, text }, idempotencyKey: `key-${i}` });
  }
}
async function expireAll() {
  clock += ttlSeconds * 1000 + 1;
  const deadline = Date.now() + 10_000;
  while (bus.stats().channels + bus.stats().idempotencyKeys > 0) {
    if (Date.now() > deadline) throw new Error(`the sweep timer did not empty the bus: ${JSON.stringify(bus.stats())}`);
    await sleep(50);
  }
}

// Warm up the code paths and the maps' machinery so the baseline holds what a running node holds.
await fill(2000, 'warm');
await expireAll();
const baseline = measure();

const t0 = performance.now();
await fill(channels, 'room');
const fillMs = performance.now() - t0;
const filledStats = bus.stats();
const filled = measure();

const t1 = performance.now();
await expireAll();
const sweepWaitMs = performance.now() - t1;
const after = measure();
const afterStats = bus.stats();
await bus.close();

const added = filled.heapUsed - baseline.heapUsed;
const margin = Math.max(2 * 1048576, 0.05 * added);
const residue = after.heapUsed - baseline.heapUsed;
const ok = filledStats.channels === channels && afterStats.channels === 0 && afterStats.idempotencyKeys === 0 && residue <= margin;

console.log(`channels: ${channels} (one ~100-byte message and one idempotency key each), history TTL ${ttlSeconds} s`);
console.log(`baseline       heapUsed ${mib(baseline.heapUsed)}  rss ${mib(baseline.rss)}`);
console.log(
  `after filling  heapUsed ${mib(filled.heapUsed)}  rss ${mib(filled.rss)}  stats ${JSON.stringify(filledStats)}  (${fillMs.toFixed(0)} ms, ${(added / channels).toFixed(0)} B/channel)`,
);
console.log(
  `after TTL      heapUsed ${mib(after.heapUsed)}  rss ${mib(after.rss)}  stats ${JSON.stringify(afterStats)}  (swept within ${sweepWaitMs.toFixed(0)} ms)`,
);
console.log(`residue over baseline: ${mib(residue)} (allowed ${mib(margin)}): ${ok ? 'OK' : 'FAIL'}`);
process.exit(ok ? 0 : 1);
