/**
 * The River dev node `npm run example` starts when RIVER_URL is unset, sharing `.river/dev.json`
 * with `river dev`: the same file and format (cli/src/state.ts; @river/cli does not export it), so
 * the secret and API key are created once and reused by both, and `river token`, `river listen` and
 * `river publish` find this node through the `url` recorded there while it runs.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config, RiverNode } from '@river/server';

/** `.river/dev.json`, as `river dev` writes and reads it. */
export interface DevState {
  /** HS256 secret (32 random bytes, base64url). */
  secret: string;
  apiKey: string;
  /** Where the running dev node listens (HTTP API and WebSocket), and its process. */
  url?: string;
  wsUrl?: string;
  pid?: number;
  /** The variables the running node took from its environment instead of this file (names only):
   *  the CLI then asks for the same variables rather than use the file's secret or key. */
  fromEnv?: DevEnvVar[];
}

export type DevEnvVar = 'RIVER_JWT_SECRET' | 'RIVER_API_KEY';

/** Like `river dev`: nobody needs 10 s of spread-out closes on Ctrl+C. */
export const DEV_DRAIN_MS = '1000';

export const devStatePath = (cwd: string): string => join(cwd, '.river', 'dev.json');

const randomSecret = (): string => randomBytes(32).toString('base64url');

/** The dev state in `cwd`, or undefined when there is none; an unreadable file is an error naming it. */
export async function readDevState(cwd: string): Promise<DevState | undefined> {
  const path = devStatePath(cwd);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let raw: Record<string, unknown> | undefined;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // reported below
  }
  if (!raw || typeof raw.secret !== 'string' || typeof raw.apiKey !== 'string') {
    throw new Error(`${path} has no secret and apiKey: delete it and run \`npx river dev\` or \`npm run example\` again`);
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

/** Writes the dev state owner-only, with a `.river/.gitignore` of `*` (as `river dev` does). */
export async function writeDevState(cwd: string, state: DevState): Promise<void> {
  const dir = join(cwd, '.river');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, '.gitignore'), '*\n', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const path = devStatePath(cwd);
  await writeFile(path, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function loadOrCreateDevState(cwd: string): Promise<{ state: DevState; created: boolean }> {
  const existing = await readDevState(cwd);
  if (existing) return { state: existing, created: false };
  const state: DevState = { secret: randomSecret(), apiKey: randomSecret() };
  await writeDevState(cwd, state);
  return { state, created: true };
}

export interface DevNode {
  node: RiverNode;
  config: Config;
  secret: string;
  apiKey: string;
  /** Whether `.river/dev.json` was created by this start. */
  created: boolean;
  /** Drains (drainMs 1 s unless RIVER_DRAIN_MS says otherwise), then drops its pid from dev.json. */
  stop(): Promise<void>;
}

/**
 * Starts an in-process River node on the embedded bus with the dev secret and key (RIVER_JWT_SECRET /
 * RIVER_API_KEY from `env` win, as with `river dev`) and records its address in `.river/dev.json`.
 */
export async function startDevNode(cwd: string, env: Record<string, string | undefined>): Promise<DevNode> {
  const { state, created } = await loadOrCreateDevState(cwd);
  const secret = env.RIVER_JWT_SECRET || state.secret;
  const apiKey = env.RIVER_API_KEY || state.apiKey;
  const { loadConfig, startRiver } = await import('@river/server');
  const config = loadConfig(
    {
      RIVER_PORT: env.RIVER_PORT ?? '4400',
      RIVER_HOST: '127.0.0.1',
      RIVER_JWT_SECRET: secret,
      RIVER_API_KEY: apiKey,
      RIVER_LOG_LEVEL: env.RIVER_LOG_LEVEL ?? 'warn',
      RIVER_DRAIN_MS: env.RIVER_DRAIN_MS ?? DEV_DRAIN_MS,
    },
    { dev: true },
  );
  const node = await startRiver(config);
  const { fromEnv: _stale, ...kept } = state;
  const fromEnv = (['RIVER_JWT_SECRET', 'RIVER_API_KEY'] as const).filter((v) => Boolean(env[v]));
  await writeDevState(cwd, { ...kept, url: node.urls.http, wsUrl: node.urls.ws, pid: process.pid, ...(fromEnv.length > 0 ? { fromEnv } : {}) });
  return {
    node,
    config,
    secret,
    apiKey: apiKey.split(',')[0]!.trim(),
    created,
    async stop() {
      try {
        await node.drain();
      } finally {
        // As `river dev` does: drop our pid (unless a `river dev` started since owns the file now);
        // the address stays, so the CLI's hint says to start a node there.
        const latest = await readDevState(cwd).catch(() => undefined);
        if (latest && latest.pid === process.pid) {
          const { pid: _pid, ...rest } = latest;
          await writeDevState(cwd, rest).catch(() => undefined);
        }
      }
    },
  };
}
