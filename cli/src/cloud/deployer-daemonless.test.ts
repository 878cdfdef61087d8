/**
 * ToolkitDeployer.deploy with the daemonless builder's hook, over the real toolkit and River's CDK app:
 * the hook gets the assembly's image asset (a context directory with its Dockerfile, the bootstrap's
 * ECR destination) before anything is deployed. AWS is moto (the toolkit resolves the default
 * environment through STS); the hook stops the deploy, so no CloudFormation call is made.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultRiverConfig } from '@river/templates';
import { describe, expect, it } from 'vitest';
import { motoAvailable, motoEndpointForSuite } from '../../../e2e/harness/moto.js';
import { ToolkitDeployer } from './deployer.js';
import type { ImageAsset } from './oci/image-assets.js';

const lambdaBundle = fileURLToPath(new URL('../../../templates/dist/lambda/index.mjs', import.meta.url));
const ready = existsSync(lambdaBundle);
if (!ready && process.env.CI) throw new Error(`${lambdaBundle} is missing: run \`npm run build\` before the tests`);

class Stop extends Error {}

describe.skipIf(!ready || !motoAvailable())('ToolkitDeployer.deploy with publishImages (toolkit-lib, moto)', () => {
  motoEndpointForSuite();

  it('hands the image asset of the synthesized assembly to the hook before deploying', { timeout: 120_000 }, async () => {
    let seen: ImageAsset[] | undefined;
    const progress: string[] = [];
    const deploying = new ToolkitDeployer().deploy(
      { ...defaultRiverConfig(), name: 'river-test' },
      {
        onProgress: (p) => progress.push(p.text),
        confirm: async () => true,
        publishImages: async (assets) => {
          seen = assets;
          throw new Stop('stop before deploying');
        },
      },
    );
    await expect(deploying).rejects.toBeInstanceOf(Stop);
    expect(seen).toHaveLength(1);
    const asset = seen![0]!;
    expect(existsSync(join(asset.directory, asset.dockerFile))).toBe(true);
    expect(asset.id).toMatch(/^[0-9a-f]{64}$/);
    // River's stack has its region and no account: the account placeholder is resolved by the daemonless builder.
    expect(asset.destinations).toEqual([
      {
        repositoryName: 'cdk-hnb659fds-container-assets-${AWS::AccountId}-us-east-1',
        imageTag: asset.id,
        region: 'us-east-1',
        assumeRoleArn: 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-image-publishing-role-${AWS::AccountId}-us-east-1',
      },
    ]);
  });
});
