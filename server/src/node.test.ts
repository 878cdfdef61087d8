import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestNode, TestClient, waitFor } from './test-support.js';

describe('node lifecycle (docs/protocol.md#9-draining-and-deploys) and upgrades', () => {
  it('checks RIVER_ALLOWED_ORIGINS on upgrade (403) and the path (404)', async () => {
    const t = await startTestNode({ RIVER_ALLOWED_ORIGINS: 'https://app.example,https://*.preview.example' });
    try {
      await expect(t.connect({ origin: 'https://evil.example' })).rejects.toMatchObject({ status: 403 });
      const ok = await t.connect({ origin: 'https://app.example' });
      await ok.auth(await import('./test-support.js').then((m) => m.token({ sub: 'o' })));
      await t.connect({ origin: 'https://pr-1.preview.example' });
      await t.connect(); // no Origin header: not a browser
      await expect(TestClient.connect(t.node.urls.ws.replace('/v1/ws', '/elsewhere'))).rejects.toMatchObject({ status: 404 });
    } finally {
      await t.close();
    }
  });

  it('survives clients that reset the connection right after a refused upgrade', async () => {
    const t = await startTestNode();
    try {
      const { port } = new URL(t.node.urls.http);
      const request =
        'GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<void>((resolve) => {
              const s = net.connect(Number(port), '127.0.0.1', () => {
                s.write(request);
                setTimeout(() => {
                  s.resetAndDestroy();
                  resolve();
                }, 1);
              });
              s.on('error', () => resolve());
            }),
        ),
      );
      await new Promise((r) => setTimeout(r, 200));
      expect((await t.http('GET', '/healthz')).status).toBe(200);
      const c = await t.client({ sub: 'still-here' });
      expect(c).toBeDefined();
    } finally {
      await t.close();
    }
  });

  it('drains: readyz 503 at once, upgrades refused, every client closed 4000 over drainMs, then stops', async () => {
    const t = await startTestNode({ RIVER_DRAIN_MS: '600' });
    const clients = await Promise.all(Array.from({ length: 6 }, () => t.client()));
    const closedAt: number[] = [];
    for (const c of clients) void c.closed.then(() => closedAt.push(Date.now()));
    const started = Date.now();
    const drained = t.node.drain();
    expect(t.node.ready).toBe(false);
    const readyz = await fetch(`${t.node.urls.http}/readyz`);
    expect(readyz.status).toBe(503);
    await expect(t.connect()).rejects.toMatchObject({ status: 503 });
    const codes = await Promise.all(clients.map((c) => c.waitClose().then((i) => i.code)));
    expect(codes).toEqual(Array(6).fill(4000));
    await drained;
    // Spread out: the last close comes well after the first (not all in one burst).
    expect(Math.max(...closedAt) - started).toBeGreaterThan(300);
    await expect(fetch(`${t.node.urls.http}/healthz`)).rejects.toThrow();
    await t.close();
  });

  it('closes at once', async () => {
    const t = await startTestNode();
    const c = await t.client();
    await t.node.close();
    expect((await c.waitClose()).code).toBe(1006);
    await waitFor(() => t.node.ready === false, 'not ready');
  });
});

describe('startRiver errors', () => {
  it('reports a port in use as a ConfigError naming RIVER_PORT', async () => {
    const t = await startTestNode();
    try {
      const { startRiver } = await import('./node.js');
      const { testConfig } = await import('./test-support.js');
      await expect(startRiver(testConfig({ RIVER_PORT: String(t.node.port) }))).rejects.toMatchObject({
        code: 'config_invalid',
        message: expect.stringContaining('RIVER_PORT'),
      });
    } finally {
      await t.close();
    }
  });
});
