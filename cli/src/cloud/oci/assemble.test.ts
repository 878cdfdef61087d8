/**
 * The daemonless image assembly against a real registry (Debian's docker-registry on loopback):
 * a small base image pushed by our own client, River's image assembled on top from a fixture
 * context, checked with skopeo (inspect, and a full copy that verifies every blob's digest).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryAvailable, startRegistry, type RegistryInstance } from '../../../../e2e/harness/registry.js';
import { assembleImage } from './assemble.js';
import { fixtureContext, pushTestBase } from './test-fixtures.js';
import { startAuthProxy } from './test-auth-proxy.js';

const run = promisify(execFile);
const _sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function skopeo(args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

describe.skipIf(!registryAvailable())('assembleImage against a real registry', () => {
  let registry: RegistryInstance;
  let dir: string;
  let ctx: string;
  beforeAll(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'river-assemble-'));
    await pushTestBase(registry.host, 'base/node', '24', dir);
    ctx = await fixtureContext(dir);
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('assembles River’s image on the base (amd64 from the index) and skopeo reads config, layers and platform', async () => {
    const lines: string[] = [];
    const img = await assembleImage({
      contextDir: ctx,
      buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
      target: { registry: registry.host, repository: 'river/server', tag: 'abc123' },
      onProgress: (l) => lines.push(l),
    });
    expect(img.ref).toBe(`${registry.host}/river/server:abc123`);
    expect(lines).toEqual(
      expect.arrayContaining([
        `base image ${registry.host}/base/node:24 (linux/amd64)`,
        expect.stringMatching(/^base layer 1\/1 [0-9a-f]{12} .*: copying$/),
        `pushed ${img.ref}`,
      ]),
    );

    const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${img.ref}`])) as {
      Digest: string;
      Architecture: string;
      Os: string;
      Layers: string[];
      Env: string[];
    };
    expect(inspect.Digest).toBe(img.digest);
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Os).toBe('linux');
    expect(inspect.Layers).toHaveLength(2);
    expect(inspect.Layers[1]).toBe(img.appLayer.digest);
    expect(inspect.Env).toEqual(['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', 'RIVER_PORT=4400']);

    const config = JSON.parse(await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${img.ref}`])) as {
      config: Record<string, unknown>;
      rootfs: { diff_ids: string[] };
      history: Array<{ created_by: string; empty_layer?: boolean }>;
    };
    expect(config.config).toMatchObject({
      Entrypoint: ['docker-entrypoint.sh'],
      Cmd: ['node', 'server/main.js'],
      WorkingDir: '/app',
      User: 'node',
      ExposedPorts: { '4400/tcp': {} },
      StopSignal: 'SIGTERM',
      Healthcheck: { Test: ['CMD', 'node', '-e', 'process.exit(0)'], Interval: 15e9, Timeout: 5e9, StartPeriod: 20e9, Retries: 3 },
    });
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(config.rootfs.diff_ids[1]).toBe(img.appLayer.diffId);
    expect(config.history.filter((h) => !h.empty_layer)).toHaveLength(2);

    // A full copy checks every blob against its digest, and the app layer holds the context's app/.
    const out = join(dir, 'copy');
    await skopeo(['copy', '--src-tls-verify=false', `docker://${img.ref}`, `dir:${out}`]);
    const files = await readdir(out);
    expect(files).toContain(img.appLayer.digest.slice(7));
    const { stdout } = await run('tar', ['-tzf', join(out, img.appLayer.digest.slice(7))]);
    expect(stdout.trim().split('\n')).toEqual(['app/', 'app/package.json', 'app/server/', 'app/server/main.js']);
  });

  it('the same context again gives the same image digest and copies nothing twice', async () => {
    const first = await assembleImage({
      contextDir: ctx,
      buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
      target: { registry: registry.host, repository: 'river/again', tag: 'one' },
    });
    const lines: string[] = [];
    const second = await assembleImage({
      contextDir: ctx,
      buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
      target: { registry: registry.host, repository: 'river/again', tag: 'two' },
      onProgress: (l) => lines.push(l),
    });
    expect(second.digest).toBe(first.digest);
    expect(lines.filter((l) => l.endsWith('already there'))).toHaveLength(2);
  });

  it('a Dockerfile that needs a builder fails before anything is pushed', async () => {
    const bad = join(dir, 'bad');
    await mkdir(join(bad, 'app'), { recursive: true });
    await writeFile(join(bad, 'Dockerfile'), `FROM ${registry.host}/base/node:24\nRUN npm ci\nCOPY app/ /app/\n`);
    await expect(
      assembleImage({ contextDir: bad, target: { registry: registry.host, repository: 'river/bad', tag: 't' } }),
    ).rejects.toThrow('Dockerfile line 2: RUN is not supported');
    const tags = await fetch(`${registry.url}/v2/river/bad/tags/list`);
    expect(tags.status).toBe(404);
  });

  it('an index without linux/amd64 is refused, naming what it has', async () => {
    await pushTestBase(registry.host, 'base/arm', 'only', dir, undefined, ['arm64']);
    await expect(
      assembleImage({
        contextDir: ctx,
        buildArgs: { BASE_IMAGE: `${registry.host}/base/arm:only` },
        target: { registry: registry.host, repository: 'river/x', tag: 't' },
      }),
    ).rejects.toThrow(`${registry.host}/base/arm:only has no linux/amd64 image (it has linux/arm64)`);
  });

  it('pushes through a Bearer challenge (token realm asked with the credentials and the repository scope)', async () => {
    const proxy = await startAuthProxy(registry.url, 'bearer', { username: 'u', password: 'p' });
    try {
      const img = await assembleImage({
        contextDir: ctx,
        buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
        target: { registry: proxy.host, repository: 'river/bearer', tag: 'b1' },
        targetAuth: { username: 'u', password: 'p' },
      });
      expect(proxy.scopes).toEqual(['repository:river/bearer:pull,push']);
      expect(proxy.schemes[0]).toBe('none');
      expect(new Set(proxy.schemes.slice(1))).toEqual(new Set(['Bearer']));
      const inspect = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${registry.host}/river/bearer:b1`])) as {
        Digest: string;
      };
      expect(inspect.Digest).toBe(img.digest);
      await expect(
        assembleImage({
          contextDir: ctx,
          buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
          target: { registry: proxy.host, repository: 'river/bearer', tag: 'b2' },
          targetAuth: { username: 'u', password: 'wrong' },
        }),
      ).rejects.toThrow(/the token service http:\/\/127\.0\.0\.1:\d+ refused \(401\)/);
    } finally {
      await proxy.close();
    }
  });

  it('pulls the base through a Bearer challenge anonymously, following blob redirects to another origin without the token', async () => {
    const hub = await startAuthProxy(registry.url, 'bearer', undefined, { redirectBlobs: true, anonymousTokens: true });
    try {
      const img = await assembleImage({
        contextDir: ctx,
        buildArgs: { BASE_IMAGE: `${hub.host}/base/node:24` },
        target: { registry: registry.host, repository: 'river/hub', tag: 'h1' },
      });
      expect(img.base).toBe(`${hub.host}/base/node:24`);
      expect(hub.scopes).toEqual(['repository:base/node:pull']);
      expect(hub.cdn.length).toBeGreaterThanOrEqual(2); // the config and the base layer
      expect(new Set(hub.cdn)).toEqual(new Set(['none']));
    } finally {
      await hub.close();
    }
  });

  it('pushes with Basic auth (ECR: user AWS and the authorization token password); no credentials is a clear error', async () => {
    const proxy = await startAuthProxy(registry.url, 'basic');
    try {
      const img = await assembleImage({
        contextDir: ctx,
        buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
        target: { registry: proxy.host, repository: 'river/basic', tag: 'c1' },
        targetAuth: { username: 'AWS', password: 'secret-password' },
      });
      expect(img.ref).toBe(`${proxy.host}/river/basic:c1`);
      expect(new Set(proxy.schemes.slice(1))).toEqual(new Set(['Basic']));
      await expect(
        assembleImage({
          contextDir: ctx,
          buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` },
          target: { registry: proxy.host, repository: 'river/basic', tag: 'c2' },
        }),
      ).rejects.toThrow(`${proxy.host} wants credentials (Basic) and none were given`);
    } finally {
      await proxy.close();
    }
  });
});
