/**
 * River's container image as users get it, and its containers, for the image e2e tests
 * (image.test.ts builds it with podman, river-image-daemonless.test.ts assembles it without a daemon):
 *
 *   const { context } = await packServerImage(dir);            // npm pack -w @river/server, extracted: package/image
 *   const containers = new RiverContainers();
 *   const { id, port, http } = await containers.run(image, { RIVER_JWT_SECRET, RIVER_API_KEY }); // once /readyz is 200
 *   const client = await subscriber(port, secret, 'dogs');     // authenticated and subscribed
 *   await publish(http, apiKey, 'dogs', 'new-post', { … });    // resolves the HTTP response
 *   await containers.removeAll();
 *
 * Containers run with the podman recipe of podman.ts (runc, limits, host network) on a free port.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { isReady } from './cluster.js';
import { mintToken, type Frame } from './cluster-client.js';
import { podman, PODMAN_LIMITS } from './podman.js';
import { freePort } from './redis.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface PackedServer {
  /** The image build context inside the extracted package (package/image). */
  context: string;
  /** The tarball `npm pack` wrote. */
  tarball: string;
  tarballBytes: number;
}

/** What users download: `npm pack -w @river/server` (its prepack builds the bundle), extracted into `dir`. */
export async function packServerImage(dir: string): Promise<PackedServer> {
  const { stdout } = await run('npm', ['pack', '-w', '@river/server', '--pack-destination', dir, '--json'], {
    cwd: REPO,
    timeout: 120_000,
  });
  // (after the output of the package's prepack script)
  const [{ filename }] = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Array<{ filename: string }>;
  const tarball = join(dir, filename);
  await run('tar', ['-xzf', tarball, '-C', dir]);
  return { context: join(dir, 'package', 'image'), tarball, tarballBytes: (await readFile(tarball)).length };
}

export interface RiverClient {
  ws: WebSocket;
  /** The next frame of `type` (an error frame rejects); fails after timeoutMs. */
  next(type: string, timeoutMs?: number): Promise<Frame>;
  /** The close code, once closed. */
  closed: Promise<number>;
}

/** A raw ws client that queues frames, answers pings, and records its close code. */
export function openClient(url: string): RiverClient {
  const ws = new WebSocket(url);
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (raw) => {
    const f = JSON.parse(raw.toString()) as Frame;
    if (f.type === 'ping') ws.send('{"type":"pong"}');
    frames.push(f);
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  const next = async (type: string, timeoutMs = 10_000): Promise<Frame> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = frames.findIndex((f) => f.type === type || f.type === 'error');
      if (i >= 0) {
        const [f] = frames.splice(i, 1);
        if (f!.type === 'error' && type !== 'error') throw new Error(`error frame instead of ${type}: ${JSON.stringify(f)}`);
        return f!;
      }
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { ws, next, closed };
}

/** A client on ws://127.0.0.1:PORT/v1/ws, authenticated with a token signed by `secret`, subscribed to `channel`. */
export async function subscriber(port: number, secret: string, channel: string, sub = 'u1'): Promise<RiverClient> {
  const client = openClient(`ws://127.0.0.1:${port}/v1/ws`);
  await new Promise<void>((resolve, reject) => {
    client.ws.once('open', () => resolve());
    client.ws.once('error', reject);
  });
  client.ws.send(JSON.stringify({ type: 'auth', token: await mintToken(secret, { sub }) }));
  await client.next('ready');
  client.ws.send(JSON.stringify({ type: 'subscribe', channel }));
  const subscribed = await client.next('subscribed');
  if (subscribed.channel !== channel) throw new Error(`subscribed to ${String(subscribed.channel)}, not ${channel}`);
  return client;
}

/** POST /v1/publish with the API key. */
export function publish(http: string, apiKey: string, channel: string, event: string, data: unknown): Promise<Response> {
  return fetch(`${http}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ channel, event, data }),
  });
}

/** Waits for /readyz of a container; fails at once, with its logs, when the container has exited. */
export async function waitForReady(id: string, http: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isReady(http))) {
    const running = await podman(['inspect', '--format', '{{.State.Running}}', id]);
    if (running !== 'true' || Date.now() > deadline) {
      const why = running !== 'true' ? 'exited' : `not ready within ${timeoutMs} ms`;
      throw new Error(`the container ${why}:\n${await podman(['logs', id]).catch((err: Error) => err.message)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** River containers started by a test, removed together. */
export class RiverContainers {
  private readonly ids: string[] = [];

  /** Starts a container of `image` on a free port with `env`; resolves its ID and URLs once /readyz answers 200. */
  async run(image: string, env: Record<string, string>): Promise<{ id: string; port: number; http: string }> {
    const port = await freePort();
    const all = { RIVER_PORT: String(port), RIVER_HOST: '127.0.0.1', ...env };
    const id = (
      await podman([
        'run',
        '-d',
        ...PODMAN_LIMITS,
        '--network',
        'host',
        ...Object.entries(all).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
        image,
      ])
    )
      .split('\n')
      .pop()!;
    this.ids.push(id);
    const http = `http://127.0.0.1:${port}`;
    await waitForReady(id, http);
    return { id, port, http };
  }

  async removeAll(): Promise<void> {
    for (const id of this.ids.splice(0)) await podman(['rm', '-f', id]).catch(() => undefined);
  }
}
