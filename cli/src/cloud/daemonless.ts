/**
 * The daemonless builder of `river deploy`: pushes each container image asset of the synthesized
 * assembly to its ECR destination (the CDK bootstrap's repository, tagged with the asset hash) by
 * assembling it over the registry API (oci/assemble.ts), with credentials from ECR
 * GetAuthorizationToken as the bootstrap's image-publishing role.
 *
 * The toolkit deploy that follows then skips building and publishing the asset: toolkit-lib's deploy
 * removes already-published assets from its work graph before building (@aws-cdk/toolkit-lib
 * lib/actions/deploy/private/helpers.js `removePublishedAssetsFromWorkGraph`, called from
 * lib/toolkit/toolkit.js unless `force`), asking cdk-assets, whose container image handler answers
 * from ECR DescribeImages on the destination's repository and tag
 * (@aws-cdk/cdk-assets-lib lib/private/handlers/container-images.js `isPublished` ->
 * `destinationAlreadyExists`; its `build()` and `publish()` also return early on it). Checked in
 * toolkit-lib 1.43 / cdk-assets-lib 1.5.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cloud } from './cloud.js';
import { parseDockerfile } from './oci/dockerfile.js';
import { assembleImage } from './oci/assemble.js';
import { resolveDestination, type ImageAsset } from './oci/image-assets.js';
import { RegistryClient } from './oci/registry.js';

export interface DaemonlessDeps {
  cloud: Pick<Cloud, 'ecrLogin'>;
  account: string;
  region: string;
  fetch?: typeof fetch;
  onProgress(line: string): void;
}

export interface PublishedImage {
  ref: string;
  /** Absent when the tag was already in the repository (nothing pushed). */
  digest?: string;
  seconds: number;
}

export async function publishImagesDaemonless(assets: readonly ImageAsset[], deps: DaemonlessDeps): Promise<PublishedImage[]> {
  // Every Dockerfile is checked before the first AWS call: one that needs a builder fails at once.
  for (const asset of assets) parseDockerfile(await readFile(join(asset.directory, asset.dockerFile), 'utf8'), asset.buildArgs);
  const published: PublishedImage[] = [];
  for (const asset of assets) {
    for (const raw of asset.destinations) {
      const started = Date.now();
      const dest = resolveDestination(raw, { account: deps.account, region: deps.region });
      const login = await deps.cloud.ecrLogin({ region: dest.region, ...(dest.assumeRoleArn ? { roleArn: dest.assumeRoleArn } : {}) });
      const auth = { username: login.username, password: login.password };
      const ref = `${login.registry}/${dest.repositoryName}:${dest.imageTag}`;
      // The bootstrap's repository has immutable tags: an image already there is never pushed again.
      const registry = new RegistryClient({ registry: login.registry, push: true, auth, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
      if (await registry.manifestExists(dest.repositoryName, dest.imageTag)) {
        deps.onProgress(`image ${ref} is already published`);
        published.push({ ref, seconds: (Date.now() - started) / 1000 });
        continue;
      }
      const img = await assembleImage({
        contextDir: asset.directory,
        dockerfile: asset.dockerFile,
        buildArgs: asset.buildArgs,
        target: { registry: login.registry, repository: dest.repositoryName, tag: dest.imageTag },
        targetAuth: auth,
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
        onProgress: (line) => deps.onProgress(`image: ${line}`),
      });
      published.push({ ref: img.ref, digest: img.digest, seconds: (Date.now() - started) / 1000 });
    }
  }
  return published;
}
