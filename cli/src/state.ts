/**
 * The CLI's files under `.river/` in the project directory: dev.json (the dev node's secret, API
 * key and address) and outputs.json (the deployed stack's outputs). Both are git-ignored: when
 * `.river/` is created outside a repository that already ignores it, a `.river/.gitignore` with
 * `*` is written next to them.
 *
 * The project directory is found as git finds `.git` (findProjectDir): every function here takes
 * the folder the command runs in and walks up from it, so `river token` works from `src/` too.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UserError } from './errors.js';

export interface DevState {
  /** HS256 secret of the dev node (32 random bytes, base64url). */
  secret: string;
  apiKey: string;
  /** Where the last `river dev` listened. */
  url?: string;
  wsUrl?: string;
  pid?: number;
  /**
   * The variables that node took from its own environment instead of this file's secret and key
   * (never their values): other commands then need the same variables in theirs.
   */
  fromEnv?: DevEnvVar[];
}

export type DevEnvVar = 'RIVER_JWT_SECRET' | 'RIVER_API_KEY';

/** `river deploy`'s saved stack outputs (OUTPUT_KEYS of @river/templates), plus where they came from. */
export interface DeployedState {
  stackName: string;
  region: string;
  outputs: Record<string, string>;
}

export const STATE_DIR = '.river';
/** The deployment settings `river init` writes (read by @river/templates). */
export const CONFIG_FILE = 'river.config.json';

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The nearest folder from `start` up to the filesystem root for which `found` holds. */
export function nearest(start: string, found: (dir: string) => boolean): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (found(dir)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The river.config.json that `start` is under (nearest first), if any. */
export function findConfigFile(start: string): string | undefined {
  const dir = nearest(start, (d) => isFile(join(d, CONFIG_FILE)));
  return dir === undefined ? undefined : join(dir, CONFIG_FILE);
}

/**
 * The River project that `start` is in: the nearest folder, from `start` up to the filesystem root,
 * holding `.river/`; else the nearest holding river.config.json; else the nearest holding a
 * package.json (the app's root, where `river dev` creates `.river/` the first time); else `start`.
 */
export function findProjectDir(start: string): string {
  return (
    nearest(start, (dir) => isDir(join(dir, STATE_DIR))) ??
    nearest(start, (dir) => isFile(join(dir, CONFIG_FILE))) ??
    nearest(start, (dir) => isFile(join(dir, 'package.json'))) ??
    resolve(start)
  );
}

/** `.river/` of the project that `cwd` is in. */
export function stateDir(cwd: string): string {
  return join(findProjectDir(cwd), STATE_DIR);
}

/**
 * Whether the `river dev` node that dev.json records still runs on this machine: it wrote its pid
 * there, and that process exists. A node that stopped cleanly removed its pid; one that crashed
 * or was killed left a pid that no longer exists.
 */
export function devNodeRunning(state: Pick<DevState, 'pid'>, kill: (pid: number, signal: 0) => void = process.kill.bind(process)): boolean {
  if (state.pid === undefined) return false;
  try {
    kill(state.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

async function readJson(path: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(`${path} is not valid JSON`, `delete it and run the command that wrote it again`, {
      code: 'state_invalid',
      cause: err,
    });
  }
}

async function ensureDir(cwd: string): Promise<string> {
  const dir = stateDir(cwd);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Keep secrets out of git even where the project's .gitignore does not list .river/.
  await writeFile(join(dir, '.gitignore'), '*\n', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return dir;
}

async function writePrivate(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export async function readDevState(cwd: string): Promise<DevState | undefined> {
  const path = join(stateDir(cwd), 'dev.json');
  const raw = await readJson(path);
  if (raw === undefined) return undefined;
  if (!isRecord(raw) || typeof raw.secret !== 'string' || typeof raw.apiKey !== 'string') {
    throw new UserError(`${path} has no secret and apiKey`, 'delete it and run `npx river dev` again', { code: 'state_invalid' });
  }
  const state: DevState = { secret: raw.secret, apiKey: raw.apiKey };
  if (typeof raw.url === 'string') state.url = raw.url;
  if (typeof raw.wsUrl === 'string') state.wsUrl = raw.wsUrl;
  if (typeof raw.pid === 'number') state.pid = raw.pid;
  if (Array.isArray(raw.fromEnv)) {
    const vars = raw.fromEnv.filter((v): v is DevEnvVar => v === 'RIVER_JWT_SECRET' || v === 'RIVER_API_KEY');
    if (vars.length > 0) state.fromEnv = vars;
  }
  return state;
}

/** The dev secret and key, created on first use and reused afterwards. */
export async function loadOrCreateDevState(cwd: string): Promise<{ state: DevState; created: boolean }> {
  const existing = await readDevState(cwd);
  if (existing) return { state: existing, created: false };
  const state: DevState = { secret: randomSecret(), apiKey: randomSecret() };
  await writeDevState(cwd, state);
  return { state, created: true };
}

export async function writeDevState(cwd: string, state: DevState): Promise<void> {
  const dir = await ensureDir(cwd);
  await writePrivate(join(dir, 'dev.json'), state);
}

export async function readDeployedState(cwd: string): Promise<DeployedState | undefined> {
  const path = join(stateDir(cwd), 'outputs.json');
  const raw = await readJson(path);
  if (raw === undefined) return undefined;
  if (!isRecord(raw) || typeof raw.stackName !== 'string' || typeof raw.region !== 'string' || !isRecord(raw.outputs)) {
    throw new UserError(`${path} is not a River outputs file`, 'delete it and run `npx river deploy` again', { code: 'state_invalid' });
  }
  const outputs: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.outputs)) if (typeof v === 'string') outputs[k] = v;
  return { stackName: raw.stackName, region: raw.region, outputs };
}

export async function writeDeployedState(cwd: string, state: DeployedState): Promise<string> {
  const dir = await ensureDir(cwd);
  const path = join(dir, 'outputs.json');
  await writePrivate(path, state);
  return path;
}
