/** IPC messages between the coordinator (pool.ts) and its worker processes (worker.ts). */
import type { ConnectSpec } from './lean-client.js';
import type { SparseHistogram } from './stats.js';

export interface OpenSpec {
  /** Connections opened under one name can be closed together. */
  group: string;
  target: Omit<ConnectSpec, 'channel' | 'token' | 'localAddress'>;
  count: number;
  /** Index of this worker's first connection in the whole run (subs and channels use it). */
  firstIndex: number;
  /** Channel to subscribe; `{i}` is replaced by the connection's index. */
  channel: string;
  /** Connections in flight at once. */
  concurrency: number;
  /** Mint one token per connection (sub = subPrefix + index), or use one given token for all. */
  auth: { secret: string; subPrefix: string } | { token: string };
  /** Source addresses to spread connections over (empty: let the OS choose). */
  localAddresses: string[];
}

export type WorkerCommand =
  | { id: number; cmd: 'open'; spec: OpenSpec }
  | { id: number; cmd: 'reset' }
  | { id: number; cmd: 'stats' }
  | { id: number; cmd: 'close'; group?: string }
  | { id: number; cmd: 'pause'; group: string; paused: boolean };

export interface WorkerReply {
  id: number;
  ok: boolean;
  error?: string;
  result?: unknown;
}

export interface OpenResult {
  ok: number;
  failed: number;
  firstError: string;
  elapsedMs: number;
  /** Connect → subscribed time of each connection, ms. */
  handshakes: SparseHistogram;
}

export interface WorkerStats {
  messages: number;
  presence: number;
  other: number;
  open: number;
  dropped: number;
  errors: number;
  lastError: string;
  closes: Record<string, number>;
  hist: SparseHistogram;
  /** The worker process's own CPU time so far, ms. */
  cpuMs: number;
}
