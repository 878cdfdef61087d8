import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '@river/protocol';
import { loadConfig } from './config.js';
import { ConfigError } from './errors.js';

const SECRET = 's'.repeat(32);
const base = { RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: 'k1' };

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
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      port: DEFAULTS.port,
      host: DEFAULTS.host,
      apiKeys: ['k1'],
      historySize: 100,
      historyTtlSeconds: 300,
      authTimeoutMs: 15_000,
      heartbeatMs: 25_000,
      drainMs: 10_000,
      maxMessageBytes: 65_536,
      maxSubscriptions: 100,
      maxBufferedBytes: 1_048_576,
      maxFramesPerSecond: 50,
      allowedOrigins: ['*'],
      requireChannelClaims: false,
      logLevel: 'info',
      redisCluster: false,
      redisPrefix: 'river',
    });
    expect(c.redisUrl).toBeUndefined();
    expect(c.metricsToken).toBeUndefined();
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      RIVER_PORT: '8080',
      RIVER_HOST: '127.0.0.1',
      RIVER_JWT_PREVIOUS_SECRET: 'p'.repeat(40),
      RIVER_API_KEY: 'a, b ,c',
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
      jwtPreviousSecret: 'p'.repeat(40),
      apiKeys: ['a', 'b', 'c'],
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
    fails({ RIVER_API_KEY: 'k' }, 'RIVER_JWT_SECRET');
    fails({ RIVER_JWT_SECRET: SECRET }, 'RIVER_API_KEY');
    fails({ RIVER_JWT_SECRET: SECRET, RIVER_API_KEY: ' , ' }, 'RIVER_API_KEY');
    expect(loadConfig({ RIVER_JWT_SECRET_ID: 'river/jwt', RIVER_API_KEY: 'k' }).jwtSecret).toBeUndefined();
  });

  it('refuses short secrets and bad values with a sentence naming the variable', () => {
    fails({ ...base, RIVER_JWT_SECRET: 'short' }, 'RIVER_JWT_SECRET must be at least 32 bytes');
    fails({ ...base, RIVER_JWT_PREVIOUS_SECRET: 'short' }, 'RIVER_JWT_PREVIOUS_SECRET');
    fails({ ...base, RIVER_PORT: 'abc' }, 'RIVER_PORT');
    fails({ ...base, RIVER_PORT: '70000' }, 'RIVER_PORT');
    fails({ ...base, RIVER_HEARTBEAT_MS: '-5' }, 'RIVER_HEARTBEAT_MS');
    fails({ ...base, RIVER_REQUIRE_CHANNEL_CLAIMS: 'maybe' }, 'RIVER_REQUIRE_CHANNEL_CLAIMS');
    fails({ ...base, RIVER_REDIS_URL: 'http://x' }, 'RIVER_REDIS_URL');
    fails({ ...base, RIVER_LOG_LEVEL: 'loud' }, 'RIVER_LOG_LEVEL');
  });

  // The cache AUTH token arrives as its own variable (ECS secrets) and joins the Redis URL.
  it('puts RIVER_REDIS_PASSWORD into the Redis URL', () => {
    const env = { RIVER_JWT_SECRET: 's'.repeat(32), RIVER_API_KEY: 'k' };
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
