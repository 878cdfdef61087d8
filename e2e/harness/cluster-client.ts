/**
 * A tiny reconnecting River client for the multi-node e2e tests, on raw `ws` (independent of the
 * SDK): authenticates, subscribes its channels, answers pings, and after every drop reconnects
 * (to the same URL, normally the load balancer) and resubscribes with `since` = the last offset it
 * got. It records every message offset it receives, duplicates included, so tests can count.
 */
import { signToken } from '@river/node';
import WebSocket from 'ws';

export function mintToken(secret: string, claims: { sub: string; info?: Record<string, unknown> }, ttlSeconds = 3600): Promise<string> {
  return signToken(secret, claims, { expiresIn: ttlSeconds });
}

export interface Frame {
  type: string;
  [k: string]: unknown;
}

export interface ClientOptions {
  url: string;
  token: string;
  channels: string[];
  /** Reconnect after a close not asked for by the test. Default true. */
  reconnect?: boolean;
}

export class ClusterClient {
  /** Offsets received per channel, in arrival order (duplicates kept). */
  readonly offsets = new Map<string, number[]>();
  /** Every `subscribed` frame. */
  readonly subscribed: Frame[] = [];
  readonly presence: Frame[] = [];
  readonly closes: number[] = [];
  /** When each close happened (Date.now()), beside `closes`. */
  readonly closeTimes: number[] = [];
  readonly frames: Frame[] = [];
  connects = 0;
  connectionId = '';
  private readonly positions = new Map<string, { epoch: string; offset: number }>();
  private ws: WebSocket | undefined;
  private stopped = false;
  private readyResolvers: (() => void)[] = [];

  constructor(private readonly opts: ClientOptions) {
    for (const c of opts.channels) this.offsets.set(c, []);
  }

  /** Connects and resolves when every channel is subscribed. */
  async start(timeoutMs = 10_000): Promise<void> {
    const ready = new Promise<void>((resolve) => this.readyResolvers.push(resolve));
    this.connect();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `not subscribed within ${timeoutMs} ms (connects: ${this.connects}, closes: ${this.closes.join(',')}, frames: ${JSON.stringify(this.frames.slice(-8))})`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The channels it subscribes. */
  get channels(): readonly string[] {
    return this.opts.channels;
  }

  get open(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Resolves at the next moment every channel is (re)subscribed. */
  nextReady(): Promise<void> {
    return new Promise((resolve) => this.readyResolvers.push(resolve));
  }

  close(): void {
    this.stopped = true;
    this.ws?.close(1000);
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.opts.url);
    this.ws = ws;
    let pendingSubs = new Set<string>();
    ws.on('open', () => {
      this.connects += 1;
      ws.send(JSON.stringify({ type: 'auth', token: this.opts.token }));
    });
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as Frame;
      this.frames.push(f);
      switch (f.type) {
        case 'ready':
          this.connectionId = f.connectionId as string;
          pendingSubs = new Set(this.opts.channels);
          for (const channel of this.opts.channels) {
            const since = this.positions.get(channel);
            ws.send(JSON.stringify({ type: 'subscribe', channel, ...(since ? { since } : {}) }));
          }
          if (this.opts.channels.length === 0) this.fireReady();
          break;
        case 'subscribed': {
          this.subscribed.push(f);
          const channel = f.channel as string;
          const known = this.positions.get(channel);
          // Fresh start, or history could not fill the gap: continue from the current position.
          if (known === undefined || f.recovered === false)
            this.positions.set(channel, { epoch: f.epoch as string, offset: f.offset as number });
          pendingSubs.delete(channel);
          if (pendingSubs.size === 0) this.fireReady();
          break;
        }
        case 'message': {
          const channel = f.channel as string;
          this.offsets.get(channel)?.push(f.offset as number);
          const pos = this.positions.get(channel);
          if (pos) pos.offset = f.offset as number;
          break;
        }
        case 'presence':
          this.presence.push(f);
          break;
        case 'ping':
          ws.send('{"type":"pong"}');
          break;
        case 'error':
          // A node whose bus is not back yet refuses the subscribe (`unavailable`): retry, like the SDK.
          if (f.code === 'unavailable' && typeof f.channel === 'string') {
            const channel = f.channel;
            setTimeout(() => {
              if (ws.readyState !== WebSocket.OPEN) return;
              const since = this.positions.get(channel);
              ws.send(JSON.stringify({ type: 'subscribe', channel, ...(since ? { since } : {}) }));
            }, 200);
          }
          break;
        default:
          break;
      }
    });
    ws.on('close', (code) => {
      this.closes.push(code);
      this.closeTimes.push(Date.now());
      if (this.stopped || this.opts.reconnect === false || code >= 4500) return;
      setTimeout(() => this.connect(), code === 4000 ? 0 : 100 + Math.random() * 200);
    });
    ws.on('error', () => undefined);
  }

  private fireReady(): void {
    for (const r of this.readyResolvers.splice(0)) r();
  }
}

/** POSTs to the HTTP API; retries network errors and 5xx with the same idempotency key until `deadlineMs`. */
export async function api(
  base: string | (() => string),
  apiKey: string,
  path: string,
  body?: unknown,
  deadlineMs = 15_000,
): Promise<{ status: number; json: any }> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const url = typeof base === 'string' ? base : base();
    try {
      const r = await fetch(`${url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      const json: unknown = await r.json().catch(() => null);
      if (r.status < 500 || Date.now() > until) return { status: r.status, json };
    } catch (err) {
      if (Date.now() > until) throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Checks a client saw offsets 1..n of a channel, each exactly once, in order. */
export function countOf(offsets: number[], n: number): { lost: number; duplicated: number; outOfOrder: number } {
  const seen = new Map<number, number>();
  let outOfOrder = 0;
  for (let i = 0; i < offsets.length; i++) {
    seen.set(offsets[i]!, (seen.get(offsets[i]!) ?? 0) + 1);
    if (i > 0 && offsets[i]! <= offsets[i - 1]!) outOfOrder++;
  }
  let lost = 0;
  let duplicated = 0;
  for (let o = 1; o <= n; o++) {
    const k = seen.get(o) ?? 0;
    if (k === 0) lost++;
    else duplicated += k - 1;
  }
  return { lost, duplicated, outOfOrder };
}
