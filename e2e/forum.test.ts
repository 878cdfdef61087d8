// The forum example in real Chromium against a real River node process, with a TCP proxy between the
// browsers and River: cross-page posts and presence, a network cut, a node restart and short-lived
// tokens — every post shown exactly once, in order. The page dedupes and orders posts by id, which
// would hide an SDK that delivers twice or out of order, so the tests also check what the SDK
// itself delivered (window.__riverDeliveries, recorded before that dedupe).
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { River } from '@river/node';
import { createForumApp } from '../examples/forum/app.js';
import { isCI, launchBrowser, skipWithoutChromium } from './harness/browser.js';
import { startRiver, type RestartableRiver } from './harness/river.js';
import { startTcpProxy, type TcpProxy } from './harness/tcp-proxy.js';

const SECRET = 'forum-e2e-secret-0123456789-abcdefghijklmnopqrstuv';
const API_KEY = 'forum-e2e-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url));
const CLIENT_BUNDLE = fileURLToPath(new URL('../sdks/client/dist/river.min.js', import.meta.url));

let river: RestartableRiver;
let proxy: TcpProxy;
let browser: Browser;
let dataDir: string;
const servers: Server[] = [];
const contexts: BrowserContext[] = [];

async function forumApp(tokenTtl?: number): Promise<string> {
  const { app } = await createForumApp({
    riverUrl: river.http,
    riverWsUrl: `ws://127.0.0.1:${proxy.port}/v1/ws`,
    apiKey: API_KEY,
    secret: SECRET,
    dataFile: join(dataDir, `posts-${servers.length}.json`),
    log: () => {},
    ...(tokenTtl ? { tokenTtl } : {}),
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function openPage(url: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 640, height: 520 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 20_000 });
  return page;
}

const postsOf = (page: Page) => page.$$eval('#posts li.post .text', (els) => els.map((e) => e.textContent ?? ''));
const stateOf = (page: Page) => page.getAttribute('#status', 'data-state');

/** Posts through the page's form; returns the post's id. */
async function post(page: Page, text: string): Promise<number> {
  await page.fill('#post-form input[name=text]', text);
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/posts'));
  await page.click('#post-form button');
  const res = await answered;
  expect(res.status()).toBe(201);
  return ((await res.json()) as { post: { id: number } }).post.id;
}

interface Delivery {
  offset: number;
  epoch: string | undefined;
  id: number;
}
const deliveriesOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { __riverDeliveries: Delivery[] }).__riverDeliveries);

/**
 * The SDK itself delivered exactly the posts `ids`, each once, in offset order with no gap, within
 * one epoch (`epoch`: index among the epochs seen, -1 for the latest). Waits for late deliveries.
 */
async function expectDelivered(page: Page, ids: number[], epoch = -1, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let got: Delivery[] = [];
  for (;;) {
    const all = await deliveriesOf(page);
    const e = [...new Set(all.map((d) => d.epoch))].at(epoch);
    got = all.filter((d) => d.epoch === e);
    if (got.length >= ids.length || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(got.map((d) => d.id)).toEqual(ids);
  const offsets = got.map((d) => d.offset);
  expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i));
}

/** Polls until the page shows exactly `expected` (same posts, same order, no duplicates). */
async function expectPosts(page: Page, expected: string[], timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let actual: string[] = [];
  while (Date.now() < end) {
    actual = await postsOf(page);
    if (JSON.stringify(actual) === JSON.stringify(expected)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(actual).toEqual(expected);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(skipWithoutChromium())('forum example in Chromium', () => {
  let base: string;
  let a: Page;
  let b: Page;
  const all: string[] = [];
  const ids: number[] = [];

  beforeAll(async () => {
    if (!existsSync(CLIENT_BUNDLE)) throw new Error(`${CLIENT_BUNDLE} is missing: run \`npm run build\` first`);
    dataDir = await mkdtemp(join(tmpdir(), 'river-forum-e2e-'));
    river = await startRiver(
      { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_HEARTBEAT_MS: '1000', RIVER_DRAIN_MS: '200' },
      'forum-river',
    );
    proxy = await startTcpProxy(river.port);
    browser = await launchBrowser();
    base = await forumApp();
    a = await openPage(`${base}/f/dogs`);
    b = await openPage(`${base}/f/dogs`);
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await proxy?.close();
    await river?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('two pages see each other’s posts without a refresh, and who is reading', async () => {
    await until('both readers listed', async () => (await a.$$('#readers li')).length === 2 && (await b.$$('#readers li')).length === 2);
    const names = [await a.textContent('#me'), await b.textContent('#me')];
    expect((await a.$$eval('#readers li', (els) => els.map((e) => e.textContent))).sort()).toEqual([...names].sort());

    ids.push(await post(a, 'Rex learned to sit'));
    all.push('Rex learned to sit');
    await expectPosts(b, all);
    ids.push(await post(b, 'Good dog, Rex!'));
    all.push('Good dog, Rex!');
    await expectPosts(a, all);
    await expectPosts(b, all);
    await expectDelivered(a, ids);
    await expectDelivered(b, ids);

    await mkdir(OUTPUT, { recursive: true });
    const shots = [await a.screenshot(), await b.screenshot()].map((png) => `data:image/png;base64,${png.toString('base64')}`);
    const board = await contexts[0]!.newPage();
    await board.setViewportSize({ width: 1320, height: 540 });
    await board.setContent(
      `<body style="margin:0;padding:10px;display:flex;gap:20px;background:#333">${shots.map((s) => `<img style="width:640px;height:520px;flex:none" src="${s}">`).join('')}</body>`,
    );
    await board.screenshot({ path: join(OUTPUT, 'forum-two-pages.png') });
    await board.close();
  });

  it('heals after a network cut (silent blackhole, then reset): the SDK delivers every post once and in offset order', async () => {
    proxy.sever('blackhole');
    // Nothing closes: only the client's liveness (2 × heartbeatMs of silence) notices.
    await until('pages notice the dead network', async () => (await stateOf(a)) !== 'connected' && (await stateOf(b)) !== 'connected');
    ids.push(await post(a, 'posted during the cut (a)'));
    ids.push(await post(b, 'posted during the cut (b)'));
    all.push('posted during the cut (a)', 'posted during the cut (b)');
    proxy.restore();
    await expectPosts(a, all);
    await expectPosts(b, all);

    proxy.sever('reset');
    ids.push(await post(b, 'posted during the reset'));
    all.push('posted during the reset');
    await new Promise((r) => setTimeout(r, 500));
    proxy.restore();
    await expectPosts(a, all);
    await expectPosts(b, all);
    ids.push(await post(a, 'after the cut'));
    all.push('after the cut');
    await expectPosts(b, all);
    // Not only the page (which drops duplicates by id): the SDK itself recovered each post once, in
    // order, from River's history — nothing twice at the seams, nothing out of order.
    await expectDelivered(a, ids);
    await expectDelivered(b, ids);
    expect(new Set((await deliveriesOf(a)).map((d) => d.epoch)).size).toBe(1);
  });

  it('follows the browser going offline and online', async () => {
    await contexts[0]!.setOffline(true);
    await until('page a notices it is offline', async () => (await a.getAttribute('#status', 'title')) === 'offline', 5000);
    ids.push(await post(b, 'posted while a was offline'));
    all.push('posted while a was offline');
    await contexts[0]!.setOffline(false);
    await expectPosts(a, all);
    expect(await stateOf(a)).toBe('connected');
    await expectDelivered(a, ids);
  });

  it('heals after a River node restart (stop by PID, start on the same port): after the refetch each page shows every post once, in order', async () => {
    const oldPid = river.pid;
    await river.stop();
    await until('pages notice', async () => (await stateOf(a)) !== 'connected' && (await stateOf(b)) !== 'connected');
    // River is down: the app still saves the post; the pages get it by refetching after the restart
    // (River's history was lost with the node, so the resubscribe reports recovered: false).
    ids.push(await post(a, 'posted while River was down')); // saved, not published: River is down
    all.push('posted while River was down');
    await river.start();
    expect(river.pid).not.toBe(oldPid);
    await until('both pages reconnected', async () => (await stateOf(a)) === 'connected' && (await stateOf(b)) === 'connected', 40_000);
    await expectPosts(b, all);
    const afterRestart = await post(b, 'after the restart');
    all.push('after the restart');
    await expectPosts(a, all);
    await expectPosts(b, all);
    // River's history went with the node (new epoch): the SDK cannot replay the post made while it
    // was down; the page's refetch shows it (above). In the new epoch the SDK delivered the one post
    // published since, once; the old epoch's deliveries are untouched.
    for (const page of [a, b]) {
      await expectDelivered(page, [afterRestart]);
      await expectDelivered(page, ids.slice(0, -1), 0);
    }
    ids.push(afterRestart);
  });

  it('refreshes a short-lived token on the same connection: no reconnect storm, posts still arrive', async () => {
    const shortBase = await forumApp(3); // tokens live 3 s
    const ctx = await browser.newContext();
    contexts.push(ctx);
    const page = await ctx.newPage();
    let sockets = 0;
    let tokens = 0;
    page.on('websocket', () => sockets++);
    page.on('request', (r) => {
      if (r.url().endsWith('/river-token')) tokens++;
    });
    await page.goto(`${shortBase}/f/cats`);
    await page.waitForSelector('#status[data-state="connected"]');
    await new Promise((r) => setTimeout(r, 8000)); // more than two token lifetimes
    expect(tokens).toBeGreaterThanOrEqual(3);
    expect(sockets).toBe(1);
    expect(await page.getAttribute('#status', 'data-connects')).toBe('1');
    const backend = new River({ url: river.http, apiKey: API_KEY });
    await backend.publish('cats', 'new-post', {
      id: 1_000_000,
      forum: 'cats',
      author: 'River',
      text: 'still live after refreshes',
      ts: Date.now(),
    });
    await expectPosts(page, ['still live after refreshes'], 10_000);
    await expectDelivered(page, [1_000_000]);
    expect(sockets).toBe(1);
  });
});

describe('CI detection for the harnesses', () => {
  it('treats CI as set only when it is non-empty and not false/0', () => {
    for (const v of ['true', '1', 'yes', 'github-actions']) expect(isCI({ CI: v }), v).toBe(true);
    for (const v of [undefined, '', ' ', 'false', 'FALSE', '0']) expect(isCI({ CI: v }), String(v)).toBe(false);
  });

  it('a missing redis-server or haproxy skips with CI=false, CI=0 or CI empty, and fails in CI', async () => {
    const check = async (ci: string) => {
      vi.resetModules(); // each harness remembers whether its binary was found
      vi.stubEnv('PATH', join(tmpdir(), 'river-no-binaries-here'));
      vi.stubEnv('CI', ci);
      const { redisAvailable } = await import('./harness/redis.js');
      const { haproxyAvailable } = await import('./harness/haproxy.js');
      const outcome = (fn: () => boolean) => {
        try {
          return fn() ? 'available' : 'skip';
        } catch (err) {
          return (err as Error).message;
        }
      };
      return [outcome(redisAvailable), outcome(haproxyAvailable)];
    };
    try {
      for (const ci of ['false', '0', '', 'FALSE']) expect(await check(ci), `CI=${ci}`).toEqual(['skip', 'skip']);
      expect(await check('true')).toEqual([
        expect.stringMatching(/^redis-server is not installed/),
        expect.stringMatching(/^haproxy is not installed/),
      ]);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
