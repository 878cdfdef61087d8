/**
 * Test helpers: a node on 127.0.0.1:0 with fresh memory engines, JWT minting, HTTP calls, and a
 * raw `ws` client that queues every frame and waits for them with generous timeouts.
 */
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { loadConfig, type Config } from './config.js';
import { startRiver, type RiverDeps, type RiverNode } from './node.js';
import { startRedis, type RedisInstance } from '../../e2e/harness/redis.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const OLD_SECRET = 'old-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
export const API_KEY = 'test-api-key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const WAIT_MS = 8000;

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    RIVER_JWT_SECRET: SECRET,
    RIVER_API_KEY: API_KEY,
    RIVER_PORT: '0',
    RIVER_HOST: '127.0.0.1',
    RIVER_LOG_LEVEL: 'silent',
    ...env,
  });
}

export interface TestNode {
  node: RiverNode;
  config: Config;
  http(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  publish(body: unknown): Promise<{ status: number; body: any }>;
  connect(opts?: { origin?: string; autoPong?: boolean }): Promise<TestClient>;
  /** A connected, authenticated client. */
  client(claims?: Record<string, unknown>, opts?: { autoPong?: boolean }): Promise<TestClient>;
  close(): Promise<void>;
}

export async function startTestNode(env: Record<string, string> = {}, deps: RiverDeps = {}): Promise<TestNode> {
  const config = testConfig(env);
  const node = await startRiver(config, deps);
  const clients: TestClient[] = [];
  const t: TestNode = {
    node,
    config,
    async http(method, path, body, headers = {}) {
      const res = await fetch(`${node.urls.http}${path}`, {
        method,
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (metrics)
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    publish(body) {
      return t.http('POST', '/v1/publish', body);
    },
    async connect(opts = {}) {
      const c = await TestClient.connect(node.urls.ws, opts);
      clients.push(c);
      return c;
    },
    async client(claims = {}, opts = {}) {
      const c = await t.connect(opts);
      await c.auth(await token({ sub: 'u1', ...claims }));
      return c;
    },
    async close() {
      for (const c of clients) c.terminate();
      await node.close();
    },
  };
  return t;
}

/** Signs a client token with the test secret (HS256) unless told otherwise. */
export async function token(
  claims: Record<string, unknown>,
  opts: { secret?: string; expiresIn?: string | number; notBefore?: string | number } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (opts.expiresIn !== undefined) jwt.setExpirationTime(opts.expiresIn);
  if (opts.notBefore !== undefined) jwt.setNotBefore(opts.notBefore);
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

export async function waitFor<T>(
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export type Frame = { type: string; [k: string]: any };

export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];
  private seq = 0;

  private constructor(
    readonly ws: WebSocket,
    private readonly autoPong: boolean,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (frame.type === 'ping' && this.autoPong) {
        this.send({ type: 'pong' });
        return;
      }
      this.frames.push(frame);
      this.wake();
    });
  }

  static connect(url: string, opts: { origin?: string; autoPong?: boolean } = {}): Promise<TestClient> {
    const ws = new WebSocket(url, opts.origin === undefined ? {} : { origin: opts.origin });
    const c = new TestClient(ws, opts.autoPong ?? true);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
      );
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Removes and returns the first queued frame matching, waiting for it. */
  async next(match: string | ((f: Frame) => boolean), timeoutMs = WAIT_MS): Promise<Frame> {
    const pred = typeof match === 'string' ? (f: Frame) => f.type === match : match;
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i !== -1) return this.frames.splice(i, 1)[0]!;
      if (this.closeInfo !== undefined) throw new Error(`connection closed (${this.closeInfo.code}) while waiting for ${String(match)}`);
      const left = end - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${typeof match === 'string' ? match : 'a frame'}; have ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request frame with a fresh id and waits for the reply carrying it. */
  async request(frame: Record<string, unknown>): Promise<Frame> {
    const id = ++this.seq;
    this.send({ ...frame, id });
    return this.next((f) => f.id === id);
  }

  /** The `ready` frame, once authenticated. */
  ready: Frame | undefined;

  async auth(tokenText: string): Promise<Frame> {
    this.send({ type: 'auth', token: tokenText });
    this.ready = await this.next('ready');
    return this.ready;
  }

  subscribe(channel: string, since?: { offset: number; epoch: string }): Promise<Frame> {
    return this.request({ type: 'subscribe', channel, ...(since ? { since } : {}) });
  }

  /** Waits for `n` message frames of `channel`. */
  async messages(channel: string, n: number, timeoutMs = WAIT_MS): Promise<Frame[]> {
    const out: Frame[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next((f) => f.type === 'message' && f.channel === channel, timeoutMs));
    return out;
  }

  async waitClose(timeoutMs = WAIT_MS): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs).unref()),
    ]);
  }

  close(): void {
    this.ws.close();
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface RedisWithAdmin extends RedisInstance {
  /** A connection of the test's own, to look at and change keys (one attempt per command, errors ignored). */
  admin: Redis;
  /** Closes the admin connection and stops the server (`stop()` alone stops only the server, as for an outage). */
  close(): Promise<void>;
}

/** A throwaway redis-server (e2e/harness/redis.ts) with an admin connection. */
export async function startRedisWithAdmin(): Promise<RedisWithAdmin> {
  const redis = await startRedis();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  // The instance itself: its pid follows a restart.
  return Object.assign(redis, {
    admin,
    async close() {
      admin.disconnect();
      await redis.stop();
    },
  });
}
