/**
 * River's real image, assembled without a daemon (the builder of `river deploy --builder daemonless`)
 * from what users install, then run. The offline stand-in of the Node 24 base (harness/standin-base.ts)
 * goes into a loopback docker-registry as `library/node:24-bookworm-slim` (skopeo, from podman's
 * storage); the packed @river/server's image/ folder is assembled on it with BASE_IMAGE pointing there;
 * podman pulls the result and runs it: /readyz, a WebSocket subscribe gets an HTTP publish, SIGTERM
 * exits 0. Its config and app layer are those `podman build` makes of the same Dockerfile, so the two
 * paths cannot drift. Then `river deploy --builder daemonless`, in-process, pushes the image asset of
 * River's synthesized stack to the registry standing in for ECR, and what it pushed runs. A base in
 * Docker's v2 format (as older registries serve) gives an image in that format, HEALTHCHECK kept.
 * Prints the figures: assembly time, pushed bytes, image size, and those of podman build.
 * Needs podman and runc, docker-registry and skopeo (skipped outside CI when missing; failing in CI).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deployer } from '../cli/src/cloud/cloud.js';
import { ToolkitDeployer } from '../cli/src/cloud/deployer.js';
import { assembleImage, type AssembledImage } from '../cli/src/cloud/oci/assemble.js';
import { readImageAssets } from '../cli/src/cloud/oci/image-assets.js';
import { MEDIA, RegistryClient } from '../cli/src/cloud/oci/registry.js';
import { fakeCloud, OUTPUTS } from '../cli/src/test-cloud.js';
import { testContext } from '../cli/src/test-context.js';
import { buildLikeCdk, podman, PODMAN_LIMITS, skipWithoutPodman } from './harness/podman.js';
import { copyFromPodman, countingFetch, registryAvailable, startRegistry, type RegistryInstance } from './harness/registry.js';
import { packServerImage, publish, RiverContainers, subscriber, type PackedServer } from './harness/river-image.js';
import { ensureStandinBase } from './harness/standin-base.js';

const run = promisify(execFile);
const SECRET = randomBytes(32).toString('base64url');
const KEY = `e2e-${randomBytes(24).toString('base64url')}`;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** The image config fields a Dockerfile sets (Entrypoint: podman writes [] where the base has none). */
function dockerfileFields(config: Record<string, unknown>): Record<string, unknown> {
  const c = config.config as Record<string, unknown>;
  const entrypoint = (c.Entrypoint as string[] | null | undefined) ?? [];
  return {
    Env: c.Env,
    WorkingDir: c.WorkingDir,
    User: c.User,
    ExposedPorts: c.ExposedPorts,
    Cmd: c.Cmd,
    StopSignal: c.StopSignal,
    Healthcheck: c.Healthcheck,
    Entrypoint: entrypoint,
  };
}

/** `repo:tag`'s image config and the listing of its last layer (type, mode, owner, size, name; no mtimes). */
async function inspectPushed(registry: string, repo: string, tag: string, dir: string) {
  const client = new RegistryClient({ registry });
  const raw = (await client.getManifest(repo, tag)).bytes;
  const manifest = JSON.parse(raw.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string; size: number }> };
  const config = JSON.parse((await client.getBlobBytes(repo, manifest.config.digest)).toString('utf8')) as Record<string, unknown>;
  const last = manifest.layers.at(-1)!;
  const file = join(dir, `${last.digest.slice(7)}.tar.gz`);
  await writeFile(file, await client.getBlobBytes(repo, last.digest));
  const { stdout } = await run('tar', ['-tvzf', file, '--numeric-owner']);
  const listing = stdout
    .trim()
    .split('\n')
    .map((l) => {
      const [mode, owner, size, , , ...name] = l.trim().split(/\s+/);
      return `${mode} ${owner} ${size} ${name.join(' ')}`;
    });
  return { digest: `sha256:${createHash('sha256').update(raw).digest('hex')}`, config, listing, layers: manifest.layers };
}

/** Pulls `ref` into podman's storage; resolves the image ID. */
async function pull(ref: string): Promise<string> {
  await podman(['pull', '--quiet', '--tls-verify=false', ref]);
  return podman(['image', 'inspect', '--format', '{{.Id}}', ref]);
}

/** The user-visible round trip: /readyz 200, Node 24 as uid 1000, a subscriber gets a publish, SIGTERM drains (4000) and exits 0. */
async function runsRiver(containers: RiverContainers, image: string): Promise<void> {
  const { id, port, http } = await containers.run(image, { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: KEY, RIVER_DRAIN_MS: '500' });
  expect((await fetch(`${http}/readyz`)).status).toBe(200);
  expect(await podman(['exec', id, 'node', '-e', 'console.log(process.getuid(), process.cwd(), process.version.split(".")[0])'])).toBe(
    '1000 /app v24',
  );
  const client = await subscriber(port, SECRET, 'dogs');
  const published = await publish(http, KEY, 'dogs', 'new-post', { title: 'daemonless' });
  expect(published.status).toBe(200);
  const { offset } = (await published.json()) as { offset: number };
  expect(await client.next('message')).toMatchObject({ channel: 'dogs', event: 'new-post', offset, data: { title: 'daemonless' } });
  await podman(['kill', '--signal', 'SIGTERM', id]);
  expect(await client.closed).toBe(4000);
  expect(await podman(['wait', id], { timeoutMs: 60_000 })).toBe('0');
}

describe.skipIf(skipWithoutPodman() || !registryAvailable())(
  "River's image assembled without a daemon from the packed @river/server",
  () => {
    let registry: RegistryInstance;
    let dir: string;
    let packed: PackedServer;
    let baseRef: string;
    let baseName: string;
    const containers = new RiverContainers();
    const pulled: string[] = [];
    let assembled: AssembledImage;
    let assembly: { seconds: number; pushed: number };

    beforeAll(async () => {
      registry = await startRegistry();
      dir = await mkdtemp(join(tmpdir(), 'river-image-daemonless-'));
      baseName = (await ensureStandinBase()).name;
      // The base as the assembler finds node:24-bookworm-slim on Docker Hub: an OCI image in a registry.
      baseRef = `${registry.host}/library/node:24-bookworm-slim`;
      await copyFromPodman(baseName, baseRef);
      packed = await packServerImage(dir);
      // The assembly itself, timed, with the bytes it pushes counted.
      const counter = countingFetch();
      const started = Date.now();
      assembled = await assembleImage({
        contextDir: packed.context,
        buildArgs: { BASE_IMAGE: baseRef },
        target: { registry: registry.host, repository: 'river/server', tag: 'daemonless' },
        fetch: counter.fetch,
      });
      assembly = { seconds: (Date.now() - started) / 1000, pushed: counter.sent() };
    }, 300_000);

    afterAll(async () => {
      await containers.removeAll();
      for (const id of pulled) await podman(['rmi', '-f', id]).catch(() => undefined);
      await registry?.stop();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('assembles on the Node 24 base in the registry and runs: /readyz, a subscriber gets an HTTP publish, SIGTERM exits 0', async () => {
      const id = await pull(assembled.ref);
      pulled.push(id);
      const size = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', id]));
      console.log(
        `daemonless assembly: ${assembly.seconds.toFixed(1)} s, pushed ${mb(assembly.pushed)} (compressed image ${mb(assembled.size)}, app layer ${mb(assembled.appLayer.size)}), image ${mb(size)} unpacked`,
      );
      // Base layer(s) plus the app layer: the bundle alone, no node_modules.
      expect(assembled.appLayer.size).toBeLessThan(5e6);
      await runsRiver(containers, id);
    }, 120_000);

    it('has the config and app layer `podman build` makes of the same Dockerfile (Env, WorkingDir, User, ExposedPorts, Cmd, StopSignal, Healthcheck)', async () => {
      const started = Date.now();
      // As the CDK builds it, on the same base.
      const built = await buildLikeCdk(packed.context, baseName, join(dir, 'iid'));
      pulled.push(built);
      const buildSeconds = (Date.now() - started) / 1000;
      const size = Number(await podman(['image', 'inspect', '--format', '{{.Size}}', built]));
      await podman(['push', '--quiet', '--tls-verify=false', built, `docker://${registry.host}/podman/river:built`]);

      const ours = await inspectPushed(registry.host, 'river/server', 'daemonless', dir);
      const theirs = await inspectPushed(registry.host, 'podman/river', 'built', dir);
      console.log(`podman build: ${buildSeconds.toFixed(1)} s, image ${mb(size)} unpacked, app layer ${mb(theirs.layers.at(-1)!.size)}`);
      expect(dockerfileFields(ours.config)).toEqual(dockerfileFields(theirs.config));
      expect(dockerfileFields(ours.config)).toMatchObject({
        User: 'node',
        WorkingDir: '/app',
        Cmd: ['node', '/app/main.mjs'],
        StopSignal: 'SIGTERM',
        ExposedPorts: { '4400/tcp': {} },
      });
      expect((ours.config.config as { Env: string[] }).Env).toContain('NODE_ENV=production');
      // The same base layers underneath, and the same files in the app layer (names, modes, owners, sizes).
      expect(ours.layers.slice(0, -1).map((l) => l.digest)).toEqual(theirs.layers.slice(0, -1).map((l) => l.digest));
      expect(ours.listing).toEqual(theirs.listing);
      expect(ours.listing.some((l) => l.endsWith(' app/main.mjs'))).toBe(true);
    }, 120_000);

    it('a second assembly of a changed app pushes only its app layer: the base is already in the repository', async () => {
      const ctx = join(dir, 'ctx2');
      await cp(packed.context, ctx, { recursive: true });
      await appendFile(join(ctx, 'app', 'main.mjs'), '\n// the next release\n');
      const counter = countingFetch();
      const lines: string[] = [];
      const again = await assembleImage({
        contextDir: ctx,
        buildArgs: { BASE_IMAGE: baseRef },
        target: { registry: registry.host, repository: 'river/server', tag: 'next' },
        fetch: counter.fetch,
        onProgress: (l) => lines.push(l),
      });
      console.log(`daemonless assembly of a changed app: pushed ${mb(counter.sent())}`);
      expect(lines.filter((l) => l.startsWith('base layer')).every((l) => l.endsWith(': already there'))).toBe(true);
      expect(again.appLayer.digest).not.toBe(assembled.appLayer.digest);
      expect(counter.sent()).toBeLessThan(assembled.appLayer.size + 64 * 1024);
      expect(counter.sent()).toBeGreaterThan(assembled.appLayer.size / 2);
    }, 60_000);

    it("on a base in Docker's v2 format, the image is in Docker's format too, keeps HEALTHCHECK, and runs as node in /app with the Dockerfile's ENV", async () => {
      const v2 = `${registry.host}/library/node:24-v2s2`;
      await copyFromPodman(baseName, v2, 'v2s2');
      const img = await assembleImage({
        contextDir: packed.context,
        buildArgs: { BASE_IMAGE: v2 },
        target: { registry: registry.host, repository: 'river/server', tag: 'v2s2' },
      });
      const manifest = await new RegistryClient({ registry: registry.host }).getManifest('river/server', 'v2s2');
      expect(manifest.mediaType).toBe(MEDIA.dockerManifest);
      expect(JSON.parse(manifest.bytes.toString('utf8'))).toMatchObject({
        config: { mediaType: MEDIA.dockerConfig },
        layers: [{ mediaType: MEDIA.dockerLayer }, { mediaType: MEDIA.dockerLayer, digest: assembled.appLayer.digest }],
      });
      const id = await pull(img.ref);
      pulled.push(id);
      expect(await podman(['image', 'inspect', '--format', '{{json .HealthCheck.Test}}', id])).toMatch(/^\["CMD","node","-e",.*healthz/);
      const probe = 'console.log(process.getuid(), process.cwd(), process.env.NODE_ENV, process.version.split(".")[0])';
      expect(await podman(['run', '--rm', ...PODMAN_LIMITS, '--network', 'host', id, 'node', '-e', probe])).toBe(
        '1000 /app production v24',
      );
    }, 60_000);

    it("`river deploy --builder daemonless` pushes the image asset of River's synthesized stack to the registry standing in for ECR, and it runs", async () => {
      const project = join(dir, 'app');
      await mkdir(project);
      await writeFile(join(project, 'river.config.json'), JSON.stringify({ name: 'river-e2e', region: 'us-east-1', baseImage: baseRef }));
      // The real synthesis of River's CDK app and the real daemonless publish; the CloudFormation deploy
      // itself is replaced (moto cannot create River's stack): as ToolkitDeployer.deploy, it synthesizes,
      // hands the assembly's image assets to publishImages, then (here) returns outputs.
      const toolkit = new ToolkitDeployer();
      const cdkOut = join(dir, 'cdk.out');
      const deployer: Deployer = {
        synth: (config, out, hooks) => toolkit.synth(config, out, hooks),
        destroy: async () => {
          throw new Error('not in this test');
        },
        diff: async () => {
          throw new Error('not in this test');
        },
        async deploy(config, opts) {
          await toolkit.synth(config, cdkOut);
          await opts.publishImages?.(await readImageAssets(cdkOut));
          return { stackName: config.name, outputs: { ...OUTPUTS } };
        },
      };
      const logins: Array<{ region: string; roleArn?: string }> = [];
      const cloud = fakeCloud({
        ecrLogin: async (opts) => {
          logins.push(opts);
          return { registry: registry.host, username: 'AWS', password: 'ecr-token' };
        },
      });
      const t = testContext({ cwd: project, cloud, deployer, which: async () => true });
      const started = Date.now();
      const code = await t.run(['deploy', '--builder', 'daemonless']);
      expect(code, t.io.stderr.join('\n')).toBe(0);
      const seconds = (Date.now() - started) / 1000;
      const repo = 'cdk-hnb659fds-container-assets-123456789012-us-east-1';
      const line = t.io.stderr.find((l) => l.startsWith(`pushed ${registry.host}/${repo}:`));
      expect(line, t.io.stderr.join('\n')).toMatch(/:[0-9a-f]{64} \(\d+\.\d s\)$/);
      expect(logins).toEqual([
        { region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/cdk-hnb659fds-image-publishing-role-123456789012-us-east-1' },
      ]);
      expect(t.io.stderr).toContain('deployed river-e2e');
      console.log(`river deploy --builder daemonless (synth + assembly): ${seconds.toFixed(1)} s`);

      // The asset is River's image context, and the image is the one assembled from the packed package,
      // byte for byte (same app layer, same config, same manifest): the checkout and the npm package agree.
      const [asset] = await readImageAssets(cdkOut);
      expect(asset!.buildArgs).toEqual({ BASE_IMAGE: baseRef });
      expect(await readFile(join(asset!.directory, asset!.dockerFile), 'utf8')).toBe(
        await readFile(join(packed.context, 'Dockerfile'), 'utf8'),
      );
      const ref = line!.split(' ')[1]!;
      const tag = ref.slice(ref.lastIndexOf(':') + 1);
      expect(tag).toBe(asset!.id);
      const pushed = await inspectPushed(registry.host, repo, tag, dir);
      expect(pushed.layers.at(-1)!.digest).toBe(assembled.appLayer.digest);
      expect(pushed.digest).toBe(assembled.digest);

      const id = await pull(ref);
      pulled.push(id);
      await runsRiver(containers, id);
    }, 120_000);
  },
);
