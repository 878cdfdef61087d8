/**
 * The image the daemonless builder assembles runs: a Node base made here (this machine's node binary
 * and the libraries it links, plus /etc/passwd with a `node` user, pushed by River's own registry
 * client into a loopback docker-registry), River's fixture context assembled on it, pulled and run
 * with podman (runc; separate storage in a temp dir). The app prints where and as whom it runs.
 * Skips without podman, docker-registry or skopeo outside CI; fails in CI.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleImage } from '../cli/src/cloud/oci/assemble.js';
import { writeLayer } from '../cli/src/cloud/oci/layer.js';
import { MEDIA, RegistryClient } from '../cli/src/cloud/oci/registry.js';
import { RIVER_DOCKERFILE } from '../cli/src/cloud/oci/test-fixtures.js';
import { isCI } from './harness/browser.js';
import { registryAvailable, startRegistry, type RegistryInstance } from './harness/registry.js';

const run = promisify(execFile);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function podmanAvailable(): boolean {
  const ok = spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('runc', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!ok && isCI()) throw new Error('podman or runc is not installed: apt-get install -y podman runc');
  return ok;
}

/** A root filesystem with this machine's node and the shared libraries it needs (ldd). */
async function nodeRootfs(root: string): Promise<void> {
  const node = process.execPath;
  const { stdout } = await run('ldd', [node]);
  const libs = [...stdout.matchAll(/(\/\S+\.so[^\s]*)/g)].map((m) => m[1]!);
  for (const file of [node, ...libs]) {
    await mkdir(join(root, dirname(file)), { recursive: true });
    await copyFile(file, join(root, file));
  }
  if (node !== '/usr/bin/node') {
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await copyFile(node, join(root, 'usr/bin/node'));
  }
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true });
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
}

describe.skipIf(!registryAvailable() || !podmanAvailable())('an image assembled without a daemon runs (podman)', () => {
  let registry: RegistryInstance;
  let dir: string;
  beforeAll(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'river-daemonless-run-'));
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs CMD as USER node in WORKDIR /app with the ENV of the Dockerfile', async () => {
    // The base: one layer, PATH set, no entrypoint.
    await nodeRootfs(join(dir, 'rootfs'));
    const client = new RegistryClient({ registry: registry.host, push: true });
    const layer = await writeLayer(join(dir, 'rootfs'), '/', join(dir, 'base.tar.gz'));
    await client.uploadBlob('base/node', layer.digest, createReadStream(layer.path));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['node'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] }, history: [{ created_by: 'node rootfs' }] }));
    await client.uploadBlob('base/node', sha(config), config);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.dockerManifest, config: { mediaType: MEDIA.dockerConfig, digest: sha(config), size: config.length }, layers: [{ mediaType: MEDIA.dockerLayer, digest: layer.digest, size: layer.size }] }));
    await client.putManifest('base/node', '24', MEDIA.dockerManifest, manifest);

    const ctx = join(dir, 'ctx');
    await mkdir(join(ctx, 'app/server'), { recursive: true });
    await writeFile(join(ctx, 'Dockerfile'), RIVER_DOCKERFILE);
    await writeFile(join(ctx, 'app/server/main.js'), 'console.log(JSON.stringify({ cwd: process.cwd(), uid: process.getuid(), env: process.env.NODE_ENV, port: process.env.RIVER_PORT }))\n');
    const img = await assembleImage({ contextDir: ctx, buildArgs: { BASE_IMAGE: `${registry.host}/base/node:24` }, target: { registry: registry.host, repository: 'river/server', tag: 'run1' } });

    const podman = ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs', '--runtime', 'runc'];
    await run('podman', [...podman, 'pull', '--tls-verify=false', img.ref], { maxBuffer: 16 * 1024 * 1024 });
    const { stdout } = await run('podman', [...podman, 'run', '--rm', '--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096', '--network', 'host', img.ref], { maxBuffer: 1024 * 1024 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ cwd: '/app', uid: 1000, env: 'production', port: '4400' });
  }, 180_000);
});
