/**
 * Publishes over River's HTTP API (the baselines speak the same shape) through one keep-alive agent,
 * each message stamped with the send time so receivers can measure publish→deliver latency.
 */
import http from 'node:http';
import https from 'node:https';
import { nowMs } from './stats.js';

/** Payload padding: a River message frame is then ~150 bytes, a Socket.IO one ~80, a raw record 100. */
const PAD = 'x'.repeat(30);

export function stampedData(pad = PAD): { t: number; p: string } {
  return { t: nowMs(), p: pad };
}

export class PublishError extends Error {
  readonly code = 'bench_publish';
}

export class Publisher {
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly base: URL;
  ok = 0;
  failed = 0;
  lastError = '';

  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    maxSockets = 32,
  ) {
    this.base = new URL(baseUrl);
    this.mod = this.base.protocol === 'https:' ? https : http;
    this.agent = new this.mod.Agent({ keepAlive: true, maxSockets });
  }

  publish(channel: string): Promise<void> {
    return this.post('/v1/publish', { channel, event: 'm', data: stampedData() });
  }

  /** `coalesce` is read only by the raw floor server (records per write). */
  batch(channel: string, n: number, coalesce?: number, pad?: string): Promise<void> {
    const messages = Array.from({ length: n }, () => ({ channel, event: 'm', data: stampedData(pad) }));
    return this.post('/v1/batch', { messages, ...(coalesce ? { coalesce } : {}) });
  }

  post(path: string, body: unknown): Promise<void> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise<void>((resolve) => {
      const req = this.mod.request(
        new URL(path, this.base),
        {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${this.apiKey}` },
          timeout: 30_000,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) this.ok++;
            else {
              this.failed++;
              this.lastError = `${path}: HTTP ${res.statusCode} ${Buffer.concat(parts).toString('utf8').slice(0, 200)}`;
            }
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new PublishError('publish timed out')));
      req.on('error', (err) => {
        this.failed++;
        this.lastError = `${path}: ${err.message}`;
        resolve();
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * Calls `send` `count` times, evenly spaced over `count × intervalMs`, with at most `maxInFlight`
 * outstanding; resolves when every call has settled. Sends that fall behind schedule go out at once.
 */
export async function paced(count: number, intervalMs: number, send: () => Promise<void>, maxInFlight = 64): Promise<void> {
  const start = performance.now();
  let sent = 0;
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  while (sent < count) {
    const due = Math.min(count, Math.floor((performance.now() - start) / intervalMs) + 1);
    while (sent < due && inFlight < maxInFlight) {
      inFlight++;
      sent++;
      pending.push(send().finally(() => inFlight--));
    }
    if (sent < count) {
      const wait = start + sent * intervalMs - performance.now();
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(wait, 50))));
    }
  }
  await Promise.all(pending);
}
