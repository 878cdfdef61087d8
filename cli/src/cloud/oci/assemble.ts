/**
 * Daemonless image assembly, as ko and jib do it: River's image is its base image plus one layer
 * (the context's app directory), so no container runs to build it. The base manifest is read (the
 * linux/amd64 entry of an index), its layer blobs are copied to the target repository (skipped when
 * already there), the app layer is written deterministically (layer.ts) and pushed, then the image
 * config (the base's, plus what the Dockerfile sets) and the manifest, under the tag.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDockerfile, type ImageSpec } from './dockerfile.js';
import { LAYER_MTIME, writeLayer, type Layer } from './layer.js';
import { parseImageRef, formatRef } from './reference.js';
import { MEDIA, RegistryClient, RegistryError, type RegistryAuth } from './registry.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

interface IndexJson {
  manifests: Descriptor[];
}

export interface AssembleOptions {
  /** The image's build context: the Dockerfile and the directory it copies. */
  contextDir: string;
  /** Relative to contextDir; default Dockerfile. */
  dockerfile?: string;
  buildArgs?: Readonly<Record<string, string>>;
  /** Where the image goes. */
  target: { registry: string; repository: string; tag: string };
  targetAuth?: RegistryAuth;
  /** Credentials for the base image's registry (anonymous when absent). */
  baseAuth?: RegistryAuth;
  platform?: { os: string; architecture: string };
  fetch?: typeof fetch;
  /** One line per step (base, each layer copied, the app layer, the push). */
  onProgress?(line: string): void;
}

export interface AssembledImage {
  /** registry/repository:tag */
  ref: string;
  /** The manifest's digest. */
  digest: string;
  /** The compressed size of every layer. */
  size: number;
  base: string;
  appLayer: Pick<Layer, 'digest' | 'diffId' | 'size'>;
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** The manifest for `platform` out of an index (or the manifest itself). */
async function resolveManifest(client: RegistryClient, repo: string, reference: string, platform: { os: string; architecture: string }) {
  let m = await client.getManifest(repo, reference);
  if (m.mediaType === MEDIA.ociIndex || m.mediaType === MEDIA.dockerList) {
    const index = JSON.parse(m.bytes.toString('utf8')) as IndexJson;
    const entry = index.manifests.find((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture);
    if (!entry) {
      const have = index.manifests.map((d) => `${d.platform?.os ?? '?'}/${d.platform?.architecture ?? '?'}`).join(', ');
      throw new RegistryError(
        `${client.registry}/${repo}:${reference} has no ${platform.os}/${platform.architecture} image (it has ${have})`,
      );
    }
    m = await client.getManifest(repo, entry.digest);
  }
  if (m.mediaType !== MEDIA.ociManifest && m.mediaType !== MEDIA.dockerManifest) {
    throw new RegistryError(`${client.registry}/${repo}:${reference} is a ${m.mediaType}, not an image manifest`);
  }
  return { ...m, json: JSON.parse(m.bytes.toString('utf8')) as ManifestJson };
}

/** The base's image config with what the Dockerfile sets and one layer added, as a Docker build of it would write (times fixed). */
export function imageConfig(base: Record<string, unknown>, spec: ImageSpec, layer: Pick<Layer, 'diffId'>): Record<string, unknown> {
  const created = LAYER_MTIME.toISOString();
  const cfg = structuredClone(base) as Record<string, unknown> & {
    config?: Record<string, unknown>;
    rootfs?: { type: string; diff_ids: string[] };
    history?: unknown[];
  };
  const c: Record<string, unknown> = { ...(cfg.config ?? {}) };
  const env = ((c.Env as string[] | undefined) ?? []).filter((line) => !spec.env.some(([k]) => line.startsWith(`${k}=`)));
  c.Env = [...env, ...spec.env.map(([k, v]) => `${k}=${v}`)];
  if (spec.workdir !== undefined) c.WorkingDir = spec.workdir;
  if (spec.user !== undefined) c.User = spec.user;
  if (spec.exposedPorts.length > 0)
    c.ExposedPorts = { ...((c.ExposedPorts as object | undefined) ?? {}), ...Object.fromEntries(spec.exposedPorts.map((p) => [p, {}])) };
  if (spec.stopSignal !== undefined) c.StopSignal = spec.stopSignal;
  if (spec.healthcheck) {
    const h = spec.healthcheck;
    c.Healthcheck = {
      Test: h.test,
      ...(h.intervalNs !== undefined ? { Interval: h.intervalNs } : {}),
      ...(h.timeoutNs !== undefined ? { Timeout: h.timeoutNs } : {}),
      ...(h.startPeriodNs !== undefined ? { StartPeriod: h.startPeriodNs } : {}),
      ...(h.startIntervalNs !== undefined ? { StartInterval: h.startIntervalNs } : {}),
      ...(h.retries !== undefined ? { Retries: h.retries } : {}),
    };
  }
  if (spec.cmd) c.Cmd = spec.cmd;
  cfg.config = c;
  cfg.created = created;
  cfg.rootfs = { type: 'layers', diff_ids: [...(cfg.rootfs?.diff_ids ?? []), layer.diffId] };
  cfg.history = [
    ...(cfg.history ?? []),
    ...spec.history.map((line) => ({
      created,
      created_by: line,
      comment: 'river daemonless build',
      ...(line.startsWith('COPY ') ? {} : { empty_layer: true }),
    })),
  ];
  delete cfg.container;
  delete cfg.container_config;
  return cfg;
}

export async function assembleImage(opts: AssembleOptions): Promise<AssembledImage> {
  const platform = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const say = opts.onProgress ?? (() => {});
  const dockerfilePath = join(opts.contextDir, opts.dockerfile ?? 'Dockerfile');
  const spec = parseDockerfile(await readFile(dockerfilePath, 'utf8'), opts.buildArgs);
  const baseRef = parseImageRef(spec.base);
  const sameRegistry = baseRef.registry === opts.target.registry;
  const baseAuth = opts.baseAuth ?? (sameRegistry ? opts.targetAuth : undefined);
  const source = new RegistryClient({
    registry: baseRef.registry,
    ...(baseAuth ? { auth: baseAuth } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const target = new RegistryClient({
    registry: opts.target.registry,
    push: true,
    ...(opts.targetAuth ? { auth: opts.targetAuth } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  const repo = opts.target.repository;

  say(`base image ${formatRef(baseRef)} (${platform.os}/${platform.architecture})`);
  const base = await resolveManifest(source, baseRef.repository, baseRef.reference, platform);
  const baseConfig = JSON.parse((await source.getBlobBytes(baseRef.repository, base.json.config.digest)).toString('utf8')) as Record<
    string,
    unknown
  >;
  if (baseConfig.architecture !== undefined && baseConfig.architecture !== platform.architecture) {
    throw new RegistryError(
      `the base image ${spec.base} is ${String(baseConfig.os)}/${String(baseConfig.architecture)}, not ${platform.os}/${platform.architecture}`,
    );
  }

  const work = await mkdtemp(join(tmpdir(), 'river-image-'));
  try {
    const layer = await writeLayer(join(opts.contextDir, spec.copy.src), spec.copy.dest, join(work, 'app.tar.gz'));
    say(`app layer ${layer.digest.slice(7, 19)} ${mb(layer.size)}`);

    const layers = base.json.layers;
    for (const [i, d] of layers.entries()) {
      const what = `base layer ${i + 1}/${layers.length} ${d.digest.slice(7, 19)} ${mb(d.size)}`;
      if (await target.blobExists(repo, d.digest)) {
        say(`${what}: already there`);
        continue;
      }
      say(`${what}: copying`);
      await target.uploadBlob(repo, d.digest, await source.getBlob(baseRef.repository, d.digest), (sent) => say(`${what}: ${mb(sent)}`));
    }
    if (await target.blobExists(repo, layer.digest)) say('app layer: already there');
    else
      await target.uploadBlob(repo, layer.digest, createReadStream(layer.path), (sent) =>
        say(`app layer: ${mb(sent)} of ${mb(layer.size)}`),
      );

    const oci = base.mediaType === MEDIA.ociManifest;
    const configBytes = Buffer.from(JSON.stringify(imageConfig(baseConfig, spec, layer)));
    const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
    if (!(await target.blobExists(repo, configDigest))) await target.uploadBlob(repo, configDigest, configBytes);

    const manifest: ManifestJson = {
      schemaVersion: 2,
      mediaType: oci ? MEDIA.ociManifest : MEDIA.dockerManifest,
      config: { mediaType: oci ? MEDIA.ociConfig : MEDIA.dockerConfig, digest: configDigest, size: configBytes.length },
      layers: [
        ...layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
        { mediaType: oci ? MEDIA.ociLayer : MEDIA.dockerLayer, digest: layer.digest, size: layer.size },
      ],
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const digest = await target.putManifest(repo, opts.target.tag, manifest.mediaType!, manifestBytes);
    const ref = `${opts.target.registry}/${repo}:${opts.target.tag}`;
    say(`pushed ${ref}`);
    return {
      ref,
      digest,
      size: manifest.layers.reduce((n, d) => n + d.size, 0),
      base: spec.base,
      appLayer: { digest: layer.digest, diffId: layer.diffId, size: layer.size },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
