/**
 * River as users get it: every publishable workspace packed with `npm pack` (from its built dist/),
 * and a fresh app folder in os.tmpdir(), outside the repository, that `npm install`s the tarballs
 * with its own package.json. Nothing in that app links back into the checkout, so what works there
 * works for a user who installed the packages from the registry.
 *
 * `packedApp()` is memoised per test process (packing and installing take tens of seconds);
 * `packWorkspaces()` and `installApp()` are exported for the size measurements in the report.
 * The `@river/*` packages a tarball depends on (the CLI needs @river/server, @river/templates, …)
 * are not on the registry: the app's `overrides` point them at their tarballs, as a registry would
 * serve them. Everything else (aws-cdk-lib, esbuild, …) comes from the npm registry or its cache.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

/** The workspaces users install, in dependency order. e2e, bench and examples stay private. */
export const PUBLISHABLE = [
  { dir: 'sdks/protocol', name: '@river/protocol' },
  { dir: 'server', name: '@river/server' },
  { dir: 'sdks/client', name: '@river/client' },
  { dir: 'sdks/node', name: '@river/node' },
  { dir: 'templates', name: '@river/templates' },
  { dir: 'cli', name: 'river' },
] as const;
export type PackageName = (typeof PUBLISHABLE)[number]['name'];

export interface Tarball {
  name: PackageName;
  /** Absolute path of the .tgz. */
  file: string;
  /** Bytes of the .tgz. */
  size: number;
  unpackedSize: number;
  /** Paths inside the package (`package/` stripped), as `npm pack` listed them. */
  files: string[];
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface PackedApp {
  /** The app folder (its package.json, node_modules, src/). */
  readonly dir: string;
  readonly tarballs: ReadonlyMap<PackageName, Tarball>;
  /** node_modules/river/bin/river.js: spawned with `node` directly (npx would not forward signals). */
  readonly riverBin: string;
  /** Runs the installed `river` to its exit. */
  river(args: string[], opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
  /** Starts the installed `river` and leaves it running; stop it by its PID. */
  spawnRiver(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): ChildProcess;
  /** Runs `node` with the app folder as cwd (for the app's own scripts). */
  node(args: string[], opts?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
}

/** npm settings from the environment that say where packages come from (a CI mirror, a proxy, a cache): kept. */
const NPM_SOURCE_SETTINGS =
  /^npm_config_(.*registry.*|cache|cafile|ca|userconfig|globalconfig|proxy|https_proxy|noproxy|strict_ssl|fund|audit|update_notifier|prefer_offline)$/i;

/**
 * The environment of every process started in the app: this process's, without what would tie
 * it to the checkout (the variables `npm run` sets: npm_config_local_prefix names the checkout,
 * npm_package_*, npm_lifecycle_*; INIT_CWD, NODE_PATH) and without River's own RIVER_* settings.
 */
export function appEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('RIVER_') || k === 'INIT_CWD' || k === 'NODE_PATH') continue;
    if (/^npm_/i.test(k) && !NPM_SOURCE_SETTINGS.test(k)) continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

/** Runs a command to its exit (never throws on a non-zero exit; kills it after timeoutMs). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? appEnv(), timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof (err as { code?: unknown }).code !== 'number' && (err as { killed?: boolean }).killed !== true) {
          reject(err);
          return;
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

async function mustRun(cmd: string, args: string[], opts: { cwd: string; timeoutMs?: number }): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  return r.stdout;
}

/** Packs every publishable workspace into `dest` (their dist/ must be built: `npm run build`). */
export async function packWorkspaces(dest: string): Promise<Map<PackageName, Tarball>> {
  for (const { dir, name } of PUBLISHABLE) {
    if (!existsSync(join(REPO_DIR, dir, 'dist'))) throw new Error(`${name} has no dist/: run \`npm run build\` in ${REPO_DIR} first`);
  }
  await mkdir(dest, { recursive: true });
  const args = ['pack', '--json', '--ignore-scripts', '--pack-destination', dest, ...PUBLISHABLE.flatMap(({ name }) => ['-w', name])];
  const out = await mustRun('npm', args, { cwd: REPO_DIR, timeoutMs: 180_000 });
  const listed = JSON.parse(out) as {
    name: PackageName;
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  const tarballs = new Map<PackageName, Tarball>();
  for (const t of listed) {
    tarballs.set(t.name, {
      name: t.name,
      file: join(dest, t.filename),
      size: t.size,
      unpackedSize: t.unpackedSize,
      files: t.files.map((f) => f.path),
    });
  }
  return tarballs;
}

/**
 * A new app folder in os.tmpdir() whose package.json depends on `deps` (tarball packages by name,
 * others by registry range) and on nothing else, installed with npm. Resolves the folder.
 */
export async function installApp(
  tarballs: ReadonlyMap<PackageName, Tarball>,
  deps: Record<string, string | 'tarball'>,
  prefix = 'river-app-',
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const tgz = (name: PackageName) => `file:${tarballs.get(name)!.file}`;
  const dependencies: Record<string, string> = {};
  for (const [name, spec] of Object.entries(deps)) dependencies[name] = spec === 'tarball' ? tgz(name as PackageName) : spec;
  // The @river/* dependencies of the tarballs resolve to the tarballs, as they would from the registry.
  const overrides: Record<string, string> = {};
  for (const { name } of PUBLISHABLE) if (!(name in dependencies)) overrides[name] = tgz(name);
  const pkg = { name: 'my-app', version: '1.0.0', private: true, type: 'module', dependencies, overrides };
  await writeFile(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  await mustRun('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, timeoutMs: 600_000 });
  return dir;
}

/** Symlinks under `dir` (node_modules/.bin included) whose target is inside `root`, as "link -> target". */
export async function linksInto(dir: string, root: string): Promise<string[]> {
  const found: string[] = [];
  const realRoot = await realpath(root);
  async function walk(d: string): Promise<void> {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isSymbolicLink()) {
        const target = resolve(dirname(p), await readlink(p));
        const real = await realpath(p).catch(() => target);
        if (`${target}/`.startsWith(`${realRoot}/`) || `${real}/`.startsWith(`${realRoot}/`)) found.push(`${p} -> ${real}`);
      } else if (e.isDirectory()) {
        await walk(p);
      }
    }
  }
  await walk(dir);
  return found;
}

/** Bytes used by a folder (du -sb). */
export async function duBytes(dir: string): Promise<number> {
  const out = await mustRun('du', ['-sb', dir], { cwd: tmpdir() });
  return Number(out.split(/\s/)[0]);
}

let memo: Promise<PackedApp> | undefined;

/**
 * The packed app, built once per test process: every tarball, installed in a fresh folder with
 * the packages a user would add (`river`, `@river/client`, `@river/node`) and esbuild from the
 * registry to bundle the browser code. The folder has a `src/` subfolder; it is removed at exit.
 */
export function packedApp(): Promise<PackedApp> {
  memo ??= (async () => {
    if (`${await realpath(tmpdir())}/`.startsWith(`${await realpath(REPO_DIR)}/`)) {
      throw new Error(`os.tmpdir() (${tmpdir()}) is inside the repository: set TMPDIR to a folder outside ${REPO_DIR}`);
    }
    const work = await mkdtemp(join(tmpdir(), 'river-packed-'));
    const tarballs = await packWorkspaces(join(work, 'tarballs'));
    const esbuildRange = '^0.28.2';
    const dir = await installApp(tarballs, {
      river: 'tarball',
      '@river/client': 'tarball',
      '@river/node': 'tarball',
      esbuild: esbuildRange,
    });
    await mkdir(join(dir, 'src'), { recursive: true });
    const riverBin = join(dir, 'node_modules', 'river', 'bin', 'river.js');
    if (!(await lstat(riverBin)).isFile()) throw new Error(`${riverBin} is not a file`);
    return {
      dir,
      tarballs,
      riverBin,
      river: (args, opts = {}) =>
        run(process.execPath, [riverBin, ...args], { cwd: opts.cwd ?? dir, env: appEnv(opts.env), timeoutMs: opts.timeoutMs ?? 120_000 }),
      spawnRiver: (args, opts = {}) =>
        spawn(process.execPath, [riverBin, ...args], { cwd: opts.cwd ?? dir, env: appEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] }),
      node: (args, opts = {}) =>
        run(process.execPath, args, { cwd: opts.cwd ?? dir, env: appEnv(opts.env), timeoutMs: opts.timeoutMs ?? 120_000 }),
    };
  })();
  return memo;
}

/** Removes the packed app's folders (call from afterAll of the last suite that uses it). */
export async function removePackedApp(app: PackedApp): Promise<void> {
  const tarballDir = dirname([...app.tarballs.values()][0]!.file);
  memo = undefined;
  await rm(app.dir, { recursive: true, force: true });
  await rm(dirname(tarballDir), { recursive: true, force: true });
}
