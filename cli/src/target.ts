/**
 * Which River node `publish`, `listen` and `token` talk to, and with which key and secret
 * (docs/cli.md#where-publish-listen-and-token-find-the-node-key-and-secret): `--url`, else `--deployed`, else RIVER_URL, else the running `river dev`
 * node recorded in .river/dev.json, else the deployment (.river/outputs.json, or the stack's outputs
 * read from CloudFormation when that file is absent, as on a fresh clone). The key and secret come
 * from the flag or the environment first, else from the same place as the URL. `.river/` and
 * river.config.json are looked up from the current folder upwards (state.ts).
 */
import { join, relative } from 'node:path';
import { DEFAULTS } from '@river/protocol';
import type { Context } from './context.js';
import { UserError } from './errors.js';
import { findDeployment } from './project.js';
import {
  devNodeRunning,
  findConfigFile,
  readDeployedState,
  readDevState,
  stateDir,
  type DeployedState,
  type DevEnvVar,
  type DevState,
} from './state.js';

export type TargetSource = 'flag' | 'env' | 'dev' | 'deployed';

export interface Target {
  source: TargetSource;
  /** HTTP API base URL, no trailing slash. */
  httpUrl: string;
  /** WebSocket endpoint (…/v1/ws). */
  wsUrl: string;
  /** Where the URL came from, for the "using …" line and hints: "--url", "the river dev node (pid 7)". */
  origin: string;
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
    throw new UserError(`${flag} "${text}" must be an http(s):// or ws(s):// URL`, 'e.g. --url http://127.0.0.1:4400', {
      code: 'bad_flag',
    });
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
  /** `--deployed` was given: the deployment's key and secret, not RIVER_API_KEY / RIVER_JWT_SECRET. */
  deployedFlag?: true;
}

export interface LocateOptions {
  /** The deployment, whatever dev.json and RIVER_URL say (`--deployed`). */
  deployed?: boolean;
}

export async function locate(ctx: Context, flagUrl: string | undefined, opts: LocateOptions = {}): Promise<Located> {
  const dev = await readDevState(ctx.cwd);
  const saved = await readDeployedState(ctx.cwd);
  const envUrl = ctx.env.RIVER_URL?.trim() || undefined;
  const extra = { ...(dev ? { dev } : {}), ...(saved ? { deployed: saved } : {}) };
  if (flagUrl !== undefined) return { target: { source: 'flag', origin: '--url', ...urlsFrom(flagUrl, '--url') }, ...extra };
  if (opts.deployed) return { ...(await locateDeployment(ctx, saved, dev)), deployedFlag: true };
  if (envUrl !== undefined) return { target: { source: 'env', origin: 'RIVER_URL', ...urlsFrom(envUrl, 'RIVER_URL') }, ...extra };
  if (dev?.url !== undefined) {
    if (!devNodeRunning(dev)) throw staleDevNode(ctx, dev, dev.url, saved !== undefined || findConfigFile(ctx.cwd) !== undefined);
    const origin = `the river dev node${dev.pid === undefined ? '' : ` (pid ${dev.pid})`}`;
    return { target: { source: 'dev', origin, ...urlsFrom(dev.url, '.river/dev.json url') }, ...extra };
  }
  if (saved !== undefined || findConfigFile(ctx.cwd) !== undefined) return locateDeployment(ctx, saved, dev);
  throw new UserError('no River node to talk to', NO_TARGET_HINT, { code: 'no_target' });
}

/**
 * dev.json names a node that is gone (it stopped, or its process died): never send to that port,
 * where nothing, or some other node with other keys, may listen now.
 */
function staleDevNode(ctx: Context, dev: DevState, url: string, hasDeployment: boolean): UserError {
  const file = relativeStateFile(ctx, 'dev.json');
  const why = dev.pid === undefined ? 'it was stopped' : `its process ${dev.pid} has exited`;
  return new UserError(
    `the river dev node recorded in ${file} (${url}) is not running: ${why}`,
    `start it with \`npx river dev\`, or pass --url (or set RIVER_URL) to use another node${hasDeployment ? ', or --deployed for the deployment' : ''}`,
    { code: 'dev_node_stopped' },
  );
}

/** A file under the project's .river/, as the user would name it from where they stand. */
export function relativeStateFile(ctx: Pick<Context, 'cwd'>, name: string): string {
  return relative(ctx.cwd, join(stateDir(ctx.cwd), name));
}

/** The deployment: .river/outputs.json, else (a fresh clone, a CI job) the stack's outputs from CloudFormation. */
async function locateDeployment(ctx: Context, saved: DeployedState | undefined, dev: DevState | undefined): Promise<Located> {
  let deployed: DeployedState;
  let from: string;
  if (saved !== undefined) {
    deployed = saved;
    from = relativeStateFile(ctx, 'outputs.json');
  } else {
    const d = await findDeployment(ctx);
    deployed = { stackName: d.stackName, region: d.region, outputs: d.outputs };
    from = `the outputs of the stack ${d.stackName} in ${d.region}`;
  }
  const http = deployed.outputs.HttpApiUrl;
  const ws = deployed.outputs.WebSocketUrl;
  if (http === undefined || ws === undefined) {
    throw new UserError(`${from} has no HttpApiUrl/WebSocketUrl`, 'run `npx river deploy` again to refresh it', { code: 'state_invalid' });
  }
  return {
    target: {
      source: 'deployed',
      origin: `the deployment ${deployed.stackName} in ${deployed.region}`,
      httpUrl: urlsFrom(http, 'HttpApiUrl').httpUrl,
      wsUrl: urlsFrom(ws, 'WebSocketUrl').wsUrl,
    },
    deployed,
    ...(dev ? { dev } : {}),
  };
}

/**
 * A secret of the deployment. When .river/outputs.json names a secret that is gone (the stack was
 * destroyed, or deployed again under another name), the stack's current outputs are read from
 * CloudFormation instead, with a warning; with no stack either, a UserError says the file is stale.
 */
/** The deployment's JWT signing secret (`river token --deployed`): no URL needed, only the secret's ARN. */
export async function deployedJwtSecret(ctx: Context): Promise<string> {
  const saved = await readDeployedState(ctx.cwd);
  return deployedSecret(ctx, saved ?? (await findDeploymentFromStack(ctx, false)), 'JwtSecretArn');
}

async function deployedSecret(ctx: Context, deployed: DeployedState, key: 'JwtSecretArn' | 'ApiKeySecretArn'): Promise<string> {
  const arn = deployed.outputs[key];
  const file = relativeStateFile(ctx, 'outputs.json');
  if (arn === undefined) {
    throw new UserError(
      `the deployment ${deployed.stackName} has no ${key} output`,
      `run \`npx river deploy\` again, or delete ${file} to read the stack's outputs`,
      { code: 'state_invalid' },
    );
  }
  const cloud = await ctx.cloud(deployed.region);
  try {
    return await cloud.getSecret(arn);
  } catch (err) {
    const saved = await readDeployedState(ctx.cwd).catch(() => undefined);
    const fromFile = saved !== undefined && saved.outputs[key] === arn;
    if (!fromFile || !isMissingSecret(err)) throw err;
    const fresh = findConfigFile(ctx.cwd) === undefined ? undefined : await findDeploymentFromStack(ctx).catch(() => undefined);
    const freshArn = fresh?.outputs[key];
    if (fresh === undefined || freshArn === undefined || freshArn === arn) {
      throw new UserError(
        `${file} is stale: the secret it names (${arn}) is gone`,
        `run \`npx river deploy\`, or delete ${file} if the deployment was destroyed`,
        { code: 'state_stale', cause: err },
      );
    }
    ctx.io.warn(
      `${file} is stale (its ${key} is gone); using the outputs of the stack ${fresh.stackName} in ${fresh.region}. \`npx river deploy\` refreshes the file`,
    );
    return (await ctx.cloud(fresh.region)).getSecret(freshArn);
  }
}

/** Secrets Manager has no such secret, or it is scheduled for deletion (the stack was destroyed). */
function isMissingSecret(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const name = (err as { name?: unknown }).name;
  const message = err instanceof Error ? err.message : '';
  return (
    code === 'secret_missing' || name === 'ResourceNotFoundException' || (name === 'InvalidRequestException' && /deletion/i.test(message))
  );
}

/** The deployment as river.config.json and CloudFormation describe it, ignoring .river/outputs.json. */
async function findDeploymentFromStack(ctx: Context, ignoreSavedOutputs = true): Promise<DeployedState> {
  const d = await findDeployment(ctx, { ignoreSavedOutputs });
  return { stackName: d.stackName, region: d.region, outputs: d.outputs };
}

/** The HTTP API key: --key, RIVER_API_KEY, else the dev node's or the deployment's. */
export async function apiKeyFor(ctx: Context, located: Located, flagKey: string | undefined): Promise<string> {
  return (await findApiKey(ctx, located, flagKey)).key;
}

/** The API key and where it came from (`--key`, `RIVER_API_KEY`, `.river/dev.json`, `the deployment`), for messages. */
export async function findApiKey(ctx: Context, located: Located, flagKey: string | undefined): Promise<{ key: string; from: string }> {
  if (flagKey !== undefined) {
    // `--key "$UNSET"`: a missing key, not a reason to fall back on another one.
    if (flagKey.trim() === '')
      throw new UserError('--key is empty', "pass the node's API key, or leave --key out to use RIVER_API_KEY or the dev node's key", {
        code: 'no_key',
      });
    return { key: flagKey, from: '--key' };
  }
  const envKey = ctx.env.RIVER_API_KEY?.split(',')[0]?.trim();
  if (envKey && !located.deployedFlag) return { key: envKey, from: 'RIVER_API_KEY' };
  const { target, dev, deployed } = located;
  if (target.source !== 'deployed' && dev) return { key: fromDevFile(dev, 'RIVER_API_KEY', dev.apiKey), from: '.river/dev.json' };
  if (target.source === 'deployed' && deployed)
    return { key: (await deployedSecret(ctx, deployed, 'ApiKeySecretArn')).split(',')[0]!.trim(), from: 'the deployment' };
  throw new UserError('no API key for this node', 'pass --key or set RIVER_API_KEY', { code: 'no_key' });
}

/** The JWT secret: RIVER_JWT_SECRET, else the dev node's or the deployment's. */
export async function secretFor(ctx: Context, located: Located): Promise<string> {
  const envSecret = ctx.env.RIVER_JWT_SECRET;
  if (envSecret && !located.deployedFlag) return envSecret;
  const { target, dev, deployed } = located;
  if (target.source !== 'deployed' && dev) return fromDevFile(dev, 'RIVER_JWT_SECRET', dev.secret);
  if (target.source === 'deployed' && deployed) return deployedSecret(ctx, deployed, 'JwtSecretArn');
  throw new UserError('no JWT secret to sign a token for this node', "set RIVER_JWT_SECRET to the node's secret", { code: 'no_secret' });
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
