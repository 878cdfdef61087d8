/**
 * Latency histogram cheap enough to record every delivered message in the load generator, and the
 * small statistics the report needs. Buckets: 0.05 ms wide up to 100 ms, then 1 ms wide up to
 * 10.1 s, then one overflow bucket; the maximum is kept exactly.
 */
const FINE_BUCKETS = 2000; // 0.05 ms each → 100 ms
const FINE_WIDTH = 0.05;
const COARSE_BUCKETS = 10_000; // 1 ms each → 10.1 s
const TOTAL = FINE_BUCKETS + COARSE_BUCKETS + 1;

export class Histogram {
  readonly buckets = new Uint32Array(TOTAL);
  count = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    if (!(ms >= 0)) ms = 0; // clock skew between processes can give tiny negatives; NaN → 0
    let i: number;
    if (ms < FINE_BUCKETS * FINE_WIDTH) i = Math.floor(ms / FINE_WIDTH);
    else if (ms < FINE_BUCKETS * FINE_WIDTH + COARSE_BUCKETS) i = FINE_BUCKETS + Math.floor(ms - FINE_BUCKETS * FINE_WIDTH);
    else i = TOTAL - 1;
    this.buckets[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** Sparse form for IPC: [bucket, count] pairs plus the totals. */
  toJSON(): SparseHistogram {
    const pairs: [number, number][] = [];
    for (let i = 0; i < TOTAL; i++) if (this.buckets[i] !== 0) pairs.push([i, this.buckets[i]!]);
    return { pairs, count: this.count, max: this.max, sum: this.sum };
  }

  merge(h: SparseHistogram): void {
    for (const [i, c] of h.pairs) this.buckets[i]! += c;
    this.count += h.count;
    this.sum += h.sum;
    if (h.max > this.max) this.max = h.max;
  }

  /** Upper edge of the bucket holding quantile q (0 < q ≤ 1), capped at the exact maximum; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < TOTAL; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }
}

function upperEdge(i: number): number {
  if (i < FINE_BUCKETS) return (i + 1) * FINE_WIDTH;
  if (i < FINE_BUCKETS + COARSE_BUCKETS) return FINE_BUCKETS * FINE_WIDTH + (i - FINE_BUCKETS + 1);
  return Infinity;
}

export interface SparseHistogram {
  pairs: [number, number][];
  count: number;
  max: number;
  sum: number;
}

export interface LatencySummary {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

export function summarize(h: Histogram): LatencySummary {
  return { p50: h.quantile(0.5), p99: h.quantile(0.99), max: h.max, samples: h.count };
}

/** Microseconds of CPU per delivered message; NaN when nothing was delivered. */
export function usPerMessage(cpuMs: number, delivered: number): number {
  return delivered > 0 ? (cpuMs * 1000) / delivered : NaN;
}

/** a / b, NaN when either is missing. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN;
  return a / b;
}

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across local processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A Redis Cluster's publish throughput in units of one master's, each master on its own core:
 * master k saturates at 1 s ÷ `perMaster[k]` (its Redis CPU per publish when it carries the whole
 * load) and carries `shares[k]` of the publishes, so the cluster saturates when its most loaded
 * master does: min_k (1 ÷ perMaster[k]) ÷ shares[k], over one master's 1 ÷ `one`.
 * NaN when the inputs do not describe a cluster (lengths differ, a share or cost is not positive).
 */
export function clusterScaling(one: number, perMaster: number[], shares: number[]): number {
  if (perMaster.length === 0 || perMaster.length !== shares.length || !(one > 0)) return Number.NaN;
  if (perMaster.some((c) => !(c > 0)) || shares.some((s) => !(s >= 0))) return Number.NaN;
  const total = shares.reduce((s, n) => s + n, 0);
  if (!(total > 0)) return Number.NaN;
  // A master with no channels limits nothing; the others carry everything between them.
  return Math.min(...perMaster.map((c, k) => (shares[k]! === 0 ? Number.POSITIVE_INFINITY : one / c / (shares[k]! / total))));
}
