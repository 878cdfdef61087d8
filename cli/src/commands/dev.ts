/** `river dev`: one River node in this process, with a dev secret and API key kept in .river/dev.json. */
import type { Command } from 'commander';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { loadOrCreateDevState, readDevState, writeDevState } from '../state.js';
import { mintToken } from '../tokens.js';

export interface DevOptions {
  port: string;
  host: string;
  redis?: string;
  json?: boolean;
  verbose?: boolean;
}

/** Dev nodes drain quickly: nobody needs 10 s of spread-out closes on Ctrl+C. */
export const DEV_DRAIN_MS = '1000';
export const DEV_TOKEN_TTL_SECONDS = 24 * 3600;
export const DEV_USER = 'dev-user';

export function registerDev(program: Command, ctx: Context): void {
  program
    .command('dev')
    .description('run a River node locally (embedded bus, or Redis with --redis) and print its URLs, API key and a test token')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '4400')
    .option('--host <host>', 'address to bind (0.0.0.0 to accept other machines)', '127.0.0.1')
    .option('--redis <url>', 'redis:// or rediss:// URL: use Redis as the bus instead of the embedded one')
    .option('--json', 'print the URLs, key and token as one JSON line')
    .addHelpText(
      'after',
      '\nUses RIVER_JWT_SECRET and RIVER_API_KEY from the environment when set; otherwise creates them once\nin .river/dev.json (git-ignored) and reuses them. Ctrl+C drains and stops the node.',
    )
    .action(async (opts: DevOptions, cmd: Command) => {
      await dev(ctx, { ...opts, verbose: Boolean(cmd.optsWithGlobals().verbose) });
    });
}

function parsePort(text: string): string {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65_535) {
    throw new UserError(`--port "${text}" is not a port number`, 'pass a number from 0 to 65535, e.g. --port 4400', { code: 'bad_flag' });
  }
  return String(n);
}

export async function dev(ctx: Context, opts: DevOptions): Promise<void> {
  const { io, env } = ctx;
  const port = parsePort(opts.port);
  if (opts.redis !== undefined && !/^rediss?:\/\//.test(opts.redis)) {
    throw new UserError(`--redis "${opts.redis}" is not a Redis URL`, 'use redis://HOST:PORT or rediss://HOST:PORT', { code: 'bad_flag' });
  }
  const { state, created } = await loadOrCreateDevState(ctx.cwd);
  if (created) io.info('created .river/dev.json with a dev JWT secret and API key (git-ignored, reused from now on)');
  const secret = env.RIVER_JWT_SECRET || state.secret;
  const apiKey = env.RIVER_API_KEY || state.apiKey;

  const nodeEnv: Record<string, string | undefined> = {
    ...env,
    RIVER_PORT: port,
    RIVER_HOST: opts.host,
    RIVER_JWT_SECRET: secret,
    RIVER_API_KEY: apiKey,
    RIVER_DRAIN_MS: env.RIVER_DRAIN_MS ?? DEV_DRAIN_MS,
    RIVER_JWT_SECRET_ID: undefined,
  };
  if (opts.redis !== undefined) nodeEnv.RIVER_REDIS_URL = opts.redis;

  const server = await ctx.server();
  let config;
  try {
    config = server.loadConfig(nodeEnv, { dev: true });
  } catch (err) {
    if (err instanceof server.ConfigError) {
      throw new UserError(err.message, 'fix that variable in your environment, or unset it to use the dev default', {
        code: 'config_invalid',
        cause: err,
      });
    }
    throw err;
  }
  const logger = ctx.logger(opts.verbose ? 'debug' : (env.RIVER_LOG_LEVEL ?? 'warn'));
  let node;
  try {
    node = await server.startRiver(config, { logger });
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'EADDRINUSE') {
      throw new UserError(
        `port ${port} on ${opts.host} is already in use`,
        'stop the other process, or pass --port N (--port 0 picks a free one)',
        { code: 'port_in_use', cause: err },
      );
    }
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new UserError(
        `cannot listen on ${opts.host}:${port} (${code})`,
        'pass --port above 1024 and a local --host such as 127.0.0.1',
        { code: 'listen_failed', cause: err },
      );
    }
    if (err instanceof server.ConfigError) {
      throw new UserError(err.message, 'fix that setting and run `npx river dev` again', { code: 'config_invalid', cause: err });
    }
    throw err;
  }

  try {
    // Record where the node listens, and which credentials it took from its environment, so
    // `river token/publish/listen` in another shell never use this file's instead.
    const { fromEnv: _stale, ...kept } = state;
    const fromEnv = (['RIVER_JWT_SECRET', 'RIVER_API_KEY'] as const).filter((v) => Boolean(env[v]));
    await writeDevState(ctx.cwd, {
      ...kept,
      url: node.urls.http,
      wsUrl: node.urls.ws,
      pid: process.pid,
      ...(fromEnv.length > 0 ? { fromEnv } : {}),
    });
    const token = await mintToken(secret, { sub: DEV_USER }, DEV_TOKEN_TTL_SECONDS, ctx.now());
    if (opts.json) {
      io.out(
        JSON.stringify({
          wsUrl: node.urls.ws,
          url: node.urls.http,
          apiKey,
          token,
          ...(config.console !== 'off' ? { consoleUrl: `${node.urls.http}/console` } : {}),
        }),
      );
    } else {
      const s = io.style;
      io.out(s.bold(`River dev node ready${config.redisUrl ? ' (Redis bus)' : ''}`));
      io.out(`  WebSocket URL  ${node.urls.ws}`);
      io.out(`  HTTP API URL   ${node.urls.http}`);
      if (config.console !== 'off')
        io.out(`  Console        ${node.urls.http}/console${config.console === 'on' ? ' (asks for the API key)' : ''}`);
      io.out(`  API key        ${apiKey}`);
      io.out(`  Test token     ${token}`);
      io.out(s.dim(`                 (sub ${DEV_USER}, valid 24h; mint others with \`npx river token --sub ID\`)`));
      io.out('');
      io.out('Try it, in another terminal:');
      io.out('  npx river listen dogs');
      io.out(`  npx river publish dogs new-post '{"title":"hi"}'`);
      io.out('');
      io.out(`Your app's settings (RIVER_URL, RIVER_WS_URL, RIVER_API_KEY, RIVER_JWT_SECRET): ${s.bold('npx river env >> .env')}`);
    }
    if (env.RIVER_JWT_SECRET || env.RIVER_API_KEY) io.info('using RIVER_JWT_SECRET / RIVER_API_KEY from the environment');
    io.info('Ctrl+C stops the node');
    await aborted(ctx.signal);
    io.info('draining…');
    await node.drain();
    io.info('stopped');
  } catch (err) {
    await node.close().catch(() => undefined);
    throw err;
  } finally {
    const latest = await readDevState(ctx.cwd).catch(() => undefined);
    if (latest && latest.pid === process.pid) {
      const { pid: _pid, ...rest } = latest;
      await writeDevState(ctx.cwd, rest).catch(() => undefined);
    }
  }
}

/** The errno code of an error or of one of its causes (the server wraps listen errors in ConfigError). */
function errnoOf(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
