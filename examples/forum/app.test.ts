// The forum app's HTTP routes against a real River node (in-process): save-then-publish, escaping,
// the token endpoint and the JSON store.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { River } from '@river/node';
import { createForumApp } from './app.js';
import { PostStore } from './store.js';

const SECRET = 'forum-unit-secret-0123456789-abcdefghijklmnopqr';
const API_KEY = 'forum-unit-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
let node: RiverNode;
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  node = await startRiver(
    loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_LOG_LEVEL: 'silent' }),
  );
  dir = await mkdtemp(join(tmpdir(), 'river-forum-unit-'));
  const { app } = await createForumApp({
    riverUrl: node.urls.http,
    apiKey: API_KEY,
    secret: SECRET,
    dataFile: join(dir, 'posts.json'),
    tokenTtl: 120,
    log: () => {},
  });
  server = await new Promise<Server>((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await node?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('forum app', () => {
  it('gives each browser a user cookie and renders the forum with its stream position', async () => {
    const res = await fetch(`${base}/f/dogs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/^forum_user=[a-f0-9]{16}\.[A-Za-z0-9-]+;/);
    const html = await res.text();
    const config = JSON.parse(/<script type="application\/json" id="forum-config">(.*?)<\/script>/.exec(html)![1]!);
    expect(config).toMatchObject({
      forum: 'dogs',
      channel: 'dogs',
      presence: 'presence-forum-dogs',
      wsUrl: node.urls.ws,
      since: { offset: 0 },
    });
    expect((await fetch(`${base}/f/hamsters`)).status).toBe(404);
  });

  it('saves a post, then publishes it to the forum channel; the page renders it escaped', async () => {
    const cookie = 'forum_user=0123456789abcdef.Test-User';
    const res = await fetch(`${base}/f/cats/posts`, {
      method: 'POST',
      headers: { cookie, accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ text: '<script>alert(1)</script> hi' }),
    });
    expect(res.status).toBe(201);
    const { post, published } = (await res.json()) as { post: { id: number; author: string }; published: boolean };
    expect(published).toBe(true);
    expect(post.author).toBe('Test User');
    const history = await new River({ url: node.urls.http, apiKey: API_KEY }).history('cats');
    expect(history.messages).toEqual([
      expect.objectContaining({ event: 'new-post', data: expect.objectContaining({ id: post.id, text: '<script>alert(1)</script> hi' }) }),
    ]);
    const html = await (await fetch(`${base}/f/cats`, { headers: { cookie } })).text();
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; hi');
    expect(html).not.toContain('<script>alert(1)');
    // A plain form post (no JavaScript) is redirected back to the forum.
    const form = await fetch(`${base}/f/cats/posts`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'text=plain+form',
      redirect: 'manual',
    });
    expect(form.status).toBe(303);
    expect(
      (
        await fetch(`${base}/f/cats/posts`, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json' },
          body: '{"text":"  "}',
        })
      ).status,
    ).toBe(400);
  });

  it('mints tokens for the cookie user with name, channels and the configured lifetime', async () => {
    const res = await fetch(`${base}/river-token`, { headers: { cookie: 'forum_user=0123456789abcdef.Test-User' } });
    expect(res.status).toBe(200);
    const { payload } = await jwtVerify(await res.text(), new TextEncoder().encode(SECRET));
    expect(payload).toMatchObject({
      sub: '0123456789abcdef',
      info: { name: 'Test User' },
      channels: ['dogs', 'cats', 'birds', 'presence-forum-*'],
    });
    expect(payload.exp! - payload.iat!).toBe(120);
  });

  it('renders the forum without the stream position, at once, when River does not answer', async () => {
    // A River that accepts connections and never answers (a blackholed network).
    const sockets = new Set<Socket>();
    const silent = createNetServer((socket) => void sockets.add(socket.on('error', () => {})));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { app } = await createForumApp({
      riverUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      apiKey: API_KEY,
      secret: SECRET,
      dataFile: join(dir, 'silent.json'),
      positionTimeoutMs: 300,
      log: () => {},
    });
    const s = await new Promise<Server>((r) => {
      const srv = app.listen(0, '127.0.0.1', () => r(srv));
    });
    try {
      const t0 = Date.now();
      const res = await fetch(`http://127.0.0.1:${(s.address() as AddressInfo).port}/f/dogs`);
      expect(res.status).toBe(200);
      expect(Date.now() - t0).toBeLessThan(5000); // was 3 attempts × 10 s
      const config = JSON.parse(/<script type="application\/json" id="forum-config">(.*?)<\/script>/.exec(await res.text())![1]!);
      expect(config).toMatchObject({ forum: 'dogs', channel: 'dogs' });
      expect(config.since).toBeUndefined();
    } finally {
      s.closeAllConnections();
      s.close();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('the store keeps posts across a reopen and never leaves temporary files', async () => {
    const file = join(dir, 'store.json');
    const store = await PostStore.open(file);
    await Promise.all([1, 2, 3].map((n) => store.add({ forum: 'birds', userId: 'u', author: 'A', text: `p${n}` })));
    const again = await PostStore.open(file);
    expect(again.list('birds').map((p) => [p.id, p.text])).toEqual([
      [1, 'p1'],
      [2, 'p2'],
      [3, 'p3'],
    ]);
    expect(JSON.parse(await readFile(file, 'utf8')).nextId).toBe(4);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
