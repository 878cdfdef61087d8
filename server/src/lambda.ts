/**
 * The publish Lambda: API Gateway HTTP API (payload format 2.0) → the node's own HTTP API
 * (`createApi` from http-api.ts) over the Redis engines, so `POST /v1/publish` and friends behave
 * exactly as on a node. Bundled by esbuild into templates/dist/lambda/index.mjs (`handler`).
 *
 * Like main.ts this is a process entry, so it reads the environment (once, at cold start):
 * - RIVER_API_KEY_SECRET_ID: Secrets Manager secret holding the API key (or RIVER_API_KEY, a
 *   comma-separated list, for local use); re-read after KEY_TTL_MS so a changed key takes effect.
 * - RIVER_REDIS_URL, RIVER_REDIS_CLUSTER, RIVER_REDIS_PASSWORD_SECRET_ID (the AUTH token's secret)
 *   or RIVER_REDIS_PASSWORD, and the other RIVER_* variables of docs/configuration.md.
 * The engines are created once per container and reused by every invocation. They start
 * publish-only: this process never joins the control channel (a frozen Lambda could not answer,
 * and every `POST /v1/disconnect` would wait for its timeout).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsManagerReader, regionOf, type SecretReader } from './aws/aws-secret-source.js';
import { loadConfig, type Config } from './config.js';
import { createEngines, type Engines } from './engines/engines.js';
import { createApi, maxBodyBytes, type Api, type ApiResponse } from './http/http-api.js';

/** The parts of an API Gateway HTTP API (payload 2.0) event that River reads. */
export interface HttpApiEvent {
  rawPath: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string } };
}

export interface HttpApiResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

export type Handler = (event: HttpApiEvent) => Promise<HttpApiResult>;

export interface LambdaDeps {
  env: Record<string, string | undefined>;
  /** Secrets Manager reads (default: the AWS SDK client, region from the secret ARN). */
  reader?: SecretReader;
  /** Engines ready to use (default: `createEngines` of the configuration, started publish-only). */
  engines?: (config: Config) => Promise<Engines>;
  now?: () => number;
  /** Where start-up failures are reported (default: one JSON line on stderr, which Lambda ships to its log group). */
  logError?: (msg: string, err: string) => void;
}

/** How long API keys read from Secrets Manager are trusted before the next invocation re-reads them. */
export const KEY_TTL_MS = 5 * 60_000;

function defaultLogError(msg: string, err: string): void {
  process.stderr.write(`${JSON.stringify({ level: 'error', msg, err })}\n`);
}

function result(res: ApiResponse): HttpApiResult {
  return { statusCode: res.status, headers: res.headers, body: res.body, isBase64Encoded: false };
}

function failure(status: number, code: string, message: string): HttpApiResult {
  return result({
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify({ error: { code, message } }),
  });
}

async function startPublishOnly(config: Config): Promise<Engines> {
  const engines = await createEngines(config);
  await engines.bus.startPublishOnly();
  await engines.presence.start({ expired() {} });
  return engines;
}

async function readRequired(reader: SecretReader, secretId: string, what: string): Promise<string> {
  const v = (await reader.read(secretId, 'AWSCURRENT'))?.value;
  if (v === undefined || v === '') throw new Error(`the ${what} secret ${secretId} has no value`);
  return v;
}

interface Runtime {
  config: Config;
  engines: Engines;
  api: Api;
  keysReadAt: number;
}

export function createLambdaHandler(deps: LambdaDeps): Handler {
  const { env } = deps;
  const now = deps.now ?? Date.now;
  const keySecretId = env.RIVER_API_KEY_SECRET_ID;
  const passwordSecretId = env.RIVER_REDIS_PASSWORD_SECRET_ID;
  let reader = deps.reader;
  const secrets = (): SecretReader =>
    (reader ??= secretsManagerReader(new SecretsManagerClient(regionOf(keySecretId ?? passwordSecretId ?? '') ?? {})));
  const readKeys = async (): Promise<string> =>
    keySecretId === undefined ? (env.RIVER_API_KEY ?? '') : readRequired(secrets(), keySecretId, 'API key');

  let runtime: Promise<Runtime> | undefined;

  async function start(): Promise<Runtime> {
    const password =
      passwordSecretId === undefined ? env.RIVER_REDIS_PASSWORD : await readRequired(secrets(), passwordSecretId, 'cache AUTH token');
    const config = loadConfig({
      ...env,
      RIVER_API_KEY: await readKeys(),
      RIVER_REDIS_PASSWORD: password, // config.ts puts it into the Redis URL, as on the node
      // The Lambda verifies no client token; loadConfig insists on a secret source being named.
      RIVER_JWT_SECRET_ID: env.RIVER_JWT_SECRET_ID ?? 'unused-by-the-publish-lambda',
      RIVER_JWT_SECRET: undefined,
    });
    const engines = await (deps.engines ?? startPublishOnly)(config);
    return { config, engines, api: createApi({ bus: engines.bus, presence: engines.presence, config }), keysReadAt: now() };
  }

  /** Re-reads the API key when stale; on failure keeps the keys it has. */
  async function freshKeys(rt: Runtime): Promise<void> {
    if (keySecretId === undefined || now() - rt.keysReadAt < KEY_TTL_MS) return;
    try {
      const apiKeys = (await readKeys())
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== '');
      if (apiKeys.length > 0) {
        rt.config = { ...rt.config, apiKeys };
        rt.api = createApi({ bus: rt.engines.bus, presence: rt.engines.presence, config: rt.config });
      }
    } catch {
      // Keep serving with the keys read before; the next invocation tries again.
    }
    rt.keysReadAt = now();
  }

  return async (event) => {
    let rt: Runtime;
    try {
      runtime ??= start();
      rt = await runtime;
    } catch (err) {
      runtime = undefined; // the next invocation retries the cold start
      const message = err instanceof Error ? err.message : String(err);
      (deps.logError ?? defaultLogError)('publish Lambda cannot start', message);
      return failure(503, 'unavailable', 'River is starting or its bus is unreachable; nothing was published, retry');
    }
    await freshKeys(rt);
    const raw = event.body ?? '';
    const body = event.isBase64Encoded === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
    if (Buffer.byteLength(body, 'utf8') > maxBodyBytes(rt.config)) {
      return failure(413, 'too_large', `the body is larger than ${maxBodyBytes(rt.config)} bytes`);
    }
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(event.headers ?? {})) headers[k.toLowerCase()] = v;
    const res = await rt.api.handle({
      method: event.requestContext.http.method,
      path: event.rawPath,
      query: new URLSearchParams(event.rawQueryString ?? ''),
      headers,
      body,
    });
    return result(res);
  };
}

export const handler: Handler = createLambdaHandler({ env: process.env });
