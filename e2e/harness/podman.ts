/**
 * Debian's podman, for the tests that build and run River's container image without a Docker
 * engine. Every call uses the recipe of FACTS.md: the `runc` runtime (crun fails on this machine's
 * hybrid cgroups) and file/process limits under the hard limit of 20,000 (podman's defaults exceed
 * it). Missing podman or runc fails the suite in CI and skips it elsewhere, with the install hint.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isCI } from './browser.js';

export const PODMAN_INSTALL_HINT = 'podman or runc is not installed: apt-get install -y podman runc';
/** Give these to `podman build` and `podman run`. */
export const PODMAN_LIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'] as const;
const GLOBAL_ARGS = ['--runtime', 'runc'];

let available: boolean | undefined;

/** Whether `podman --runtime runc info` answers (podman and runc installed, storage usable). */
export function podmanAvailable(): boolean {
  available ??=
    spawnSync('podman', [...GLOBAL_ARGS, 'info'], { stdio: 'ignore', timeout: 60_000 }).status === 0 &&
    spawnSync('runc', ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

/** For `describe.skipIf(skipWithoutPodman())`: false when podman is there; throws in CI; true (skip) otherwise. */
export function skipWithoutPodman(): boolean {
  if (podmanAvailable()) return false;
  if (isCI()) throw new Error(`${PODMAN_INSTALL_HINT} (required in CI)`);
  console.warn(`skipping container tests: ${PODMAN_INSTALL_HINT}`);
  return true;
}

export class PodmanError extends Error {
  readonly code = 'podman_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodmanError';
  }
}

/** Runs `podman --runtime runc ARGS…`; resolves its stdout (trimmed); rejects with its stderr. */
export function podman(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'podman',
      [...GLOBAL_ARGS, ...args],
      { timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new PodmanError(`podman ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
        else resolve(stdout.trim());
      },
    );
  });
}

/**
 * Builds `context` as the CDK builds River's image: `--platform linux/amd64`, in Docker's image
 * format as `docker build` makes it (podman's default OCI format drops HEALTHCHECK), FROM `base`.
 * Returns the image id (without `sha256:`), also written to `iidFile`.
 */
export async function buildLikeCdk(context: string, base: string, iidFile: string): Promise<string> {
  await podman([
    'build',
    '--format',
    'docker',
    '--platform',
    'linux/amd64',
    ...PODMAN_LIMITS,
    '--network',
    'host',
    '--build-arg',
    `BASE_IMAGE=${base}`,
    '--iidfile',
    iidFile,
    context,
  ]);
  return (await readFile(iidFile, 'utf8')).trim().replace(/^sha256:/, '');
}
