import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureContext } from './test-fixtures.js';
import { readImageAssets, resolveDestination } from './image-assets.js';

describe('readImageAssets on a synthesized assembly (aws-cdk-lib, offline)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'river-assets-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds the image asset: its staged context, Dockerfile, BASE_IMAGE build arg and the bootstrap ECR destination', async () => {
    const ctx = await fixtureContext(dir);
    const app = new App({ outdir: join(dir, 'cdk.out') });
    const stack = new Stack(app, 'river');
    new DockerImageAsset(stack, 'Image', {
      directory: ctx,
      buildArgs: { BASE_IMAGE: 'public.ecr.aws/docker/library/node:24-bookworm-slim' },
      platform: Platform.LINUX_AMD64,
    });
    app.synth();
    const assets = await readImageAssets(join(dir, 'cdk.out'));
    expect(assets).toHaveLength(1);
    const a = assets[0]!;
    expect(a.directory.startsWith(join(dir, 'cdk.out', 'asset.'))).toBe(true);
    expect(a).toMatchObject({
      dockerFile: 'Dockerfile',
      buildArgs: { BASE_IMAGE: 'public.ecr.aws/docker/library/node:24-bookworm-slim' },
      platform: 'linux/amd64',
    });
    expect(a.destinations).toHaveLength(1);
    const d = resolveDestination(a.destinations[0]!, { account: '123456789012', region: 'eu-west-1' });
    expect(d).toEqual({
      repositoryName: 'cdk-hnb659fds-container-assets-123456789012-eu-west-1',
      imageTag: a.id,
      region: 'eu-west-1',
      account: '123456789012',
      assumeRoleArn: 'arn:aws:iam::123456789012:role/cdk-hnb659fds-image-publishing-role-123456789012-eu-west-1',
    });
  });
});
