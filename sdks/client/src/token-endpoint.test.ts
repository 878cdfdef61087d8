// A real River node behind a recording WebSocket relay, and a real HTTP token endpoint that answers
// 401: the client's `error` event names the status, and no `auth` frame reaches the node. When the
// endpoint starts answering with a JWT, the same client connects through the same relay (so the
// relay does see auth frames when there are some).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { loadConfig, startRiver, type RiverNode } from '@river/server';
import { River as Backend } from '@river/node';
import type { RiverError } from './errors.js';
import type { StateChange } from './options.js';
import { River } from './river.js';

const SECRET = 'client-token-endpoint-secret-0123456789-abcdefgh';
const API_KEY = 'client-token-endpoint-key-Xq7vN2pL9tR4yB6mK8hJ3gF5';
const BODY = '{"error":"not signed in"}';
let node: RiverNode;
let endpoint: Server;
let relay: WebSocketServer;
let tokenUrl: string;
let relayUrl: string;
let answer401 = true;
/** Every frame a client sent through the relay to the node. */
const sent: string[] = [];

beforeAll(async () => {
  node = await startRiver(
    loadConfig({ RIVER_PORT: '0', RIVER_HOST: '127.0.0.1', RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: API_KEY, RIVER_LOG_LEVEL: 'silent' }),
  );
  const backend = new Backend({ url: node.urls.http, secret: SECRET });
  const handler = backend.tokenHandler(() => ({ sub: 'u-401' }));
  endpoint = createServer((req, res) => {
    if (!answer401) return void handler(req, res);
    res.writeHead(401, { 'content-type': 'application/json' }).end(BODY);
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  tokenUrl = `http://127.0.0.1:${(endpoint.address() as { port: number }).port}/river-token`;
  relay = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => relay.once('listening', r));
  relayUrl = `ws://127.0.0.1:${(relay.address() as { port: number }).port}/v1/ws`;
  relay.on('connection', (client) => {
    const upstream = new WebSocket(node.urls.ws);
    const queue: string[] = [];
    upstream.on('open', () => {
      for (const f of queue.splice(0)) upstream.send(f);
    });
    upstream.on('message', (d) => client.send(String(d)));
    upstream.on('close', (code) => client.close(code >= 4000 ? code : 1000));
    client.on('message', (d) => {
      sent.push(String(d));
      if (upstream.readyState === WebSocket.OPEN) upstream.send(String(d));
      else queue.push(String(d));
    });
    client.on('close', () => upstream.close());
  });
});

afterAll(async () => {
  for (const c of relay?.clients ?? []) c.terminate();
  await new Promise((r) => relay?.close(r));
  endpoint?.close();
  await node?.close();
});

async function waitFor<T>(fn: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('a token endpoint answering 401: the error event names the status, and nothing is sent as a JWT', async () => {
  const river = new River({ url: relayUrl, token: () => fetch(tokenUrl), WebSocket, minReconnectDelayMs: 50, maxReconnectDelayMs: 200 });
  const errors: RiverError[] = [];
  const states: StateChange[] = [];
  river.on('error', (e) => errors.push(e as RiverError));
  river.on('state', (s) => states.push(s));
  try {
    await waitFor(() => errors.length >= 3); // three attempts, each refused before any socket opens
    expect(errors[0]).toMatchObject({ code: 'token_error', message: 'token endpoint answered 401 Unauthorized' });
    expect((errors[0]!.cause as Response).status).toBe(401);
    expect(states.map((s) => s.reason)).not.toContain('token_invalid');
    expect(relay.clients.size).toBe(0);
    expect(sent).toEqual([]);
    const metrics = await (await fetch(`${node.urls.http}/metrics`)).text();
    expect(metrics).not.toMatch(/river_closes_total\{reason="token_invalid"\} [1-9]/);

    // The endpoint recovers: the same client connects, and its auth frame carries a JWT.
    answer401 = false;
    await waitFor(() => river.state === 'connected');
    const auth = sent.map((f) => JSON.parse(f) as { type: string; token?: string }).filter((f) => f.type === 'auth');
    expect(auth).toHaveLength(1);
    expect(auth[0]!.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sent.join('\n')).not.toContain('not signed in');
    expect(river.userId).toBe('u-401');
  } finally {
    river.close();
  }
});

it('a token function that reads the 401 body as text: refused as not a JWT, never sent as auth', async () => {
  answer401 = true;
  sent.length = 0;
  const river = new River({
    url: relayUrl,
    token: () => fetch(tokenUrl).then((r) => r.text()),
    WebSocket,
    minReconnectDelayMs: 50,
    maxReconnectDelayMs: 200,
  });
  const errors: RiverError[] = [];
  river.on('error', (e) => errors.push(e as RiverError));
  try {
    await waitFor(() => errors.length >= 2);
    expect(errors[0]).toMatchObject({
      code: 'token_error',
      message: `the token function returned something that is not a JWT: ${JSON.stringify(BODY)}`,
    });
    expect(sent).toEqual([]);
  } finally {
    river.close();
  }
});
