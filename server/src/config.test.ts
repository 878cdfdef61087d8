import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '@river/protocol';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

// Strong values (outside `river dev` weak ones are refused): random-looking, 32+ characters.
const SECRET = 'sQ7vW2xN4pL6tR1yB3mK5hJ7gF9dS0aQ-uE_iO';
const K1 = 'k1-7fQ2xZ9pLm4RtY8wN3bV6cJ0hG5sD1aE';
const [KA, KB, KC] = ['ka-Vb8Nq3Lz6Wx1Ty4Pm7Rs0Hj2Gd5Fk9Ce', 'kb-Qw2Er5Ty8Ui1Op4As7Df0Gh3Jk6Lz9Xc', 'kc-Mn4Bv7Cx0Za3Sd6Fg9Hj2Kl5Qw8Er1Ty'];
const PREVIOUS = 'pR3vI0uS-9sEcReT_8xQ2mW5nB7vC1zL4kJ6hG';
const base = { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: K1 };
const configDoc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

function fails(env: Record<string, string | undefined>, mentions: string): void {
  let err: unknown;
  try {
    loadConfig(env);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).code).toBe('config_invalid');
  expect((err as ConfigError).message).toContain(mentions);
}

describe('loadConfig', () => {
  it('applies the defaults docs/configuration.md states: setting a variable to its documented default changes nothing', () => {
    const c = loadConfig(base);
    // Rows such as | `RIVER_HISTORY_SIZE` | `100` | …; "required", "none" and "set by ECS" are not values.
    const documented = configDoc.split('\n').flatMap((row) => {
      const m = /^\| `(RIVER_\w+)`\s*\| `([^`]+)`/.exec(row);
      return m ? [[m[1]!, m[2]!] as const] : [];
    });
    expect(documented.length).toBeGreaterThanOrEqual(23);
    for (const [name, value] of documented) expect(loadConfig({ ...base, [name]: value }), `${name}=${value}`).toEqual(c);
    expect(c).toMatchObject({
      port: DEFAULTS.port,
      host: DEFAULTS.host,
      apiKeys: [K1],
      historySize: DEFAULTS.historySize,
      logLevel: 'info',
    });
    expect(c.redisUrl).toBeUndefined();
    expect(c.metricsToken).toBeUndefined();
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      RIVER_PORT: '8080',
      RIVER_HOST: '127.0.0.1',
      RIVER_JWT_PREVIOUS_SECRET: PREVIOUS,
      RIVER_API_KEY: `${KA}, ${KB} ,${KC}`,
      RIVER_REDIS_URL: 'rediss://cache:6380',
      RIVER_REDIS_CLUSTER: 'true',
      RIVER_REDIS_PREFIX: 'rv',
      RIVER_HISTORY_SIZE: '10',
      RIVER_HISTORY_TTL_SECONDS: '60',
      RIVER_AUTH_TIMEOUT_MS: '1000',
      RIVER_HEARTBEAT_MS: '2000',
      RIVER_DRAIN_MS: '0',
      RIVER_MAX_MESSAGE_BYTES: '1024',
      RIVER_MAX_SUBSCRIPTIONS: '5',
      RIVER_MAX_BUFFERED_BYTES: '4096',
      RIVER_MAX_FRAMES_PER_SECOND: '7',
      RIVER_ALLOWED_ORIGINS: 'https://a.example, https://*.b.example',
      RIVER_REQUIRE_CHANNEL_CLAIMS: 'yes',
      RIVER_LOG_LEVEL: 'debug',
      RIVER_METRICS_TOKEN: 'm',
    });
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      jwtPreviousSecret: PREVIOUS,
      apiKeys: [KA, KB, KC],
      redisUrl: 'rediss://cache:6380',
      redisCluster: true,
      redisPrefix: 'rv',
      historySize: 10,
      historyTtlSeconds: 60,
      authTimeoutMs: 1000,
      heartbeatMs: 2000,
      drainMs: 0,
      maxMessageBytes: 1024,
      maxSubscriptions: 5,
      maxBufferedBytes: 4096,
      maxFramesPerSecond: 7,
      allowedOrigins: ['https://a.example', 'https://*.b.example'],
      requireChannelClaims: true,
      logLevel: 'debug',
      metricsToken: 'm',
    });
  });

  it('never defaults the secret or the API key', () => {
    fails({ RIVER_API_KEY: K1 }, 'RIVER_JWT_SECRET');
    fails({ RIVER_JWT_SECRET: SECRET }, 'RIVER_API_KEY');
    fails({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: ' , ' }, 'RIVER_API_KEY');
    expect(loadConfig({ RIVER_JWT_SECRET_ID: 'river/jwt', RIVER_API_KEY: K1 }).jwtSecret).toBeUndefined();
  });

  it('refuses short secrets and bad values with a sentence naming the variable', () => {
    fails({ ...base, RIVER_JWT_SECRET: 'short' }, 'RIVER_JWT_SECRET must be at least 32 bytes');
    fails({ ...base, RIVER_JWT_PREVIOUS_SECRET: 'short' }, 'RIVER_JWT_PREVIOUS_SECRET');
  });

  it('refuses weak keys and secrets outside river dev, saying how to generate one (issue 14, item 6)', () => {
    fails({ ...base, RIVER_API_KEY: 'a' }, 'RIVER_API_KEY is too short');
    fails({ ...base, RIVER_API_KEY: 'a' }, 'npx river secret generate');
    fails({ ...base, RIVER_API_KEY: `${K1},short-key` }, 'RIVER_API_KEY is too short');
    fails({ ...base, RIVER_API_KEY: 'k'.repeat(40) }, 'RIVER_API_KEY is too weak');
    fails({ ...base, RIVER_JWT_SECRET: ' '.repeat(32) }, 'RIVER_JWT_SECRET is too weak');
    fails({ ...base, RIVER_JWT_SECRET: 'a'.repeat(32) }, 'openssl rand');
    fails({ ...base, RIVER_JWT_SECRET: 'passwordpasswordpasswordpassword' }, 'RIVER_JWT_SECRET is too weak');
    fails({ ...base, RIVER_JWT_PREVIOUS_SECRET: 'ab'.repeat(20) }, 'RIVER_JWT_PREVIOUS_SECRET is too weak');
    // What generators produce passes: 32 random hex or base64url characters.
    const hex = randomBytes(16).toString('hex');
    const b64 = randomBytes(32).toString('base64url');
    expect(loadConfig({ RIVER_JWT_SECRET: b64, RIVER_API_KEY: hex }).apiKeys).toEqual([hex]);
    // river dev accepts what the developer set.
    expect(loadConfig({ RIVER_JWT_SECRET: 'a'.repeat(32), RIVER_API_KEY: 'a' }, { dev: true }).apiKeys).toEqual(['a']);
    fails({ ...base, RIVER_PORT: 'abc' }, 'RIVER_PORT');
    fails({ ...base, RIVER_PORT: '70000' }, 'RIVER_PORT');
    fails({ ...base, RIVER_HEARTBEAT_MS: '-5' }, 'RIVER_HEARTBEAT_MS');
    fails({ ...base, RIVER_REQUIRE_CHANNEL_CLAIMS: 'maybe' }, 'RIVER_REQUIRE_CHANNEL_CLAIMS');
    fails({ ...base, RIVER_REDIS_URL: 'http://x' }, 'RIVER_REDIS_URL');
    fails({ ...base, RIVER_LOG_LEVEL: 'loud' }, 'RIVER_LOG_LEVEL');
  });

  // The cache AUTH token arrives as its own variable (ECS secrets) and joins the Redis URL.
  it('puts RIVER_REDIS_PASSWORD into the Redis URL', () => {
    const env = { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: K1 };
    expect(loadConfig({ ...env, RIVER_REDIS_URL: 'rediss://cache.example:6379', RIVER_REDIS_PASSWORD: 'Tok3n' }).redisUrl).toBe(
      'rediss://:Tok3n@cache.example:6379',
    );
    expect(loadConfig({ ...env, RIVER_REDIS_URL: 'redis://user:old@h:1', RIVER_REDIS_PASSWORD: 'a/b@c' }).redisUrl).toBe(
      'redis://user:a%2Fb%40c@h:1',
    );
    expect(loadConfig({ ...env, RIVER_REDIS_URL: 'redis://h:1' }).redisUrl).toBe('redis://h:1');
    expect(loadConfig({ ...env, RIVER_REDIS_PASSWORD: 'unused' }).redisUrl).toBeUndefined();
  });

  // ECS sets ECS_CONTAINER_METADATA_URI_V4 in every task; main.ts watches the task with it.
  it('reads the ECS task metadata endpoint', () => {
    expect(loadConfig(base).ecsMetadataUri).toBeUndefined();
    expect(loadConfig({ ...base, ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/abc' }).ecsMetadataUri).toBe(
      'http://169.254.170.2/v4/abc',
    );
  });

  it('reads the EMF metric switch and the service name', () => {
    expect(loadConfig(base)).toMatchObject({ emfMetrics: false, serviceName: 'river' });
    expect(loadConfig({ ...base, RIVER_EMF_METRICS: 'true', RIVER_SERVICE_NAME: 'chat-prod' })).toMatchObject({
      emfMetrics: true,
      serviceName: 'chat-prod',
    });
    fails({ ...base, RIVER_EMF_METRICS: 'sometimes' }, 'RIVER_EMF_METRICS');
    fails({ ...base, RIVER_SERVICE_NAME: 'has space' }, 'RIVER_SERVICE_NAME');
  });

  it('reads the HTTP keep-alive timeout and sets the headers timeout above it', () => {
    expect(loadConfig(base)).toMatchObject({ httpKeepAliveMs: 5000 });
    expect(loadConfig({ ...base, RIVER_HTTP_KEEP_ALIVE_MS: '3605000' })).toMatchObject({ httpKeepAliveMs: 3_605_000 });
    fails({ ...base, RIVER_HTTP_KEEP_ALIVE_MS: '10' }, 'RIVER_HTTP_KEEP_ALIVE_MS must be between 1000');
    fails({ ...base, RIVER_HTTP_KEEP_ALIVE_MS: '5s' }, 'RIVER_HTTP_KEEP_ALIVE_MS must be a whole number');
  });
});
