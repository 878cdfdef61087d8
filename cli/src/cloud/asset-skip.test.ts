/**
 * The claim the daemonless builder rests on (daemonless.ts): once the image is in its ECR destination,
 * the CDK's asset publishing (cdk-assets-lib, which toolkit-lib's deploy uses) neither builds nor
 * pushes it, so no container builder is ever run. Checked with the real cdk-assets-lib, a fake AWS
 * (ECR DescribeImages answers) and a CDK_DOCKER that records every invocation.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AssetManifest, AssetPublishing, type IAws } from '@aws-cdk/cdk-assets-lib';
import { Manifest } from '@aws-cdk/cloud-assembly-schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TAG = 'f'.repeat(64);

describe('cdk-assets skips a container image already in ECR', () => {
  let dir: string;
  let log: string;
  const savedDocker = process.env.CDK_DOCKER;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'river-asset-skip-'));
    log = join(dir, 'docker.log');
    const docker = join(dir, 'docker');
    await writeFile(docker, `#!/bin/sh\necho "$@" >> ${log}\nexit 1\n`);
    await chmod(docker, 0o755);
    process.env.CDK_DOCKER = docker;
    await mkdir(join(dir, 'asset.ctx'));
    await writeFile(join(dir, 'asset.ctx/Dockerfile'), 'FROM scratch\n');
    await writeFile(
      join(dir, 'river.assets.json'),
      JSON.stringify({
        version: Manifest.version(),
        dockerImages: {
          [TAG]: {
            source: { directory: 'asset.ctx', platform: 'linux/amd64' },
            destinations: {
              'current_account-current_region': {
                repositoryName: 'cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}',
                imageTag: TAG,
                assumeRoleArn:
                  'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-image-publishing-role-${AWS::AccountId}-${AWS::Region}',
              },
            },
          },
        },
      }),
    );
  });
  afterAll(async () => {
    if (savedDocker === undefined) delete process.env.CDK_DOCKER;
    else process.env.CDK_DOCKER = savedDocker;
    await rm(dir, { recursive: true, force: true });
  });

  function fakeAws(imageThere: boolean, calls: string[]): IAws {
    const account = { accountId: '123456789012', partition: 'aws' };
    return {
      discoverPartition: async () => 'aws',
      discoverDefaultRegion: async () => 'us-east-1',
      discoverCurrentAccount: async () => account,
      discoverTargetAccount: async () => account,
      s3Client: async () => Promise.reject(new Error('no S3 in this test')),
      secretsManagerClient: async () => Promise.reject(new Error('no Secrets Manager in this test')),
      ecrClient: async () => ({
        describeRepositories: async (input) => {
          calls.push(`DescribeRepositories ${input.repositoryNames?.join(',')}`);
          return {
            $metadata: {},
            repositories: [{ repositoryUri: `123456789012.dkr.ecr.us-east-1.amazonaws.com/${input.repositoryNames?.[0]}` }],
          };
        },
        describeImages: async (input) => {
          calls.push(`DescribeImages ${input.repositoryName}:${input.imageIds?.[0]?.imageTag}`);
          if (imageThere) return { $metadata: {}, imageDetails: [{ imageTags: [TAG] }] };
          throw Object.assign(new Error('not found'), { name: 'ImageNotFoundException' });
        },
        getAuthorizationToken: async () => {
          calls.push('GetAuthorizationToken');
          return {
            $metadata: {},
            authorizationData: [
              {
                authorizationToken: Buffer.from('AWS:x').toString('base64'),
                proxyEndpoint: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com',
              },
            ],
          };
        },
      }),
    } as IAws;
  }

  it('image in ECR: published, and build+publish run no container builder', async () => {
    const calls: string[] = [];
    const manifest = AssetManifest.fromFile(join(dir, 'river.assets.json'));
    const pub = new AssetPublishing(manifest, { aws: fakeAws(true, calls), throwOnError: true, quiet: true });
    expect(await pub.isEntryPublished(manifest.entries[0]!)).toBe(true);
    await pub.publish();
    expect(calls).toContain(`DescribeImages cdk-hnb659fds-container-assets-123456789012-us-east-1:${TAG}`);
    expect(calls).not.toContain('GetAuthorizationToken');
    await expect(readFile(log, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('image not in ECR (the control): the builder is run', async () => {
    const manifest = AssetManifest.fromFile(join(dir, 'river.assets.json'));
    const pub = new AssetPublishing(manifest, { aws: fakeAws(false, []), throwOnError: true, quiet: true });
    expect(await pub.isEntryPublished(manifest.entries[0]!)).toBe(false);
    await expect(pub.publish()).rejects.toThrow();
    expect((await readFile(log, 'utf8')).length).toBeGreaterThan(0);
  });
});
