/**
 * Which River node `publish`, `listen` and `token` talk to, and with which key and secret
 * (docs/cli.md#where-publish-listen-and-token-find-the-node-key-and-secret): `--url`, else RIVER_URL, else the `river dev` node in .river/dev.json,
 * else the deployment in .river/outputs.json. The key and secret come from the flag or the
 * environment first, else from the same place as the URL.
 */
import { DEFAULTS } from '@river/protocol';
import type { Context } from './context.js';
import { UserError } from './errors.js';
import { readDeployedState, readDevState, type DeployedState, type DevEnvVar, type DevState } from './state.js';

export type TargetSource = 'flag' | 'env' | 'dev' | 'deployed';

export interface Target {
  source: TargetSource;
  /** HTTP API base URL, no trailing slash. */
  httpUrl: string;
  /** WebSocket endpoint (…/v1/ws). */
  wsUrl: string;
}

const NO_TARGET_HINT = 'start one with `npx river dev`, or pass --url (or set RIVER_URL)';

/** http(s)://host[:port][/base] or ws(s)://…/v1/ws → both URLs. */
export function urlsFrom(text: string, flag: string): { httpUrl: string; wsUrl: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UserError(`${flag} "${text}" is not a URL`, 'e.g. --url http://127.0.0.1:4400', { code: 'bad_flag' });
  }
  const isWs = url.protocol === 'ws:' || url.protocol === 'wss:';
  if (!isWs && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UserError(`${flag} "${text}" must be an http(s):// or ws(s):// URL`, 'e.g. --url http://127.0.0.1:4400', { code: 'bad_flag' });
  }
  let base = url.pathname.replace(/\/+$/, '');
  if (base.endsWith(DEFAULTS.wsPath)) base = base.slice(0, -DEFAULTS.wsPath.length);
  const secure = url.protocol === 'https:' || url.protocol === 'wss:';
  const host = url.host;
  return {
    httpUrl: `${secure ? 'https' : 'http'}://${host}${base}`,
    wsUrl: `${secure ? 'wss' : 'ws'}://${host}${base}${DEFAULTS.wsPath}`,
  };
}

export interface Located {
  target: Target;
  dev?: DevState;
  deployed?: DeployedState;
}

export async function locate(ctx: Context, flagUrl: string | undefined): Promise<Located> {
  const dev = await readDevState(ctx.cwd);
  const deployed = await readDeployedState(ctx.cwd);
  const envUrl = ctx.env.RIVER_URL?.trim() || undefined;
  const extra = { ...(dev ? { dev } : {}), ...(deployed ? { deployed } : {}) };
  if (flagUrl !== undefined) return { target: { source: 'flag', ...urlsFrom(flagUrl, '--url') }, ...extra };
  if (envUrl !== undefined) return { target: { source: 'env', ...urlsFrom(envUrl, 'RIVER_URL') }, ...extra };
  if (dev?.url !== undefined) return { target: { source: 'dev', ...urlsFrom(dev.url, '.river/dev.json url') }, ...extra };
  if (deployed !== undefined) {
    const http = deployed.outputs.HttpApiUrl;
    const ws = deployed.outputs.WebSocketUrl;
    if (http === undefined || ws === undefined) {
      throw new UserError('.river/outputs.json has no HttpApiUrl/WebSocketUrl', 'run `npx river deploy` again to refresh it', { code: 'state_invalid' });
    }
    return {
      target: { source: 'deployed', httpUrl: urlsFrom(http, 'HttpApiUrl').httpUrl, wsUrl: urlsFrom(ws, 'WebSocketUrl').wsUrl },
      ...extra,
    };
  }
  throw new UserError('no River node to talk to', NO_TARGET_HINT, { code: 'no_target' });
}

async function deployedSecret(ctx: Context, deployed: DeployedState, key: 'JwtSecretArn' | 'ApiKeySecretArn'): Promise<string> {
  const arn = deployed.outputs[key];
  if (arn === undefined) {
    throw new UserError(`.river/outputs.json has no ${key}`, 'run `npx river deploy` again to refresh it', { code: 'state_invalid' });
  }
  const cloud = await ctx.cloud(deployed.region);
  return cloud.getSecret(arn);
}

/** The HTTP API key: --key, RIVER_API_KEY, else the dev node's or the deployment's. */
export async function apiKeyFor(ctx: Context, located: Located, flagKey: string | undefined): Promise<string> {
  if (flagKey !== undefined && flagKey !== '') return flagKey;
  const envKey = ctx.env.RIVER_API_KEY?.split(',')[0]?.trim();
  if (envKey) return envKey;
  const { target, dev, deployed } = located;
  if (target.source !== 'deployed' && dev) return fromDevFile(dev, 'RIVER_API_KEY', dev.apiKey);
  if (target.source === 'deployed' && deployed) return (await deployedSecret(ctx, deployed, 'ApiKeySecretArn')).split(',')[0]!.trim();
  throw new UserError('no API key for this node', 'pass --key or set RIVER_API_KEY', { code: 'no_key' });
}

/** The JWT secret: RIVER_JWT_SECRET, else the dev node's or the deployment's. */
export async function secretFor(ctx: Context, located: Located): Promise<string> {
  const envSecret = ctx.env.RIVER_JWT_SECRET;
  if (envSecret) return envSecret;
  const { target, dev, deployed } = located;
  if (target.source !== 'deployed' && dev) return fromDevFile(dev, 'RIVER_JWT_SECRET', dev.secret);
  if (target.source === 'deployed' && deployed) return deployedSecret(ctx, deployed, 'JwtSecretArn');
  throw new UserError('no JWT secret to sign a token for this node', 'set RIVER_JWT_SECRET to the node\'s secret', { code: 'no_secret' });
}

/** The dev file's secret or key, unless the dev node took that one from its own environment. */
export function fromDevFile(dev: DevState, variable: DevEnvVar, value: string): string {
  if (dev.fromEnv?.includes(variable)) {
    throw new UserError(
      `the river dev node${dev.url ? ` at ${dev.url}` : ''} uses ${variable} from its own environment, not .river/dev.json`,
      `set ${variable} in this shell too${variable === 'RIVER_API_KEY' ? ' (or pass --key)' : ''}`,
      { code: variable === 'RIVER_API_KEY' ? 'no_key' : 'no_secret' },
    );
  }
  return value;
}

/** A fetch/WebSocket failure that means nothing listens at the target → UserError with the right hint. */
export function unreachable(target: Target, err: unknown): UserError | undefined {
  const code = errnoCode(err);
  if (code === undefined || !['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(code)) {
    return undefined;
  }
  const hint =
    target.source === 'deployed'
      ? 'check the deployment with `npx river status`'
      : target.source === 'dev'
        ? 'start one with `npx river dev`'
        : 'check the URL, or start a node with `npx river dev`';
  return new UserError(`no River node at ${target.httpUrl} (${code})`, hint, { code: 'unreachable', cause: err });
}

function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0) return errnoCode(errors[0]);
  }
  return undefined;
}
