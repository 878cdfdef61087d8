import { createServer } from 'node:net';
import { WebSocketServer } from 'ws';
import { describe, expect, it } from 'vitest';
import { writeDevState } from '../state.js';
import { tempProject, testContext, waitFor } from '../test-context.js';
import { testNode } from '../test-node.js';

const SECRET = 'publish-listen-test-secret-0123456789abcdef';
const KEY = 'publish-listen-test-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const local = testNode({ secret: SECRET, key: KEY, dev: true });

describe('river publish / river listen against a real node', () => {
  it('listen prints what publish sends, one JSON line per event, and stops on Ctrl+C with exit 0', async () => {
    const listener = testContext({ cwd: local.project.dir });
    const exit = listener.run(['listen', 'dogs', 'cats', '--json']); // --json is accepted (JSON lines either way)
    await waitFor(
      () => listener.io.stderr.includes('subscribed to dogs') && listener.io.stderr.includes('subscribed to cats'),
      'subscriptions',
    );

    const pub = testContext({ cwd: local.project.dir });
    expect(await pub.run(['publish', 'dogs', 'new-post', '{"title":"hi"}'])).toBe(0);
    expect(pub.io.stdout).toEqual([expect.stringMatching(/^published new-post to dogs \(offset \d+\)$/)]);
    const json = testContext({ cwd: local.project.dir });
    expect(await json.run(['publish', 'cats', 'meow', '--json'])).toBe(0);
    const result = JSON.parse(json.io.stdout[0]!) as { channel: string; offset: number };
    expect(result).toEqual({ channel: 'cats', offset: expect.any(Number) });

    await waitFor(() => listener.io.stdout.length >= 2, 'two printed events');
    const [first, second] = listener.io.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      channel: 'dogs',
      event: 'new-post',
      data: { title: 'hi' },
      offset: expect.any(Number),
      ts: expect.any(Number),
    });
    expect(second).toMatchObject({ channel: 'cats', event: 'meow', data: null, offset: result.offset });
    listener.abort();
    expect(await exit).toBe(0);
  });

  it('--url and --key override the dev node; a wrong key is exit 1 with a hint', async () => {
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(['publish', 'dogs', 'e', '1', '--url', local.node.urls.http, '--key', 'wrong'])).toBe(1);
    expect(t.io.stderr).toEqual([
      `using ${local.node.urls.http} (--url)`,
      expect.stringMatching(/^error: .* refused the API key from --key \(401/),
      "hint: pass --key or set RIVER_API_KEY to the node's key",
    ]);
    const env = testContext({ cwd: local.project.dir, env: { RIVER_URL: local.node.urls.ws, RIVER_API_KEY: KEY } });
    expect(await env.run(['publish', 'dogs', 'e', '"text"', '--json'])).toBe(0);
  });

  it('a token the node refuses (45xx) ends listen with exit 1 and the reason', async () => {
    const t = testContext({ cwd: local.project.dir, env: { RIVER_JWT_SECRET: 'some-other-secret-0123456789abcdefghijklmn' } });
    expect(await t.run(['listen', 'dogs'])).toBe(1);
    expect(t.io.stderr[0]).toBe(`using ${local.node.urls.ws} (the river dev node (pid ${process.pid}))`);
    expect(t.io.stderr[1]).toMatch(/^error: the node closed the connection \(4500 token_invalid/);
    expect(t.io.stderr[2]).toMatch(/^hint: .*RIVER_JWT_SECRET/);
  });

  it('every subscription refused is exit 1 with the reason (a scripted server)', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss.on('connection', (ws) =>
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString()) as { type: string; id?: string; channel?: string };
        if (f.type === 'auth') ws.send(JSON.stringify({ type: 'ready', connectionId: 'c1', userId: 'cli-listener', heartbeatMs: 25000 }));
        if (f.type === 'subscribe')
          ws.send(JSON.stringify({ type: 'error', code: 'forbidden', message: 'not allowed', channel: f.channel, id: f.id }));
      }),
    );
    await new Promise((r) => wss.once('listening', r));
    try {
      const { port } = wss.address() as { port: number };
      const t = testContext({ cwd: local.project.dir });
      expect(await t.run(['listen', 'a', 'b', '--url', `http://127.0.0.1:${port}`])).toBe(1);
      expect(t.io.stderr.slice(-2)).toEqual([
        'error: the node refused every subscription (forbidden: not allowed)',
        expect.stringMatching(/^hint: check the channel names/),
      ]);
    } finally {
      wss.close();
    }
  });

  it('Ctrl+C during a request is exit 1 "interrupted", not a failure', async () => {
    const t = testContext({ cwd: local.project.dir });
    t.abort();
    expect(await t.run(['publish', 'dogs', 'e'])).toBe(1);
    expect(t.io.stderr).toEqual([
      `using ${local.node.urls.http} (the river dev node (pid ${process.pid}))`,
      'error: interrupted',
      'hint: run the command again to finish what it was doing',
    ]);
  });

  it('nothing listening is exit 1 with the hint to start a dev node', async () => {
    const closed = await freePort();
    await writeDevState(local.project.dir, { secret: SECRET, apiKey: KEY, url: `http://127.0.0.1:${closed}`, pid: process.pid });
    for (const [argv, url] of [
      [['publish', 'dogs', 'e'], `http://127.0.0.1:${closed}`],
      [['listen', 'dogs'], `ws://127.0.0.1:${closed}/v1/ws`],
    ] as const) {
      const t = testContext({ cwd: local.project.dir });
      expect(await t.run([...argv])).toBe(1);
      expect(t.io.stderr).toEqual([
        `using ${url} (the river dev node (pid ${process.pid}))`,
        `error: no River node at http://127.0.0.1:${closed} (ECONNREFUSED)`,
        'hint: start one with `npx river dev`',
      ]);
    }
  });

  it('no node recorded anywhere is exit 1 with a hint', async () => {
    const empty = await tempProject();
    try {
      const t = testContext({ cwd: empty.dir });
      expect(await t.run(['publish', 'dogs', 'e'])).toBe(1);
      expect(t.io.stderr).toEqual(['error: no River node to talk to', expect.stringMatching(/^hint: start one with `npx river dev`/)]);
    } finally {
      await empty.cleanup();
    }
  });

  it.each([
    [['publish', 'dogs', 'e', '{bad'], /^error: the event data is not valid JSON/],
    [['publish', 'bad channel!', 'e'], /^error: "bad channel!" is not a channel name/],
    [['listen', 'ok', 'no/slash'], /^error: "no\/slash" is not a channel name/],
    [['publish', 'dogs'], /^error: missing required argument 'event'/],
    [['publish', 'dogs', 'e', '--url', 'ftp://x'], /^error: --url "ftp:\/\/x" must be an http\(s\):\/\/ or ws\(s\):\/\/ URL/],
  ])('%j is exit 1 with a hint', async (argv, error) => {
    const t = testContext({ cwd: local.project.dir });
    expect(await t.run(argv)).toBe(1);
    const lines = t.io.stderr.filter((l) => !l.startsWith('using '));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(error);
    expect(lines[1]).toMatch(/^hint: /);
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
