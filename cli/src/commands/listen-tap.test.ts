import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mintToken } from '../tokens.js';
import { testContext, waitFor } from '../test-context.js';
import { testNode } from '../test-node.js';
import { tapUrl } from './listen-tap.js';

const SECRET = randomBytes(48).toString('base64url');
const KEY = randomBytes(32).toString('base64url');
const local = testNode({ secret: SECRET, key: KEY, dev: true });

async function publish(channel: string, event: string, data: unknown): Promise<void> {
  const res = await fetch(`${local.node.urls.http}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, event, data }),
  });
  expect(res.status).toBe(200);
}

describe('river listen --all / a pattern (the tap)', () => {
  it('tapUrl puts /v1/tap beside /v1/ws', () => {
    expect(tapUrl('ws://127.0.0.1:4400/v1/ws')).toBe('ws://127.0.0.1:4400/v1/tap');
    expect(tapUrl('wss://river.example/v1/ws')).toBe('wss://river.example/v1/tap');
  });

  it('--all prints every channel; a pattern only its matches; Ctrl+C exits 0', async () => {
    const all = testContext({ cwd: local.project.dir });
    const allExit = all.run(['listen', '--all']);
    const chat = testContext({ cwd: local.project.dir });
    const chatExit = chat.run(['listen', 'chat-*']);
    await waitFor(() => all.io.stderr.some((l) => l.includes('tapping')) && chat.io.stderr.some((l) => l.includes('tapping')), 'both taps');
    await publish('dogs', 'bark', 1);
    await publish('chat-1', 'say', { t: 'hi' });
    await publish('cats', 'meow', 2);
    await waitFor(() => all.io.stdout.length >= 3, 'three lines from --all');
    expect(all.io.stdout.map((l) => (JSON.parse(l) as { channel: string }).channel)).toEqual(['dogs', 'chat-1', 'cats']);
    await waitFor(() => chat.io.stdout.length >= 1, 'the chat line');
    expect(chat.io.stdout.map((l) => JSON.parse(l) as unknown)).toEqual([
      { channel: 'chat-1', event: 'say', data: { t: 'hi' }, offset: 1, ts: expect.any(Number) },
    ]);
    all.abort();
    chat.abort();
    expect(await allExit).toBe(0);
    expect(await chatExit).toBe(0);
  });

  it("watches a presence channel without joining it: the members don't include the listener", async () => {
    const tap = testContext({ cwd: local.project.dir });
    const exit = tap.run(['listen', 'presence-*']);
    await waitFor(() => tap.io.stderr.some((l) => l.includes('tapping')), 'the tap');
    const ws = new WebSocket(local.node.urls.ws);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'auth', token: await mintToken(SECRET, { sub: 'zoe' }, 600, Date.now()) }));
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>));
    await waitFor(() => frames.some((f) => f.type === 'ready'), 'ready');
    ws.send(JSON.stringify({ type: 'subscribe', channel: 'presence-lobby' }));
    await waitFor(() => frames.find((f) => f.type === 'subscribed'), 'subscribed');
    expect(frames.find((f) => f.type === 'subscribed')!.members).toEqual([{ userId: 'zoe', info: {} }]);
    await waitFor(() => tap.io.stderr.some((l) => l.includes('presence-lobby: zoe joined')), 'the join on stderr');
    ws.close();
    tap.abort();
    expect(await exit).toBe(0);
  });

  it('a wrong API key is exit 1 saying the tap was refused', async () => {
    const t = testContext({ cwd: local.project.dir, env: { RIVER_API_KEY: 'not-the-key-0123456789abcdef0123456789' } });
    expect(await t.run(['listen', '--all'])).toBe(1);
    expect(t.io.stderr.join('\n')).toMatch(/refused the tap/);
  });
});
