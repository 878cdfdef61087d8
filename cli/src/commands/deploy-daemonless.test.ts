/**
 * `river deploy` without a container builder: auto falls back to the daemonless builder, which
 * pushes the image asset to a real registry (docker-registry on loopback standing in for ECR; the
 * fake Cloud's ecrLogin names it) before the deployer deploys. The AWS calls themselves are in
 * aws-ecr.test.ts (aws-sdk-client-mock and moto).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registryAvailable, startRegistry, type RegistryInstance } from '../../../e2e/harness/registry.js';
import type { Cloud, DeployOptions } from '../cloud/cloud.js';
import type { ImageAsset } from '../cloud/oci/image-assets.js';
import { startAuthProxy } from '../cloud/oci/test-auth-proxy.js';
import { fixtureContext, pushTestBase } from '../cloud/oci/test-fixtures.js';
import { fakeCloud, fakeDeployer, OUTPUTS } from '../test-cloud.js';
import { testContext } from '../test-context.js';

const run = promisify(execFile);
const TAG = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0';
const REPO = 'cdk-hnb659fds-container-assets-123456789012-us-east-1';

describe.skipIf(!registryAvailable())('river deploy, daemonless', () => {
  let registry: RegistryInstance;
  let dir: string;
  let ctxDir: string;
  let project: string;
  beforeAll(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'river-daemonless-'));
    await pushTestBase(registry.host, 'library/node', '24-bookworm-slim', dir);
    ctxDir = await fixtureContext(dir);
    project = join(dir, 'app');
    await mkdir(project);
    await writeFile(join(project, 'river.config.json'), JSON.stringify({ name: 'river', region: 'us-east-1' }));
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const asset = (contextDir = ctxDir, tag = TAG): ImageAsset => ({
    id: tag,
    directory: contextDir,
    dockerFile: 'Dockerfile',
    buildArgs: { BASE_IMAGE: `${registry.host}/library/node:24-bookworm-slim` },
    platform: 'linux/amd64',
    destinations: [
      {
        repositoryName: 'cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}',
        imageTag: tag,
        assumeRoleArn:
          'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-image-publishing-role-${AWS::AccountId}-${AWS::Region}',
      },
    ],
  });
  /** A deployer that, like ToolkitDeployer, hands the assembly's image assets to publishImages before deploying. */
  const publishing = (assets: () => ImageAsset[]) =>
    fakeDeployer({
      deploy: async (config, opts: DeployOptions) => {
        await opts.publishImages?.(assets());
        return { stackName: config.name, outputs: { ...OUTPUTS } };
      },
    });
  let logins: Array<{ region: string; roleArn?: string }>;
  let cloud: Cloud & { calls: string[] };
  beforeEach(() => {
    logins = [];
    cloud = fakeCloud({
      ecrLogin: async (opts) => {
        logins.push(opts);
        return { registry: registry.host, username: 'AWS', password: 'token' };
      },
    });
  });

  it('auto without docker: one line saying why, then the image is pushed to the ECR destination and the deploy goes on', async () => {
    const deployer = publishing(() => [asset()]);
    const t = testContext({ cwd: project, cloud, deployer, which: async () => false });
    expect(await t.run(['deploy'])).toBe(0);
    expect(t.io.stderr).toContain(
      'no container builder: neither docker nor finch is on PATH: building the image without a container builder (--builder daemonless)',
    );
    expect(deployer.deployed[0]!.containerBuilder).toBeUndefined();
    expect(logins).toEqual([
      { region: 'us-east-1', roleArn: 'arn:aws:iam::123456789012:role/cdk-hnb659fds-image-publishing-role-123456789012-us-east-1' },
    ]);
    const ref = `${registry.host}/${REPO}:${TAG}`;
    expect(t.io.stderr).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^image: base image .*library\/node:24-bookworm-slim \(linux\/amd64\)$/),
        expect.stringMatching(new RegExp(`^pushed ${ref.replace(/[.]/g, '\\.')} \\(\\d+\\.\\d s\\)$`)),
      ]),
    );
    expect(t.io.stderr).toContain('deployed river');
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`]);
    expect(JSON.parse(stdout)).toMatchObject({ Architecture: 'amd64', Os: 'linux', Layers: expect.any(Array) as unknown });

    // Deployed again: the tag is there (the bootstrap repository's tags are immutable), nothing is pushed.
    const again = testContext({ cwd: project, cloud, deployer: publishing(() => [asset()]), which: async () => false });
    expect(await again.run(['deploy'])).toBe(0);
    expect(again.io.stderr).toContain(`image ${ref} already published`);
    expect(again.io.stderr.some((l) => l.startsWith('image: base image'))).toBe(false);
  });

  it('--builder daemonless does not ask docker; --builder docker never goes daemonless; "image" in the config needs neither', async () => {
    const runs: string[] = [];
    const exec = async (cmd: string) => {
      runs.push(cmd);
      return { exitCode: 0, timedOut: false, notFound: false, stderr: '' };
    };
    const d1 = publishing(() => [asset(ctxDir, 'a'.repeat(64))]);
    const t = testContext({ cwd: project, cloud, deployer: d1, which: async () => true, exec });
    expect(await t.run(['deploy', '--builder', 'daemonless'])).toBe(0);
    expect(runs).toEqual([]);
    expect(typeof d1.deployed[0]!.publishImages).toBe('function');

    const d2 = publishing(() => [asset()]);
    const docker = testContext({ cwd: project, cloud, deployer: d2, which: async () => true, exec });
    expect(await docker.run(['deploy', '--builder', 'docker'])).toBe(0);
    expect(d2.deployed[0]).toMatchObject({ containerBuilder: 'docker' });
    expect(d2.deployed[0]!.publishImages).toBeUndefined();

    const bad = testContext({ cwd: project, cloud, deployer: publishing(() => []), which: async () => true, exec });
    expect(await bad.run(['deploy', '--builder', 'podman'])).toBe(1);
    expect(bad.io.stderr.join('\n')).toMatch(/--builder.*podman.*(auto, docker, daemonless|Allowed choices)/);
  });

  it('a Dockerfile that needs a builder: exit 1 naming the line, with the --builder docker hint', async () => {
    const bad = join(dir, 'bad');
    await mkdir(join(bad, 'app'), { recursive: true });
    await writeFile(join(bad, 'Dockerfile'), 'ARG BASE_IMAGE=node:24\nFROM ${BASE_IMAGE}\nRUN npm ci\nCOPY app/ /app/\n');
    const t = testContext({ cwd: project, cloud, deployer: publishing(() => [asset(bad, 'b'.repeat(64))]), which: async () => false });
    expect(await t.run(['deploy'])).toBe(1);
    expect(logins).toEqual([]); // refused before any ECR call
    expect(t.io.stderr.slice(-2)).toEqual([
      'error: the daemonless builder cannot build this image: Dockerfile line 3: RUN is not supported without a container builder (supported: ARG FROM ENV WORKDIR COPY USER EXPOSE STOPSIGNAL HEALTHCHECK CMD)',
      'hint: run `npx river deploy --builder docker` with a running Docker or Finch, or set "image" in river.config.json to a prebuilt image',
    ]);
  });

  it('the registry refusing the ECR credentials: exit 1 with the permissions hint', async () => {
    const proxy = await startAuthProxy(registry.url, 'basic', { username: 'AWS', password: 'the-real-token' });
    try {
      const refusing = fakeCloud({ ecrLogin: async () => ({ registry: proxy.host, username: 'AWS', password: 'stale-token' }) });
      const t = testContext({
        cwd: project,
        cloud: refusing,
        deployer: publishing(() => [asset(ctxDir, 'c'.repeat(64))]),
        which: async () => false,
      });
      expect(await t.run(['deploy'])).toBe(1);
      expect(t.io.stderr.at(-2)).toMatch(
        /^error: pushing the River image was refused: 127\.0\.0\.1:\d+\/cdk-hnb659fds-container-assets-123456789012-us-east-1: access refused \(401\) with the given credentials$/,
      );
      expect(t.io.stderr.at(-1)).toMatch(/^hint: use credentials that may assume the CDK bootstrap's image-publishing role/);
    } finally {
      await proxy.close();
    }
  });
});
