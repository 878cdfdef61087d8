// Retries, timeouts and the token handler against a scripted node:http server.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { River, RiverError } from './index.js';

let server: Server | undefined;
async function stop(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s) return;
  s.closeAllConnections();
  await new Promise((r) => s.close(r));
}
afterEach(stop);

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
async function serve(handler: Handler): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, res, body));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, status: number, body: object) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const opts = { apiKey: 'k', retryDelay: () => 5 };

describe('@river/node HTTP behaviour', () => {
  it('retries 5xx and dropped connections with the same idempotency key, then succeeds', async () => {
    const seen: { auth?: string; key: string }[] = [];
    const url = await serve((req, res, body) => {
      seen.push({ auth: req.headers.authorization, key: (JSON.parse(body) as { idempotencyKey: string }).idempotencyKey });
      if (seen.length === 1) return json(res, 503, { error: { code: 'unavailable', message: 'bus down' } });
      if (seen.length === 2) return req.socket.destroy();
      json(res, 200, { channel: 'dogs', offset: 3 });
    });
    const river = new River({ url, ...opts, retries: 2 });
    await expect(river.publish('dogs', 'e', { a: 1 })).resolves.toEqual({ channel: 'dogs', offset: 3 });
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
    expect(seen[0]!.key).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[0]!.auth).toBe('Bearer k');
  });

  it('gives up after `retries` with the last error, and never retries a 4xx', async () => {
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      json(res, 503, { error: { code: 'unavailable', message: 'bus down' } });
    });
    const err = await new River({ url, ...opts, retries: 1 }).publish('dogs', 'e').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RiverError);
    expect(err).toMatchObject({ status: 503, code: 'unavailable', message: 'bus down' });
    expect(n).toBe(2);
    n = 0;
    server!.removeAllListeners('request');
    server!.on('request', (_req, res) => {
      n++;
      json(res, 400, { error: { code: 'bad_channel', message: 'bad' } });
    });
    await expect(new River({ url, ...opts }).publish('dogs', 'e')).rejects.toMatchObject({ status: 400, code: 'bad_channel' });
    expect(n).toBe(1);
  });

  it('times out each attempt with AbortSignal.timeout', async () => {
    const url = await serve(() => {}); // never answers
    const err = await new River({ url, ...opts, retries: 0, timeoutMs: 100 }).channel('dogs').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'timeout', status: undefined });
  });

  it('retries every 5xx except 501 and 505', async () => {
    let status = 500;
    let n = 0;
    const url = await serve((_req, res) => {
      n++;
      json(res, status, { error: { code: `e${status}`, message: 'x' } });
    });
    const river = new River({ url, ...opts, retries: 1 });
    for (const s of [500, 502, 503, 504, 507, 599, 501, 505]) {
      status = s;
      n = 0;
      await expect(river.channel('dogs')).rejects.toMatchObject({ status: s, code: `e${s}` });
      expect(n, `HTTP ${s}`).toBe(s === 501 || s === 505 ? 1 : 2);
    }
  });

  it('a timeout while a 2xx body is read is a timeout, retried with the same idempotency key', async () => {
    const keys: string[] = [];
    const url = await serve((_req, res, body) => {
      keys.push((JSON.parse(body) as { idempotencyKey: string }).idempotencyKey);
      const answer = JSON.stringify({ channel: 'dogs', offset: 9 });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(answer.length) });
      if (keys.length === 1)
        res.write(answer.slice(0, 5)); // the headers and part of the body, then silence
      else res.end(answer);
    });
    const river = new River({ url, ...opts, retries: 1, timeoutMs: 500 });
    await expect(river.publish('dogs', 'e', 1)).resolves.toEqual({ channel: 'dogs', offset: 9 });
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    // Out of retries: the error says timeout, not bad_response.
    keys.length = 0;
    server!.removeAllListeners('request');
    server!.on('request', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"chan');
    });
    await expect(new River({ url, ...opts, retries: 0, timeoutMs: 300 }).channel('dogs')).rejects.toMatchObject({
      code: 'timeout',
      status: undefined,
    });
  });

  it('a refused connection is a network_error', async () => {
    const url = await serve(() => {});
    await stop();
    await expect(new River({ url, ...opts, retries: 1 }).history('dogs')).rejects.toMatchObject({ code: 'network_error' });
  });

  it('builds the query and encodes channel names', async () => {
    const paths: string[] = [];
    const url = await serve((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      json(res, 200, {});
    });
    const river = new River({ url: `${url}/`, ...opts });
    await river.history('a:b', { since: 5, limit: 10 });
    await river.presence('presence-x');
    await river.disconnect('u1');
    expect(paths).toEqual([
      'GET /v1/channels/a%3Ab/history?since=5&limit=10',
      'GET /v1/channels/presence-x/presence',
      'POST /v1/disconnect',
    ]);
  });

  it('tokenHandler answers a verifiable JWT as text/plain, 401 when there is no user', async () => {
    const secret = 'token-handler-secret-0123456789-abcdefghijkl';
    const river = new River({ url: 'http://unused.invalid', secret });
    const handler = river.tokenHandler(
      (req) => (req.headers['x-user'] ? { sub: String(req.headers['x-user']), info: { name: 'Ada' } } : null),
      { expiresIn: 60 },
    );
    const url = await serve((req, res) => void handler(req, res));
    const ok = await fetch(`${url}/river-token`, { headers: { 'x-user': 'u7' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const { payload, protectedHeader } = await jwtVerify(await ok.text(), new TextEncoder().encode(secret));
    expect(protectedHeader.alg).toBe('HS256');
    expect(payload).toMatchObject({ sub: 'u7', info: { name: 'Ada' } });
    expect(payload.exp! - payload.iat!).toBe(60);
    const no = await fetch(`${url}/river-token`);
    expect(no.status).toBe(401);
  });

  it('validates its options', () => {
    expect(() => new River({ url: 'ftp://x', apiKey: 'k' })).toThrow('River: options.url must be the http(s) base URL of River');
    expect(() => new River({ url: 'http://x' })).toThrow(/apiKey/);
  });
});
