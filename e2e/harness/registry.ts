/**
 * Starts a throwaway OCI registry (Debian's `docker-registry`, the CNCF distribution registry) on a
 * free loopback port with filesystem storage in a temp directory; stopped by PID, its directory removed.
 * Used by the daemonless image tests (cli/src/cloud/oci/*.test.ts), with `skopeo` to inspect what
 * was pushed.
 *
 * `copyFromPodman` puts an image of podman's local storage there (skopeo), as a base image to pull;
 * `countingFetch` counts the bytes a registry client sends.
 *
 * When docker-registry or skopeo is missing: in CI (`isCI()`) `registryAvailable()` throws with the
 * install hint, so suites fail instead of skipping; elsewhere it is false and suites skip.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isCI } from './browser.js';
import { freePort } from './redis.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const REGISTRY_INSTALL_HINT = 'docker-registry or skopeo is not installed: apt-get install -y docker-registry skopeo';

export interface RegistryInstance {
  /** host:port, as in an image reference (127.0.0.1:PORT). */
  host: string;
  url: string;
  pid: number;
  /** Stops the registry (SIGTERM to its PID, SIGKILL after 5 s) and removes its storage. */
  stop(): Promise<void>;
}

let available: boolean | undefined;

export function registryAvailable(): boolean {
  if (available === undefined) {
    const reg = spawnSync(REGISTRY_BIN, ['--version'], { stdio: 'ignore' });
    const skopeo = spawnSync('skopeo', ['--version'], { stdio: 'ignore' });
    available = reg.status === 0 && skopeo.status === 0;
  }
  if (!available && isCI()) throw new Error(REGISTRY_INSTALL_HINT);
  return available;
}

export async function startRegistry(): Promise<RegistryInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'river-registry-'));
  const port = await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr}`);
    const ok = await fetch(`${url}/v2/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not answer on ${url} within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Copies `image` from podman's local storage to `ref` (host:port/repository:tag on a loopback
 * registry, no TLS) with `skopeo copy`, with gzip'd layers, as an OCI image (the way Docker Hub and
 * ECR Public serve the official Node images) or in Docker's v2 format (`v2s2`, as older registries do).
 */
export async function copyFromPodman(image: string, ref: string, format: 'oci' | 'v2s2' = 'oci'): Promise<void> {
  await promisify(execFile)(
    'skopeo',
    ['copy', '--quiet', '--format', format, '--dest-tls-verify=false', `containers-storage:${image}`, `docker://${ref}`],
    { timeout: 300_000 },
  );
}

/** A fetch that counts the request body bytes it sends (Buffers, strings and streamed bodies). */
export function countingFetch(inner: typeof fetch = globalThis.fetch): { fetch: typeof fetch; sent(): number } {
  let sent = 0;
  const counted: typeof fetch = (input, init) => {
    const body = init?.body;
    if (body instanceof ReadableStream) {
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      return inner(input, { ...init, body: body.pipeThrough(counter) });
    }
    if (typeof body === 'string') sent += Buffer.byteLength(body);
    else if (body instanceof Uint8Array) sent += body.byteLength;
    else if (body instanceof ArrayBuffer) sent += body.byteLength;
    return inner(input, init);
  };
  return { fetch: counted, sent: () => sent };
}
