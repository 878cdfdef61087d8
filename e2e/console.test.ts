/**
 * The debug console (docs/console.md) in Chromium, served by `river dev` (the built bin/river, a
 * real process stopped by PID): a connection appears when a client connects, the publish form
 * reaches a subscriber page and the console's live tail, Disconnect closes the client with 4503.
 * Then two `river dev --redis` nodes: node A's console shows a client of node B.
 * Saves e2e/output/console.png.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, skipWithoutChromium } from './harness/browser.js';
import { startNode } from './harness/cluster.js';
import { redisAvailable, startRedis, type RedisInstance } from './harness/redis.js';

const BIN = fileURLToPath(new URL('../bin/river', import.meta.url));
const CLI_MAIN = fileURLToPath(new URL('../cli/dist/main.js', import.meta.url));
const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url));
const SECRET = randomBytes(48).toString('base64url');
const API_KEY = randomBytes(32).toString('base64url');

interface DevNode {
  pid: number;
  url: string;
  wsUrl: string;
  token: string;
  consoleUrl: string;
  stop(): Promise<void>;
}

const dirs: string[] = [];
const nodes: DevNode[] = [];

/** `river dev --port 0 --json` in a fresh project folder; resolves with the printed JSON line. */
async function startDev(extra: string[] = []): Promise<DevNode> {
  const dir = await mkdtemp(join(tmpdir(), 'river-console-e2e-'));
  dirs.push(dir);
  const child: ChildProcess = spawn(process.execPath, [BIN, 'dev', '--port', '0', '--json', ...extra], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`river dev printed nothing in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.once('exit', (code) => reject(new Error(`river dev exited (${code}): ${err}`)));
  });
  const printed = JSON.parse(line) as Omit<DevNode, 'pid' | 'stop'>;
  const node: DevNode = {
    ...printed,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid!, 'SIGINT');
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  nodes.push(node);
  return node;
}

/** A plain browser page subscribed to `channel` over a raw WebSocket (the subscriber page). */
async function subscriberPage(browser: Browser, node: DevNode, channel: string): Promise<Page> {
  const page = await browser.newPage();
  // A page on the node's own origin (Chromium refuses local WebSockets from about:blank).
  await page.goto(`${node.url}/healthz`);
  await page.evaluate(
    ({ wsUrl, token, channel }) => {
      const w = globalThis as unknown as { frames_: unknown[]; closed_: number | null };
      w.frames_ = [];
      w.closed_ = null;
      const ws = new WebSocket(wsUrl);
      ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
      ws.onmessage = (ev) => {
        const f = JSON.parse(String(ev.data)) as { type: string };
        w.frames_.push(f);
        if (f.type === 'ready') ws.send(JSON.stringify({ type: 'subscribe', channel }));
        if (f.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
      };
      ws.onclose = (ev) => {
        w.closed_ = ev.code;
      };
    },
    { wsUrl: node.wsUrl, token: node.token, channel },
  );
  try {
    await page.waitForFunction(
      () => (globalThis as unknown as { frames_: { type: string }[] }).frames_.some((f) => f.type === 'subscribed'),
      null,
      {
        timeout: 20_000,
      },
    );
  } catch (err) {
    const seen = await page.evaluate(() =>
      JSON.stringify(globalThis as unknown as { frames_: unknown; closed_: unknown }, ['frames_', 'closed_', 'type', 'code', 'message']),
    );
    throw new Error(`the subscriber page did not subscribe: ${seen}`, { cause: err });
  }
  return page;
}

async function openConsole(browser: Browser, node: DevNode): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => console.error('console page error:', e.message));
  await page.goto(node.consoleUrl);
  await page.waitForSelector('#status.ok', { timeout: 20_000 });
  await page.waitForSelector('#tail-status.ok', { timeout: 20_000 });
  return page;
}

describe.skipIf(skipWithoutChromium())('the console in Chromium under river dev', () => {
  let browser: Browser;

  beforeAll(async () => {
    for (const f of [CLI_MAIN, fileURLToPath(new URL('../server/dist/main.js', import.meta.url))]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`);
    }
    await mkdir(OUTPUT, { recursive: true });
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const n of nodes) await n.stop();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('shows a connection, publishes from the form to a subscriber page and the tail, and disconnects the client', async () => {
    const dev = await startDev();
    expect(dev.consoleUrl).toBe(`${dev.url}/console`);
    const console_ = await openConsole(browser, dev);

    // A client connects: it appears in the connections view with its channel.
    const subscriber = await subscriberPage(browser, dev, 'dogs');
    await console_.waitForSelector('#connections tr[data-user="dev-user"]', { timeout: 20_000 });
    expect(await console_.textContent('#connections tr[data-user="dev-user"]')).toContain('dogs');
    await console_.waitForSelector('#channels tr[data-channel="dogs"]', { timeout: 20_000 });

    // Invalid JSON is refused in the page; nothing is published.
    await console_.fill('#pub-channel', 'dogs');
    await console_.fill('#pub-event', 'new-post');
    await console_.fill('#pub-data', '{"title": oops}');
    await console_.click('#pub-send');
    await console_.waitForSelector('#pub-status.err', { timeout: 10_000 });
    expect(await console_.textContent('#pub-status')).toMatch(/not valid JSON/);

    // A valid publish reaches the subscriber page and the console's live tail.
    await console_.fill('#pub-data', '{"title": "hello from the console"}');
    await console_.click('#pub-send');
    await console_.waitForSelector('#pub-status.ok', { timeout: 10_000 });
    expect(await console_.textContent('#pub-status')).toBe('published at offset 1');
    await subscriber.waitForFunction(
      () =>
        (globalThis as unknown as { frames_: { type: string; data?: { title?: string } }[] }).frames_.some(
          (f) => f.type === 'message' && f.data?.title === 'hello from the console',
        ),
      null,
      { timeout: 10_000 },
    );
    await console_.waitForSelector('#tail tr[data-channel="dogs"][data-event="new-post"]', { timeout: 10_000 });
    const row = await console_.$$eval('#tail tr[data-event="new-post"] td', (tds) => tds.map((td) => td.textContent ?? ''));
    expect(row[1]).toBe('dogs');
    expect(row[3]).toBe('1');
    expect(row[4]).toMatch(/^\d+ B$/);
    expect(row[5]).toContain('hello from the console');

    // The channel view: its history holds the message.
    await console_.click('#channels tr[data-channel="dogs"]');
    await console_.waitForSelector('#history tr', { timeout: 10_000 });
    expect(await console_.textContent('#history')).toContain('hello from the console');

    await console_.screenshot({ path: join(OUTPUT, 'console.png'), fullPage: true });

    // Disconnect from the console: the client is closed with 4503.
    await console_.click('#connections tr[data-user="dev-user"] button.disconnect');
    await subscriber.waitForFunction(() => (globalThis as unknown as { closed_: number | null }).closed_ !== null, null, {
      timeout: 10_000,
    });
    expect(await subscriber.evaluate(() => (globalThis as unknown as { closed_: number }).closed_)).toBe(4503);
    await console_.waitForFunction(() => document.querySelector('#disc-status')?.textContent?.startsWith('disconnected 1 '), null, {
      timeout: 10_000,
    });
    await console_.waitForFunction(() => document.querySelector('#connections tr[data-user="dev-user"]') === null, null, {
      timeout: 10_000,
    });
  }, 120_000);

  it('RIVER_CONSOLE=on: the page asks for the API key once, keeps it for the tab only, never in the URL', async () => {
    const node = await startNode({
      name: 'console-on',
      env: { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_CONSOLE: 'on' },
    });
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const urls: string[] = [];
      page.on('request', (r) => urls.push(r.url()));
      await page.goto(`${node.http}/console`);
      await page.waitForSelector('#keyform', { state: 'visible', timeout: 20_000 });
      expect(await page.textContent('#status')).toBe('API key needed');
      await page.fill('#key', 'wrong-key');
      await page.click('#keyform button');
      await page.waitForSelector('#keyform', { state: 'visible', timeout: 20_000 });
      await page.fill('#key', API_KEY);
      await page.click('#keyform button');
      await page.waitForSelector('#status.ok', { timeout: 20_000 });
      await page.waitForSelector('#tail-status.ok', { timeout: 20_000 });
      expect(await page.evaluate(() => sessionStorage.getItem('river-console-key'))).toBe(API_KEY);
      // A reload in the same tab keeps it; no request ever carried it in its URL.
      await page.reload();
      await page.waitForSelector('#status.ok', { timeout: 20_000 });
      expect(urls.some((u) => u.includes(API_KEY))).toBe(false);
      // Another tab (a new context) asks again.
      const other = await (await browser.newContext()).newPage();
      await other.goto(`${node.http}/console`);
      await other.waitForSelector('#keyform', { state: 'visible', timeout: 20_000 });
      await other.context().close();
      await context.close();
      expect(node.output()).not.toContain(API_KEY);
    } finally {
      await node.stop();
    }
  }, 120_000);

  describe.skipIf(!redisAvailable())('two nodes over Redis', () => {
    let redis: RedisInstance;
    beforeAll(async () => {
      redis = await startRedis();
    }, 60_000);
    afterAll(() => redis?.stop());

    it("node A's console shows a client of node B, and its tail a publish handled by B", async () => {
      const a = await startDev(['--redis', redis.url]);
      const b = await startDev(['--redis', redis.url]);
      const console_ = await openConsole(browser, a);
      await subscriberPage(browser, b, 'cats');
      await console_.waitForSelector('#connections tr[data-user="dev-user"]', { timeout: 20_000 });
      expect(await console_.textContent('#nodes')).toMatch(/^2 nodes/);
      expect(await console_.textContent('#connections tr[data-user="dev-user"]')).toContain('cats');

      const res = await fetch(`${b.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'cats', event: 'meow', data: { from: 'b' } }),
      });
      expect(res.status).toBe(200);
      await console_.waitForSelector('#tail tr[data-channel="cats"][data-event="meow"]', { timeout: 10_000 });

      // A presence channel on node B: A's channel view lists its one member (the console's tail
      // watches without joining, so it adds none).
      await subscriberPage(browser, b, 'presence-lobby');
      await console_.waitForSelector('#channels tr[data-channel="presence-lobby"]', { timeout: 20_000 });
      await console_.click('#channels tr[data-channel="presence-lobby"]');
      await console_.waitForSelector('#members li', { timeout: 10_000 });
      expect(await console_.$$eval('#members li', (lis) => lis.map((li) => li.textContent))).toEqual(['dev-user {}']);
    }, 120_000);
  });
});
