import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { secretsManagerReader } from './aws/aws-secret-source.js';
import type { Config } from './config.js';
import type { Engines } from './engines/engines.js';
import { createLambdaHandler, KEY_TTL_MS, type HttpApiEvent } from './lambda.js';
import { MemoryBus } from './engines/memory/memory-bus.js';
import { MemoryPresence } from './engines/memory/memory-presence.js';

const KEY_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-api-key-AbCdEf';
const PW_ID = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:river-cache-AbCdEf';

function event(method: string, path: string, opts: { body?: string; key?: string; query?: string; base64?: boolean } = {}): HttpApiEvent {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  const body = opts.body === undefined ? undefined : opts.base64 ? Buffer.from(opts.body).toString('base64') : opts.body;
  return {
    rawPath: path,
    rawQueryString: opts.query ?? '',
    headers,
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: opts.base64 === true,
    requestContext: { http: { method } },
  };
}

describe('publish Lambda (memory engines)', () => {
  const sm = mockClient(SecretsManagerClient);
  const reader = secretsManagerReader(new SecretsManagerClient({ region: 'us-east-1' }));
  const opened: Engines[] = [];
  const configs: Config[] = [];
  let clock = 1_000_000;

  async function memoryEngines(config: Config): Promise<Engines> {
    configs.push(config);
    const bus = new MemoryBus({
      historySize: config.historySize,
      historyTtlSeconds: config.historyTtlSeconds,
      idempotencyWindowMs: 300_000,
    });
    const presence = new MemoryPresence({ ttlMs: 50_000 });
    await bus.start({ message() {}, control: () => 0 });
    await presence.start({ expired() {} });
    opened.push({ bus, presence });
    return { bus, presence };
  }

  function stages(key: string, password = 'tok3n'): void {
    sm.on(GetSecretValueCommand, { SecretId: KEY_ID, VersionStage: 'AWSCURRENT' }).resolves({ SecretString: key });
    sm.on(GetSecretValueCommand, { SecretId: PW_ID, VersionStage: 'AWSCURRENT' }).resolves({ SecretString: password });
  }

  const env = {
    RIVER_API_KEY_SECRET_ID: KEY_ID,
    RIVER_REDIS_PASSWORD_SECRET_ID: PW_ID,
    RIVER_HISTORY_SIZE: '10',
  };

  beforeEach(() => {
    sm.reset();
    configs.length = 0;
    clock = 1_000_000;
  });
  afterEach(async () => {
    for (const e of opened.splice(0)) await Promise.all([e.bus.close(), e.presence.close()]);
  });

  it('publishes with the API key from Secrets Manager and answers like a node', async () => {
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD');
    const handler = createLambdaHandler({ env, reader, engines: memoryEngines, now: () => clock });
    const ok = await handler(
      event('POST', '/v1/publish', {
        key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD',
        body: JSON.stringify({ channel: 'dogs', event: 'new', data: { n: 1 } }),
      }),
    );
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ channel: 'dogs', offset: 1 });
    const second = await handler(
      event('POST', '/v1/publish', {
        key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD',
        base64: true,
        body: JSON.stringify({ channel: 'dogs', event: 'new', data: 2 }),
      }),
    );
    expect(JSON.parse(second.body)).toEqual({ channel: 'dogs', offset: 2 });
    const history = await handler(event('GET', '/v1/channels/dogs/history', { key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD', query: 'since=1' }));
    expect(history.statusCode).toBe(200);
    expect(JSON.parse(history.body)).toMatchObject({
      channel: 'dogs',
      offset: 2,
      messages: [{ channel: 'dogs', event: 'new', data: 2, offset: 2 }],
    });
    expect(opened).toHaveLength(1); // engines are created once per container
    expect(configs[0]!.historySize).toBe(10);
  });

  it('refuses a wrong or missing key with 401, and serves /healthz without one', async () => {
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD');
    const handler = createLambdaHandler({ env, reader, engines: memoryEngines, now: () => clock });
    const wrong = await handler(event('POST', '/v1/publish', { key: 'nope', body: '{"channel":"a","event":"e","data":1}' }));
    expect(wrong.statusCode).toBe(401);
    expect(JSON.parse(wrong.body).error.code).toBe('unauthorized');
    expect((await handler(event('POST', '/v1/publish', { body: '{}' }))).statusCode).toBe(401);
    expect((await handler(event('GET', '/healthz'))).statusCode).toBe(200);
  });

  it('answers 413 to a body over maxMessageBytes + 4 KiB', async () => {
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD');
    const handler = createLambdaHandler({ env: { ...env, RIVER_MAX_MESSAGE_BYTES: '1024' }, reader, engines: memoryEngines });
    const big = JSON.stringify({ channel: 'a', event: 'e', data: 'x'.repeat(6000) });
    const res = await handler(event('POST', '/v1/publish', { key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD', body: big }));
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(res.body).error.code).toBe('too_large');
  });

  it('puts the cache AUTH token from Secrets Manager into the Redis URL it gives the engines', async () => {
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD', 'Secr3tTok3n');
    const handler = createLambdaHandler({
      env: { ...env, RIVER_REDIS_URL: 'rediss://cache.example:6379', RIVER_REDIS_CLUSTER: 'true' },
      reader,
      engines: memoryEngines,
    });
    await handler(event('GET', '/healthz'));
    expect(configs[0]!.redisUrl).toBe('rediss://:Secr3tTok3n@cache.example:6379');
    expect(configs[0]!.redisCluster).toBe(true);
  });

  it('re-reads the API key after 5 minutes', async () => {
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD');
    const handler = createLambdaHandler({ env, reader, engines: memoryEngines, now: () => clock });
    const publish = (key: string) => handler(event('POST', '/v1/publish', { key, body: '{"channel":"a","event":"e","data":1}' }));
    expect((await publish('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD')).statusCode).toBe(200);
    sm.reset();
    stages('key-2-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3sA');
    expect((await publish('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD')).statusCode).toBe(200); // still within the TTL
    clock += KEY_TTL_MS;
    expect((await publish('key-2-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3sA')).statusCode).toBe(200);
    expect((await publish('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD')).statusCode).toBe(401);
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(new Error('throttled'));
    clock += KEY_TTL_MS;
    expect((await publish('key-2-Zp4Wm8Qr2Tn6Yv1Bx5Kc9Hd3sA')).statusCode).toBe(200); // a failed re-read keeps the key it had
  });

  it('answers 503 when it cannot start, and retries on the next invocation', async () => {
    sm.on(GetSecretValueCommand).rejects(new Error('AccessDenied'));
    const errors: string[] = [];
    const handler = createLambdaHandler({
      env,
      reader,
      engines: memoryEngines,
      logError: (msg, err) => void errors.push(`${msg}: ${err}`),
    });
    const res = await handler(
      event('POST', '/v1/publish', { key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD', body: '{"channel":"a","event":"e","data":1}' }),
    );
    expect(res.statusCode).toBe(503);
    expect(errors).toEqual(['publish Lambda cannot start: AccessDenied']);
    expect(JSON.parse(res.body).error.code).toBe('unavailable');
    sm.reset();
    stages('key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD');
    const again = await handler(
      event('POST', '/v1/publish', { key: 'key-1-Xq7vN2pL9tR4yB6mK8hJ3gF5wD', body: '{"channel":"a","event":"e","data":1}' }),
    );
    expect(again.statusCode).toBe(200);
  });
});
