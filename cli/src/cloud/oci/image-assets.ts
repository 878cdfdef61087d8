/**
 * The container image assets of a synthesized cloud assembly (`*.assets.json`, `dockerImages`),
 * read for the daemonless builder: where each image's context is, its Dockerfile and build args,
 * and the ECR destinations (repository and tag, with the CDK's `${AWS::AccountId}` / `${AWS::Region}`
 * placeholders of an environment-agnostic stack resolved by `resolveDestination`).
 */
import { readFile, readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

export interface ImageDestination {
  repositoryName: string;
  imageTag: string;
  region?: string;
  account?: string;
  /** The bootstrap's image-publishing role (cdk-assets assumes it to push). */
  assumeRoleArn?: string;
}

export interface ImageAsset {
  id: string;
  /** Absolute path of the build context. */
  directory: string;
  dockerFile: string;
  buildArgs: Record<string, string>;
  platform?: string;
  destinations: ImageDestination[];
}

export class ImageAssetError extends Error {
  readonly code = 'image_asset_unsupported';
  constructor(message: string) {
    super(message);
    this.name = 'ImageAssetError';
  }
}

interface ManifestFile {
  dockerImages?: Record<
    string,
    {
      source: {
        directory?: string;
        executable?: string[];
        dockerFile?: string;
        dockerBuildArgs?: Record<string, string>;
        dockerBuildTarget?: string;
        dockerBuildSecrets?: unknown;
        dockerBuildSsh?: unknown;
        platform?: string;
        dockerOutputs?: unknown;
      };
      destinations: Record<string, ImageDestination>;
    }
  >;
}

const UNSUPPORTED = ['executable', 'dockerBuildTarget', 'dockerBuildSecrets', 'dockerBuildSsh', 'dockerOutputs'] as const;

export async function readImageAssets(assemblyDir: string): Promise<ImageAsset[]> {
  const files = (await readdir(assemblyDir)).filter((f) => f.endsWith('.assets.json')).sort();
  const out: ImageAsset[] = [];
  for (const f of files) {
    const manifest = JSON.parse(await readFile(join(assemblyDir, f), 'utf8')) as ManifestFile;
    for (const [id, entry] of Object.entries(manifest.dockerImages ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const source = entry.source as Record<string, unknown>;
      const bad = UNSUPPORTED.find((k) => source[k] !== undefined);
      if (bad || !entry.source.directory) {
        throw new ImageAssetError(`image asset ${id} uses ${bad ?? 'no source directory'}, which the daemonless builder cannot build`);
      }
      if (entry.source.platform !== undefined && entry.source.platform !== 'linux/amd64') {
        throw new ImageAssetError(`image asset ${id} is for ${entry.source.platform}; the daemonless builder assembles linux/amd64 only`);
      }
      const dir = entry.source.directory;
      out.push({
        id,
        directory: isAbsolute(dir) ? dir : join(assemblyDir, dir),
        dockerFile: entry.source.dockerFile ?? 'Dockerfile',
        buildArgs: { ...(entry.source.dockerBuildArgs ?? {}) },
        ...(entry.source.platform ? { platform: entry.source.platform } : {}),
        destinations: Object.keys(entry.destinations)
          .sort()
          .map((k) => entry.destinations[k]!),
      });
    }
  }
  return out;
}

/** Replaces the CDK's environment placeholders, as cdk-assets does before publishing. */
export function resolveDestination(
  d: ImageDestination,
  env: { account: string; region: string; partition?: string },
): Required<Pick<ImageDestination, 'repositoryName' | 'imageTag' | 'region' | 'account'>> & Pick<ImageDestination, 'assumeRoleArn'> {
  const sub = (s: string) =>
    s
      .replaceAll('${AWS::AccountId}', env.account)
      .replaceAll('${AWS::Region}', env.region)
      .replaceAll('${AWS::Partition}', env.partition ?? 'aws');
  return {
    repositoryName: sub(d.repositoryName),
    imageTag: sub(d.imageTag),
    region: sub(d.region ?? env.region),
    account: sub(d.account ?? env.account),
    ...(d.assumeRoleArn ? { assumeRoleArn: sub(d.assumeRoleArn) } : {}),
  };
}
