/**
 * The River dev node `npm run example` starts when RIVER_URL is unset, sharing `.river/dev.json`
 * with `river dev` through the `river` package's own functions (readDevState, loadOrCreateDevState,
 * writeDevState), so the secret and API key are created once and reused by both, and `river token`,
 * `river listen` and `river publish` find this node through the `url` recorded there while it runs.
 */
import { join } from 'node:path';
import { loadOrCreateDevState, readDevState, writeDevState } from 'river';
import type { Config, RiverNode } from '@river/server';

/** Like `river dev`: nobody needs 10 s of spread-out closes on Ctrl+C. */
export const DEV_DRAIN_MS = '1000';

/** Where @river/cli keeps the dev state (for messages). */
export const devStatePath = (cwd: string): string => join(cwd, '.river', 'dev.json');

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
  await writeDevState(cwd, {
    ...kept,
    url: node.urls.http,
    wsUrl: node.urls.ws,
    pid: process.pid,
    ...(fromEnv.length > 0 ? { fromEnv } : {}),
  });
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
