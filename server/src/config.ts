/**
 * Server configuration from the environment (docs/configuration.md). The only module besides
 * main.ts that looks at environment variables, and it only reads the record it is given.
 */
import { DEFAULTS } from '@river/protocol';
import { ConfigError } from './errors.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  port: number;
  host: string;
  /** Current HS256 secret; absent only when `jwtSecretId` names a Secrets Manager secret. */
  jwtSecret?: string;
  jwtPreviousSecret?: string;
  jwtSecretId?: string;
  /** Accepted API keys (the first is the current one). Never empty. */
  apiKeys: string[];
  redisUrl?: string;
  redisCluster: boolean;
  redisPrefix: string;
  historySize: number;
  historyTtlSeconds: number;
  /** RIVER_MAX_HISTORY_BYTES: node-wide cap on history held by the embedded bus (oldest evicted first). */
  maxHistoryBytes: number;
  /** RIVER_MAX_CHANNELS: node-wide cap on channels held by the embedded bus, besides subscribed ones. */
  maxChannels: number;
  authTimeoutMs: number;
  heartbeatMs: number;
  drainMs: number;
  maxMessageBytes: number;
  maxSubscriptions: number;
  maxBufferedBytes: number;
  maxFramesPerSecond: number;
  /** Origin patterns allowed to open WebSockets (`*` wildcards); `['*']` allows all. */
  allowedOrigins: string[];
  requireChannelClaims: boolean;
  logLevel: LogLevel;
  /** When set, `/metrics` needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /**
   * RIVER_HTTP_KEEP_ALIVE_MS: how long an idle keep-alive HTTP connection stays open (node:http
   * `keepAliveTimeout`, Node's default 5000). Behind a proxy it must exceed the proxy's idle timeout,
   * or the node closes a connection the proxy is about to reuse and the proxy answers 502.
   */
  httpKeepAliveMs: number;
  /**
   * RIVER_HTTP_REQUEST_TIMEOUT_MS: the most a request may take to arrive, headers and body (node:http
   * `requestTimeout` and `headersTimeout`, checked every second); a slower one is answered 408 and closed.
   */
  httpRequestTimeoutMs: number;
  // ---- the process on AWS (read by main.ts; set by ECS or by templates/) ----
  /** ECS_CONTAINER_METADATA_URI_V4, set by ECS in every task: main.ts drains when the task is told to stop (ecs-task-watch.ts). */
  ecsMetadataUri?: string;
  /** RIVER_EMF_METRICS: write the connection count as a CloudWatch EMF line on stdout every minute (emf-metrics.ts). */
  emfMetrics: boolean;
  /** RIVER_SERVICE_NAME: the ServiceName dimension of those metrics (the deployment's name). */
  serviceName: string;
  /**
   * RIVER_CONSOLE (on/off, default off): the debug console at /console and the tap behind the API
   * key. `open` (only `river dev` on a loopback host sets it): no key asked.
   */
  console: 'off' | 'on' | 'open';
}

/** The smallest secret accepted: 32 bytes (256 bits). */
export const MIN_SECRET_BYTES = 32;

type Env = Record<string, string | undefined>;

function text(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const v = text(env, name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new ConfigError(`${name} must be a whole number, got "${v}".`);
  }
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}.`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const v = text(env, name)?.toLowerCase();
  if (v === undefined) return fallback;
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${v}".`);
}

/** How to make a strong secret or key, for the errors. */
export const GENERATE_HINT =
  "generate one with `npx river secret generate`, `openssl rand -base64 32` or `node -e \"console.log(require('node:crypto').randomBytes(32).toString('base64url'))\"`";

/**
 * Why `value` is an obviously weak secret or key, or undefined. Not a strength meter: it refuses
 * what no generator produces (`aaaa…`, 32 spaces, `passwordpassword…`): fewer than 8 distinct
 * characters, or under 80 bits by the string's own character frequencies (32 random hex
 * characters score at least about 90, 32 random base64url ones about 120, over 200,000 draws each).
 */
export function weakness(value: string): string | undefined {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...value].length;
  let bitsPerChar = 0;
  for (const c of counts.values()) bitsPerChar -= (c / n) * Math.log2(c / n);
  if (counts.size < 8 || bitsPerChar * n < 80) return 'it is too predictable (too few distinct characters)';
  return undefined;
}

/** Refuses a weak `value` of `name` (outside `river dev`). */
function requireStrong(name: string, value: string, what: string): void {
  if ([...value].length < MIN_SECRET_BYTES) {
    throw new ConfigError(`${name} is too short for ${what}: use at least ${MIN_SECRET_BYTES} random characters; ${GENERATE_HINT}.`);
  }
  const why = weakness(value);
  if (why !== undefined) throw new ConfigError(`${name} is too weak for ${what}: ${why}; ${GENERATE_HINT}.`);
}

function secret(env: Env, name: string, dev: boolean): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (Buffer.byteLength(v, 'utf8') < MIN_SECRET_BYTES) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_BYTES} bytes long (256 bits); ${GENERATE_HINT}.`);
  }
  if (!dev) requireStrong(name, v, 'a JWT secret');
  return v;
}

/**
 * Parses the River variables of `env`. Throws a `ConfigError` whose message is one sentence naming
 * the variable. River never falls back to a built-in secret. Outside `dev` (`river dev`), API keys
 * and JWT secrets must be strong: at least 32 characters, not obviously predictable (`weakness`).
 * `dev` also changes the hint given for a missing secret or key and turns the console on (open
 * without a key on a loopback host).
 */
export function loadConfig(env: Env, opts: { dev?: boolean } = {}): Config {
  const hint = opts.dev ? ' (river dev normally sets it from .river/dev.json)' : '';
  const jwtSecretId = text(env, 'RIVER_JWT_SECRET_ID');
  const dev = opts.dev === true;
  const jwtSecret = secret(env, 'RIVER_JWT_SECRET', dev);
  if (jwtSecret === undefined && jwtSecretId === undefined) {
    throw new ConfigError(`RIVER_JWT_SECRET is required: set it to a random string of at least ${MIN_SECRET_BYTES} bytes${hint}.`);
  }
  const jwtPreviousSecret = secret(env, 'RIVER_JWT_PREVIOUS_SECRET', dev);
  const apiKeys = (env.RIVER_API_KEY ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (apiKeys.length === 0)
    throw new ConfigError(`RIVER_API_KEY is required: set it to the key your backend sends to the HTTP API${hint}.`);
  // Outside `river dev` a key must be strong: the HTTP API is reachable by anyone who can guess it.
  if (!dev) for (const k of apiKeys) requireStrong('RIVER_API_KEY', k, 'an API key');

  const redisUrl = text(env, 'RIVER_REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('RIVER_REDIS_URL must start with redis:// or rediss://.');
  }
  const redisPrefix = text(env, 'RIVER_REDIS_PREFIX') ?? 'river';
  if (!/^[A-Za-z0-9_\-:.]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('RIVER_REDIS_PREFIX must be 1 to 64 characters of letters, digits, _ - : and .');
  }

  const origins = (text(env, 'RIVER_ALLOWED_ORIGINS') ?? '*')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
  const logLevel = (text(env, 'RIVER_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`RIVER_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}".`);
  }

  const serviceName = text(env, 'RIVER_SERVICE_NAME') ?? 'river';
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(serviceName)) {
    throw new ConfigError('RIVER_SERVICE_NAME must be 1 to 255 characters of letters, digits, _ - and .');
  }

  const httpKeepAliveMs = int(env, 'RIVER_HTTP_KEEP_ALIVE_MS', 5000, 1000, 86_400_000);
  const host = text(env, 'RIVER_HOST') ?? DEFAULTS.host;
  const consoleOn = bool(env, 'RIVER_CONSOLE', opts.dev === true);
  // Under `river dev` on a loopback address the console is open; anywhere else it needs the API key.
  const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host);
  const consoleMode = !consoleOn ? 'off' : opts.dev === true && loopback ? 'open' : 'on';
  const httpRequestTimeoutMs = int(env, 'RIVER_HTTP_REQUEST_TIMEOUT_MS', 10_000, 100, 600_000);

  const config: Config = {
    port: int(env, 'RIVER_PORT', DEFAULTS.port, 0, 65_535),
    host,
    apiKeys,
    redisCluster: bool(env, 'RIVER_REDIS_CLUSTER', false),
    redisPrefix,
    historySize: int(env, 'RIVER_HISTORY_SIZE', DEFAULTS.historySize, 0, 100_000),
    historyTtlSeconds: int(env, 'RIVER_HISTORY_TTL_SECONDS', DEFAULTS.historyTtlSeconds, 1, 30 * 86_400),
    maxHistoryBytes: int(env, 'RIVER_MAX_HISTORY_BYTES', 64 * 1024 * 1024, 1024 * 1024, 64 * 1024 ** 3),
    maxChannels: int(env, 'RIVER_MAX_CHANNELS', 100_000, 100, 100_000_000),
    authTimeoutMs: int(env, 'RIVER_AUTH_TIMEOUT_MS', DEFAULTS.authTimeoutMs, 10, 600_000),
    heartbeatMs: int(env, 'RIVER_HEARTBEAT_MS', DEFAULTS.heartbeatMs, 10, 600_000),
    drainMs: int(env, 'RIVER_DRAIN_MS', DEFAULTS.drainMs, 0, 600_000),
    maxMessageBytes: int(env, 'RIVER_MAX_MESSAGE_BYTES', DEFAULTS.maxMessageBytes, 16, 16 * 1024 * 1024),
    maxSubscriptions: int(env, 'RIVER_MAX_SUBSCRIPTIONS', DEFAULTS.maxSubscriptions, 1, 100_000),
    maxBufferedBytes: int(env, 'RIVER_MAX_BUFFERED_BYTES', DEFAULTS.maxBufferedBytes, 1, 1024 * 1024 * 1024),
    maxFramesPerSecond: int(env, 'RIVER_MAX_FRAMES_PER_SECOND', DEFAULTS.maxFramesPerSecond, 1, 1_000_000),
    allowedOrigins: origins.length === 0 ? ['*'] : origins,
    requireChannelClaims: bool(env, 'RIVER_REQUIRE_CHANNEL_CLAIMS', false),
    logLevel: logLevel as LogLevel,
    httpKeepAliveMs,
    httpRequestTimeoutMs,
    emfMetrics: bool(env, 'RIVER_EMF_METRICS', false),
    serviceName,
    console: consoleMode,
  };
  if (jwtSecret !== undefined) config.jwtSecret = jwtSecret;
  if (jwtPreviousSecret !== undefined) config.jwtPreviousSecret = jwtPreviousSecret;
  if (jwtSecretId !== undefined) config.jwtSecretId = jwtSecretId;
  // RIVER_REDIS_PASSWORD (the cache AUTH token, injected by ECS from Secrets Manager as its own
  // variable) becomes the password of the Redis URL, so every engine connection uses it.
  const redisPassword = env.RIVER_REDIS_PASSWORD;
  if (redisUrl !== undefined) config.redisUrl = redisPassword ? withPassword(redisUrl, redisPassword) : redisUrl;
  const metricsToken = text(env, 'RIVER_METRICS_TOKEN');
  if (metricsToken !== undefined) config.metricsToken = metricsToken;
  const ecsMetadataUri = text(env, 'ECS_CONTAINER_METADATA_URI_V4');
  if (ecsMetadataUri !== undefined) config.ecsMetadataUri = ecsMetadataUri;
  return config;
}

/** `url` with `password` as its (percent-encoded) password, the user name kept. */
function withPassword(url: string, password: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('RIVER_REDIS_URL is not a valid URL.');
  }
  u.password = encodeURIComponent(password);
  return u.toString();
}
