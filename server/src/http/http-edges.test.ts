/**
 * The HTTP edges (issue 14, items 3 and 4), from the outside with raw sockets: the API key is checked
 * before the body is read, slow requests are cut at RIVER_HTTP_REQUEST_TIMEOUT_MS, and routing is on
 * the raw path (dot segments 400, `//host/` a path).
 */
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { API_KEY, startTestNode, type TestNode } from '../test-support.js';

let t: TestNode | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

interface Raw {
  socket: Socket;
  /** Everything received. */
  text: () => string;
  closed: Promise<number>;
}

function open(url: string): Promise<Raw> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ port: Number(port), host: '127.0.0.1' });
    let text = '';
    const start = Date.now();
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - start)));
    socket.on('data', (d) => {
      text += d.toString();
    });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve({ socket, text: () => text, closed }));
    socket.once('error', reject);
  });
}

async function get(url: string, path: string): Promise<number> {
  const raw = await open(url);
  raw.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nConnection: close\r\n\r\n`);
  await raw.closed;
  return Number(/^HTTP\/1\.1 (\d+)/.exec(raw.text())?.[1] ?? 0);
}

describe('HTTP edges', () => {
  it('answers 401 from the headers: 1,000 keyless bodies (69,000 of 69,001 bytes sent) are refused and closed at once', async () => {
    t = await startTestNode();
    const url = t.node.urls.http;
    const body = Buffer.alloc(69_000, 'a');
    const raws = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const raw = await open(url);
        raw.socket.write(`POST /v1/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 69001\r\n\r\n`);
        raw.socket.write(body);
        return raw;
      }),
    );
    const took = await Promise.all(raws.map((r) => r.closed));
    for (const r of raws) expect(r.text()).toMatch(/^HTTP\/1\.1 401 /);
    // Closed about 1 s after the answer (what arrived meanwhile discarded), never waiting for the body.
    expect(Math.max(...took)).toBeLessThan(8000);
  }, 60_000);

  it('cuts 1,000 slow bodies (1 byte a second, with the key) at RIVER_HTTP_REQUEST_TIMEOUT_MS', async () => {
    t = await startTestNode({ RIVER_HTTP_REQUEST_TIMEOUT_MS: '2000' });
    const url = t.node.urls.http;
    const raws = await Promise.all(
      Array.from({ length: 1000 }, async () => {
        const raw = await open(url);
        raw.socket.write(
          `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
        );
        const drip = setInterval(() => raw.socket.write(' '), 1000);
        void raw.closed.then(() => clearInterval(drip));
        return raw;
      }),
    );
    const took = await Promise.all(raws.map((r) => r.closed));
    // 2 s timeout, checked every second: all closed well before 120 s (generous for a loaded machine).
    expect(Math.max(...took)).toBeLessThan(10_000);
    expect(Math.min(...took)).toBeGreaterThanOrEqual(1500);
    // Node answers 408 when it can, or just closes: never a publish.
    expect(raws.filter((r) => /^HTTP\/1\.1 200 /.test(r.text()))).toEqual([]);
  }, 60_000);

  it('cuts a request whose headers never end', async () => {
    t = await startTestNode({ RIVER_HTTP_REQUEST_TIMEOUT_MS: '1000' });
    const raw = await open(t.node.urls.http);
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => raw.socket.write('X-A: b\r\n'), 300);
    const took = await raw.closed;
    clearInterval(drip);
    expect(took).toBeLessThan(8000);
  });

  it('routes on the raw path: dot segments (raw or %2e) are 400, //host/ is a path', async () => {
    t = await startTestNode({ RIVER_METRICS_TOKEN: 'metrics-token-0123456789abcdefghijklmnopqrstuv' });
    const url = t.node.urls.http;
    for (const path of [
      '/x/../metrics',
      '/%2e/metrics',
      '/%2E%2E/metrics',
      '/v1/./publish',
      '/v1/channels/./history',
      '/v1/channels/../history',
      '/v1/channels/%2e/history',
      '/v1/channels/.%2E',
      '/healthz/..',
    ]) {
      expect(await get(url, path), path).toBe(400);
    }
    expect(await get(url, '//evil.example/metrics')).toBe(404);
    expect(await get(url, '/metrics/')).toBe(404);
    expect(await get(url, '/v1/channels/a.b/history')).toBe(200);
    expect(await get(url, '/healthz')).toBe(200);
  });
});
