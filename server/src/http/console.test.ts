import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { isLoopbackHost } from './console.js';
import { startRiver } from '../node.js';
import { SECRET, startTestNode, TestClient } from '../test-support.js';

const KEY = randomBytes(32).toString('base64url');

const CONSOLE = { 'x-river-console': '1' };

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers: { ...CONSOLE, ...headers } });
  const text = await res.text();
  return { status: res.status, text, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
}

describe('the console (docs/console.md)', () => {
  it('is off by default: /console and its API are 404', async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY });
    try {
      expect((await get(`${t.node.urls.http}/console`)).status).toBe(404);
      expect((await get(`${t.node.urls.http}/console/api/state`, { authorization: `Bearer ${KEY}` })).status).toBe(404);
    } finally {
      await t.close();
    }
  });

  it('RIVER_CONSOLE=on: the page is served, its API needs the API key and shows connections and channels', async () => {
    const t = await startTestNode({ RIVER_API_KEY: KEY, RIVER_CONSOLE: 'on' });
    try {
      const page = await get(`${t.node.urls.http}/console`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('<title>River console</title>');
      expect(page.text).not.toContain(KEY);
      expect((await get(`${t.node.urls.http}/console/api/state`)).status).toBe(401);
      expect((await get(`${t.node.urls.http}/console/api/state`, { authorization: 'Bearer wrong' })).status).toBe(401);
      const c = await t.client({ sub: 'carol' });
      await c.subscribe('dogs');
      await t.http('POST', '/v1/publish', { channel: 'dogs', event: 'e', data: 1 }, { authorization: `Bearer ${KEY}` });
      const state = await get(`${t.node.urls.http}/console/api/state`, { authorization: `Bearer ${KEY}` });
      expect(state.status).toBe(200);
      expect(state.body.nodes).toHaveLength(1);
      expect(state.body.nodes[0].connections).toEqual([expect.objectContaining({ userId: 'carol', channels: ['dogs'] })]);
      expect(state.body.nodes[0].published).toBe(1);
      expect(state.body.channels).toEqual([{ name: 'dogs', subscribers: 1, offset: 1 }]);
      const viaConsole = await get(`${t.node.urls.http}/console/api/v1/channels/dogs/history?since=0`);
      expect(viaConsole.status).toBe(401);
    } finally {
      await t.close();
    }
  });

  it('under river dev on 127.0.0.1 it is open: no key asked, the HTTP API reached through it', async () => {
    const config = loadConfig({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_PORT: '0', RIVER_HOST: '127.0.0.1' }, { dev: true });
    expect(config.console).toBe('open');
    expect(loadConfig({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_HOST: '0.0.0.0' }, { dev: true }).console).toBe('on');
    expect(loadConfig({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_CONSOLE: 'off' }, { dev: true }).console).toBe('off');
    const node = await startRiver(config);
    try {
      const res = await fetch(`${node.urls.http}/console/api/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...CONSOLE },
        body: JSON.stringify({ channel: 'dogs', event: 'from-console', data: { a: 1 } }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ channel: 'dogs', offset: 1 });
      const hist = await get(`${node.urls.http}/console/api/v1/channels/dogs/history?since=0`);
      expect(hist.body.messages).toEqual([expect.objectContaining({ event: 'from-console', data: { a: 1 }, offset: 1 })]);
      // The HTTP API itself still needs the key.
      expect((await get(`${node.urls.http}/v1/channels/dogs`)).status).toBe(401);
      // The tap needs no key either, from a non-browser client or the console's own origin ...
      const tapUrl = node.urls.ws.replace('/v1/ws', '/v1/tap');
      for (const origin of [undefined, node.urls.http]) {
        const tap = await TestClient.connect(tapUrl, origin === undefined ? {} : { origin });
        tap.send({ type: 'tap', channels: ['dogs'] });
        await tap.next('tapping');
        tap.terminate();
      }
      // ... but another site's page gets neither the tap nor the console API without the key.
      const foreign = await TestClient.connect(tapUrl, { origin: 'https://evil.example' });
      foreign.send({ type: 'tap', channels: ['*'] });
      expect((await foreign.waitClose()).code).toBe(4500);
      const simple = await fetch(`${node.urls.http}/console/api/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ channel: 'dogs', event: 'csrf', data: 1 }),
      });
      expect(simple.status).toBe(403);
      // DNS rebinding: a Host that is not a loopback name is refused.
      const { port } = new URL(node.urls.http);
      const rebound = await new Promise<number>((resolve, reject) => {
        const r = request(
          { host: '127.0.0.1', port, path: '/console/api/state', headers: { host: `evil.example:${port}`, ...CONSOLE } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        r.on('error', reject);
        r.end();
      });
      expect(rebound).toBe(401);
    } finally {
      await node.close();
    }
  });

  it('isLoopbackHost', () => {
    for (const h of ['127.0.0.1', '127.0.0.1:4400', 'localhost:4400', 'LOCALHOST', '[::1]:4400', '127.1.2.3'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [undefined, '', 'evil.example', '127.0.0.1.evil.example', '10.0.0.1:4400', '[::2]'])
      expect(isLoopbackHost(h), String(h)).toBe(false);
  });
});
