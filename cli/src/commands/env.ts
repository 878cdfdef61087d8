/**
 * `river env`: the lines an app needs in its `.env` (RIVER_URL, RIVER_WS_URL, RIVER_API_KEY,
 * RIVER_JWT_SECRET) for the local `river dev` node or, with --deployed (or when there is no dev node
 * here), for the deployment. Values on stdout only, so `npx river env >> .env` works.
 */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { findConfigFile, readDeployedState, readDevState, type DevState } from '../state.js';
import { apiKeyFor, fromDevFile, locate, relativeStateFile, secretFor, urlsFrom } from '../target.js';

/** Where `river dev` listens by default, for a dev.json written before any node ran. */
export const DEV_DEFAULT_URL = 'http://127.0.0.1:4400';

export interface EnvOptions {
  deployed?: boolean;
  json?: boolean;
}

export type AppEnv = Record<'RIVER_URL' | 'RIVER_WS_URL' | 'RIVER_API_KEY' | 'RIVER_JWT_SECRET', string>;

export function registerEnv(program: Command, ctx: Context): void {
  program
    .command('env')
    .description("print the lines your app's .env needs (RIVER_URL, RIVER_WS_URL, RIVER_API_KEY, RIVER_JWT_SECRET)")
    .option('--deployed', "the deployment's values (URLs from .river/outputs.json or the stack, key and secret from Secrets Manager)")
    .option('--json', 'print one JSON object instead of KEY=value lines')
    .addHelpText(
      'after',
      '\nWithout --deployed: the river dev node of this project (.river/dev.json, looked up from here upwards),\nelse the deployment. The secret and key are secrets: keep .env out of git.\n\nExample: npx river env >> .env',
    )
    .action(async (opts: EnvOptions) => {
      await env(ctx, opts);
    });
}

export async function env(ctx: Context, opts: EnvOptions): Promise<void> {
  const dev = opts.deployed ? undefined : await readDevState(ctx.cwd);
  let values: AppEnv;
  let about: string;
  if (dev !== undefined) {
    values = devEnv(ctx, dev);
    about = `the river dev node of ${relativeStateFile(ctx, 'dev.json')}${dev.url === undefined ? ` (not started yet: ${DEV_DEFAULT_URL} is river dev's default)` : ''}`;
  } else {
    if (!opts.deployed && (await readDeployedState(ctx.cwd)) === undefined && findConfigFile(ctx.cwd) === undefined) {
      throw new UserError(
        'no River node here to describe',
        'run `npx river dev` first (it creates .river/dev.json), or pass --deployed in the folder of your river.config.json',
        {
          code: 'no_target',
        },
      );
    }
    const located = await locate(ctx, undefined, { deployed: true });
    values = {
      RIVER_URL: located.target.httpUrl,
      RIVER_WS_URL: located.target.wsUrl,
      RIVER_API_KEY: await apiKeyFor(ctx, located, undefined),
      RIVER_JWT_SECRET: await secretFor(ctx, located),
    };
    about = located.target.origin;
  }
  if (opts.json) {
    ctx.io.out(JSON.stringify(values));
    return;
  }
  for (const [k, v] of Object.entries(values)) ctx.io.out(`${k}=${v}`);
  ctx.io.info(`for ${about}; append them to your app's .env with \`npx river env >> .env\` (keep it out of git)`);
}

function devEnv(ctx: Context, dev: DevState): AppEnv {
  const { httpUrl, wsUrl } = urlsFrom(dev.url ?? DEV_DEFAULT_URL, '.river/dev.json url');
  // A node that took its secret or key from its own environment: the same variable must be set here.
  const fromShell = (name: 'RIVER_API_KEY' | 'RIVER_JWT_SECRET', value: string) =>
    dev.fromEnv?.includes(name) && ctx.env[name] ? ctx.env[name]! : fromDevFile(dev, name, value);
  return {
    RIVER_URL: httpUrl,
    RIVER_WS_URL: wsUrl,
    RIVER_API_KEY: fromShell('RIVER_API_KEY', dev.apiKey).split(',')[0]!.trim(),
    RIVER_JWT_SECRET: fromShell('RIVER_JWT_SECRET', dev.secret),
  };
}
