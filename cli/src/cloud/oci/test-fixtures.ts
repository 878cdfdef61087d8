/** Fixtures shared by the oci tests. Not part of the build. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeLayer } from './layer.js';
import { MEDIA, RegistryClient, type RegistryAuth } from './registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The shape of River's RUN-free image Dockerfile (templates' image context). */
export const RIVER_DOCKERFILE = `# River node image
ARG BASE_IMAGE=node:24-bookworm-slim
FROM \${BASE_IMAGE}
ENV NODE_ENV=production RIVER_PORT=4400
WORKDIR /app
COPY app/ /app/
USER node
EXPOSE 4400
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \\
  CMD ["node", "-e", "process.exit(0)"]
CMD ["node", "server/main.js"]
`;

/** A context as River's image context is laid out: the Dockerfile and app/. */
export async function fixtureContext(dir: string): Promise<string> {
  const ctx = join(dir, 'ctx');
  await mkdir(join(ctx, 'app/server'), { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), RIVER_DOCKERFILE);
  await writeFile(join(ctx, 'app/package.json'), '{"type":"module"}\n');
  await writeFile(join(ctx, 'app/server/main.js'), 'console.log("river")\n');
  return ctx;
}

/** Pushes a one-layer image manifest for `architecture`; returns its descriptor. */
async function pushArch(client: RegistryClient, repo: string, work: string, architecture: string) {
  await mkdir(join(work, 'rootfs/etc'), { recursive: true });
  await writeFile(join(work, 'rootfs/etc/base-release'), 'test base 1\n');
  const layer = await writeLayer(join(work, 'rootfs'), '/', join(work, 'base.tar.gz'));
  if (!(await client.blobExists(repo, layer.digest))) await client.uploadBlob(repo, layer.digest, createReadStream(layer.path));
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: 'linux',
      config: { Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=development'], Entrypoint: ['docker-entrypoint.sh'], Cmd: ['node'] },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created_by: 'test base' }],
    }),
  );
  await client.uploadBlob(repo, sha(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: sha(config), size: config.length },
      layers: [{ mediaType: MEDIA.ociLayer, digest: layer.digest, size: layer.size }],
    }),
  );
  const digest = await client.putManifest(repo, sha(manifest), MEDIA.ociManifest, manifest);
  return { mediaType: MEDIA.ociManifest, digest, size: manifest.length, platform: { os: 'linux', architecture } };
}

/** Pushes a small base image as repo:tag: an OCI index listing linux/arm64 and linux/amd64 (or only `archs`). */
export async function pushTestBase(
  registry: string,
  repo: string,
  tag: string,
  work: string,
  auth?: RegistryAuth,
  archs = ['arm64', 'amd64'],
): Promise<void> {
  const client = new RegistryClient({ registry, push: true, ...(auth ? { auth } : {}) });
  const manifests = [];
  for (const arch of archs) manifests.push(await pushArch(client, repo, work, arch));
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests }));
  await client.putManifest(repo, tag, MEDIA.ociIndex, index);
}
